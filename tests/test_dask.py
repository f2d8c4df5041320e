"""Dask data: fit's one-pass statistics on a LocalCluster, and fit_stream over partitions.

The cluster listens on 127.0.0.1 only, its two worker processes are ended by pid when the
module's tests are done, and every test's data is small (the whole module runs in seconds).
"""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dl_workshop import fit, linear_model, mseloss  # noqa: E402
from dl_workshop.losses import mse  # noqa: E402
from dl_workshop.objectives.dask_stats import (  # noqa: E402
    combine_moments,
    dask_statistics,
    moments_of,
)
from dl_workshop.objectives.statistics import LinearMSEStats, statistics_of  # noqa: E402
from dl_workshop.streaming import fit_stream  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster on loopback; its workers are killed by pid if close leaves any."""
    # Workers unpickle the counting function below by value (they cannot import this file).
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, env={"JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1"},
    )
    pids = []
    try:
        with distributed.Client(cluster) as c:
            pids = list(c.run(os.getpid).values())
            assert len(pids) == 2
            yield c
    finally:
        cluster.close(timeout=20)
        for pid in pids:
            _kill_if_worker(pid)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _kill_if_worker(pid):
    """SIGKILL ``pid`` if it is still one of the cluster's worker processes (close should have
    ended it; a pid reused since then by another process is left alone)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return  # gone, as it should be (or not Linux: nothing to check the pid against)
    if b"multiprocessing" in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _data(n=20_000, d=5, k=1, seed=0, offset=3.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + offset * np.arange(d)
    w = rng.normal(size=(d, k))
    y = x @ w + 0.5 + 0.1 * rng.normal(size=(n, k))
    return x.astype(dtype), (y[:, 0] if k == 1 else y).astype(dtype)


def _count(block, folder=None, block_id=None):
    """Leave one file per block computed (from any process), and return the block."""
    if block.size:  # not Dask's probe of an empty block
        Path(folder, f"{block_id[0]}-{uuid.uuid4().hex}").touch()
    return block


def _counted(array, folder, chunks):
    counted = da.from_array(array, chunks=chunks)
    return counted.map_blocks(_count, folder=str(folder), dtype=array.dtype, meta=array[:0])


def _passes(folder, n_blocks):
    names = [p.name.split("-")[0] for p in Path(folder).iterdir()]
    per_block = {b: names.count(str(b)) for b in range(n_blocks)}
    assert len(set(per_block.values())) == 1, per_block  # every block read equally often
    return per_block[0]


def _theta(d, k=1):
    return {"w": np.zeros((d, k) if k > 1 else d), "b": np.zeros(k) if k > 1 else 0.0}


def test_fit_on_the_cluster_equals_lstsq_and_the_in_memory_fit(client, tmp_path, monkeypatch):
    x, y = _data(offset=0.5)
    chunks = ((6000, 5000, 4000, 5000), (5,))
    dx = _counted(x, tmp_path, chunks)
    dy = da.from_array(y, chunks=(chunks[0],))
    # The client never turns a Dask array into NumPy: only the statistics come back.
    monkeypatch.setattr(da.Array, "__array__", lambda *a, **k: pytest.fail("materialized"))
    kw = dict(n_steps=3000, step_size=0.05, dtype="float64", progress=False, record_every=500)
    ours = fit(_theta(5), linear_model, mseloss, dx, dy, **kw)
    monkeypatch.undo()
    assert _passes(tmp_path, 4) == 1
    memory = fit(_theta(5), linear_model, mseloss, x, y, **kw)
    np.testing.assert_allclose(ours.losses, memory.losses, rtol=1e-10)
    np.testing.assert_allclose(ours.path["w"], memory.path["w"], rtol=1e-9, atol=1e-12)
    stats = dask_statistics(dx, dy, dtype="float64")
    design = np.column_stack([x, np.ones(len(x))])
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(stats.w_star[:, 0], coef[:5], rtol=1e-10)
    np.testing.assert_allclose(stats.min_loss, residual[0] / len(y), rtol=1e-8)
    assert isinstance(stats, LinearMSEStats) and stats.cov.shape == (5, 5)


def test_float32_and_several_outputs_and_dataframes_match_in_memory(client):
    x, y = _data(n=12_000, d=3, k=2, offset=1.0, dtype=np.float32)
    theta = _theta(3, 2)
    kw = dict(n_steps=500, step_size=0.05, progress=False)
    memory = fit(theta, linear_model, mseloss, x, y, **kw)
    ours = fit(theta, linear_model, mseloss, da.from_array(x, chunks=(5000, 2)),
               da.from_array(y, chunks=(3000, 2)), **kw)
    np.testing.assert_allclose(ours.losses, memory.losses, rtol=2e-5)
    # A DataFrame and a Series: partitions of unknown lengths, paired by position.
    import pandas as pd

    frame = dd.from_pandas(pd.DataFrame(x[:, :1].astype(np.float64), columns=["a"]), npartitions=3)
    y1 = dd.from_pandas(pd.Series(y[:, 0].astype(np.float64)), npartitions=3)
    one = fit({"w": np.zeros(1), "b": 0.0}, linear_model, mseloss, frame, y1, dtype="float64",
              n_steps=200, step_size=0.1, progress=False)
    ref = fit({"w": np.zeros(1), "b": 0.0}, linear_model, mseloss, x[:, :1].astype(np.float64),
              y[:, 0].astype(np.float64), dtype="float64", n_steps=200, step_size=0.1,
              progress=False)
    np.testing.assert_allclose(one.losses, ref.losses, rtol=1e-10)


@pytest.mark.parametrize(
    "model, loss, options",
    [
        (linear_model, mseloss, {"batch_size": 100}),
        (linear_model, mseloss, {"fast_path": False}),
        (linear_model, mse, {}),
        (lambda theta, x: x @ theta["w"] + theta["b"], mseloss, {}),
    ],
)
def test_fit_refuses_what_would_load_the_data_and_points_to_fit_stream(
    tmp_path, model, loss, options
):
    x, y = _data(n=2000, d=2)
    dx = _counted(x, tmp_path, (500, 2))
    with pytest.raises(ValueError, match=r"Stream the partitions instead: fit_stream\("):
        fit(_theta(2), model, loss, dx, da.from_array(y, chunks=500), progress=False, **options)
    assert list(tmp_path.iterdir()) == []  # refused before reading anything


def test_bad_dask_data_gets_fit_s_messages():
    x, y = _data(n=1000, d=2)
    x[10, 1] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite; got 1 NaN or infinite value\(s\) "
                       r"in an array of shape \(1000, 2\)"):
        fit(_theta(2), linear_model, mseloss, da.from_array(x, chunks=300), y, progress=False)
    with pytest.raises(ValueError, match="same number of samples; got 1000 and 999"):
        fit(_theta(2), linear_model, mseloss, da.from_array(x, chunks=300), y[:-1],
            progress=False)
    with pytest.raises(TypeError, match="x must be numeric, not boolean"):
        fit(_theta(2), linear_model, mseloss, da.from_array(x > 0), y, progress=False)


def _reference_moments(z):
    """Centred moments in extended precision, two passes over all rows."""
    zl = z.astype(np.longdouble)
    mean = zl.mean(0)
    return mean, (zl - mean).T @ (zl - mean)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 400),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=6),
    offset=st.sampled_from([0.0, 1e3, 1e6]),
    collinear=st.sampled_from([0.0, 1e-6]),
    seed=st.integers(0, 2**16),
)
def test_combining_uneven_splits_equals_one_pass(n, cuts, offset, collinear, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) + offset
    x[:, 2] = x[:, 0] + collinear * rng.normal(size=n)  # nearly collinear when collinear > 0
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=n)
    bounds = sorted({0, n, *(int(c * n) for c in cuts)})
    parts = [moments_of(x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    while len(parts) > 1:  # a random tree of pairwise combinations
        i = int(rng.integers(len(parts) - 1))
        parts[i : i + 2] = [combine_moments(parts[i], parts[i + 1])]
    combined, whole = parts[0], moments_of(x, y)
    mean, m2 = _reference_moments(np.column_stack([x, y]))
    scale = np.sqrt(np.outer(np.diag(m2), np.diag(m2))).astype(np.float64)
    # Any float64 algorithm loses about eps * offset / std here (the rows themselves are rounded
    # that much); the textbook Σz² - n mean² would lose eps * (offset / std)², 1e-4 at 1e6.
    tol = 1e-12 + 1e-13 * offset
    for got in (combined, whole):
        assert got.n == n
        np.testing.assert_allclose(got.mean, mean.astype(np.float64), rtol=1e-13, atol=1e-13)
        assert np.max(np.abs(got.m2 - m2.astype(np.float64)) / scale) < tol
    stats = statistics_of(x, y, np.dtype(np.float64), host_arrays=True)
    assert np.max(np.abs(whole.m2[:3, :3] / n - stats.cov) / (scale[:3, :3] / n)) < 1e3 * tol


def test_fit_stream_on_a_dask_pair_equals_the_same_chunks_in_memory(client, tmp_path):
    x, y = _data(n=3000, d=2, dtype=np.float32)
    kw = dict(batch_size=64, n_epochs=2, step_size=0.01, chunk_size=700, seed=5, progress=False)
    dx = _counted(x, tmp_path, ((1000, 800, 1200), (2,)))
    dy = da.from_array(y, chunks=((1000, 800, 1200),))
    ours = fit_stream(_theta(2), linear_model, mseloss, (dx, dy), **kw)
    assert _passes(tmp_path, 3) == 2  # one pass per epoch
    chunks = [(x[i : i + 500], y[i : i + 500]) for i in range(0, 3000, 500)]
    memory = fit_stream(_theta(2), linear_model, mseloss, chunks, **kw)
    np.testing.assert_array_equal(ours.losses, memory.losses)
    np.testing.assert_array_equal(ours.theta["w"], memory.theta["w"])
    import pandas as pd

    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "target": y})
    dframe = dd.from_pandas(frame, npartitions=4)
    by_frame = fit_stream(_theta(2), linear_model, mseloss, dframe, y_columns="target", **kw)
    np.testing.assert_array_equal(by_frame.losses, memory.losses)
    with pytest.raises(TypeError, match=r"pair \(x, y\) of Dask arrays"):
        fit_stream(_theta(2), linear_model, mseloss, dx, **kw)


def test_importing_the_package_and_fitting_in_memory_do_not_import_dask():
    code = (
        "import sys, numpy as np\n"
        "from dl_workshop import fit, linear_model, mseloss\n"
        "from dl_workshop.streaming import fit_stream\n"
        "x = np.linspace(0, 1, 50)\n"
        "fit({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x, x, 10, progress=False)\n"
        "assert 'dask' not in sys.modules, 'dask imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
