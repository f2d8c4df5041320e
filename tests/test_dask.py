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
from dl_workshop.fitting.streaming import fit_stream  # noqa: E402
from dl_workshop.lesson.losses import mse  # noqa: E402
from dl_workshop.objectives.dask_stats import (  # noqa: E402
    combine_moments,
    dask_statistics,
    moments_of,
)
from dl_workshop.objectives.statistics import LinearMSEStats, statistics_of  # noqa: E402

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
    """Neither fit, fit_stream nor the estimator on data in memory imports Dask."""
    code = (
        "import sys, numpy as np\n"
        "from dl_workshop import fit, linear_model, mseloss\n"
        "from dl_workshop.fitting.streaming import fit_stream\n"
        "x = np.linspace(0, 1, 50)\n"
        "fit({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x, x, 10, progress=False)\n"
        "from dl_workshop import GradientDescentRegressor\n"
        "model = GradientDescentRegressor().fit(x[:, None], x)\n"
        "model.predict(x[:, None]), model.score(x[:, None], x)\n"
        "assert 'dask' not in sys.modules, 'dask imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------ GradientDescentRegressor


def _count_partition(part, folder=None, partition_info=None):
    """``_count`` for the partitions of a Dask DataFrame."""
    if len(part):
        Path(folder, f"{partition_info['number']}-{uuid.uuid4().hex}").touch()
    return part


def _weighted_lstsq(x, y, w, alpha=0.0, fit_intercept=True):
    """``(coef, intercept)`` minimizing Σ w (y - x coef - b)² + alpha |coef|² by
    numpy.linalg.lstsq on the rows (scaled by sqrt(w), with sqrt(alpha) I appended)."""
    design = np.column_stack([x, np.ones(len(x))]) if fit_intercept else x
    root = np.sqrt(w)[:, None]
    a, b = design * root, y.reshape(len(y), -1) * root
    if alpha > 0:
        penalty = np.sqrt(alpha) * np.eye(design.shape[1])
        if fit_intercept:
            penalty[-1, -1] = 0.0  # the intercept is not penalized
        a, b = np.vstack([a, penalty]), np.vstack([b, np.zeros((design.shape[1], b.shape[1]))])
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    if fit_intercept:
        return solution[:-1], solution[-1]
    return solution, np.zeros(b.shape[1])


@pytest.mark.parametrize(
    "options, weighted, k",
    [({}, False, 1), ({"alpha": 30.0}, True, 1), ({"fit_intercept": False}, True, 2),
     ({"standardize": False}, False, 1), ({"optimizer": "gd"}, True, 1)],
)
def test_estimator_on_dask_arrays_reads_once_and_equals_memory_and_lstsq(
    client, tmp_path, monkeypatch, options, weighted, k
):
    from dl_workshop.estimator import GradientDescentRegressor

    x, y = _data(n=12_000, d=4, k=k, offset=2.0)
    w = np.random.default_rng(1).uniform(0.0, 3.0, size=len(x)) if weighted else np.ones(len(x))
    chunks = ((4000, 3000, 5000), (4,))
    dx = _counted(x, tmp_path, chunks)
    dy = da.from_array(y, chunks=(chunks[0], *((k,),) * (y.ndim - 1)))
    dw = da.from_array(w, chunks=2500) if weighted else None
    monkeypatch.setattr(da.Array, "__array__", lambda *a, **k: pytest.fail("materialized"))
    ours = GradientDescentRegressor(**options).fit(dx, dy, sample_weight=dw)
    predicted = ours.predict(dx)
    monkeypatch.undo()
    assert _passes(tmp_path, 3) == 1  # predict is lazy: still one read
    memory = GradientDescentRegressor(**options).fit(x, y, sample_weight=w if weighted else None)
    np.testing.assert_allclose(ours.coef_, memory.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, memory.intercept_, rtol=1e-8, atol=1e-12)
    coef, intercept = _weighted_lstsq(x, y, w, options.get("alpha", 0.0),
                                      options.get("fit_intercept", True))
    np.testing.assert_allclose(np.reshape(ours.coef_, (k, 4)), coef.T, rtol=1e-8)
    np.testing.assert_allclose(np.ravel(ours.intercept_), intercept, rtol=1e-8, atol=1e-12)
    assert ours.n_features_in_ == 4 and not hasattr(ours, "feature_names_in_")
    assert ours.rank_ == memory.rank_ == 4
    assert ours.condition_number_ == pytest.approx(memory.condition_number_, rel=1e-6)
    assert isinstance(predicted, da.Array) and predicted.shape == y.shape
    np.testing.assert_allclose(predicted.compute(), ours.predict(x), rtol=1e-12, atol=1e-13)
    score = ours.score(dx, dy, sample_weight=dw)
    assert score == pytest.approx(memory.score(x, y, sample_weight=w), rel=1e-12)


def test_estimator_on_a_dask_dataframe_reads_each_partition_once(client, tmp_path):
    import pandas as pd

    from dl_workshop.estimator import GradientDescentRegressor
    from dl_workshop.estimator.dask_data import least_squares_of, training_r2

    x, y = _data(n=9_000, d=3, offset=1.0)
    w = np.random.default_rng(2).integers(0, 4, size=len(x)).astype(np.float64)
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(target=y, weight=w)
    frame = dd.from_pandas(table, npartitions=4).map_partitions(
        _count_partition, folder=str(tmp_path), meta=table.iloc[:0]
    )
    features = frame[["a", "b", "c"]]
    ours = GradientDescentRegressor().fit(features, frame["target"], sample_weight=frame["weight"])
    assert _passes(tmp_path, 4) == 1  # X, y and the weights come from one read
    memory = GradientDescentRegressor().fit(table[["a", "b", "c"]], y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, memory.coef_, rtol=1e-8)
    assert ours.intercept_ == pytest.approx(memory.intercept_, rel=1e-8)
    assert list(ours.feature_names_in_) == ["a", "b", "c"] and ours.n_features_in_ == 3
    # Integer weights are repeated rows: the same fit as numpy.linalg.lstsq on them.
    repeated = np.repeat(np.arange(len(x)), w.astype(int))
    exact = np.linalg.lstsq(np.column_stack([x[repeated], np.ones(len(repeated))]), y[repeated],
                            rcond=None)[0]
    np.testing.assert_allclose(ours.coef_, exact[:3], rtol=1e-8)
    coef, intercept = least_squares_of(ours)
    np.testing.assert_allclose(coef, exact[:3], rtol=1e-10)
    assert intercept == pytest.approx(exact[3], rel=1e-10)
    r2 = memory.score(table[["a", "b", "c"]], y, sample_weight=w)
    assert training_r2(ours) == pytest.approx(r2, rel=1e-12)
    predicted = ours.predict(features)
    assert isinstance(predicted, dd.Series)
    np.testing.assert_allclose(predicted.compute().to_numpy(),
                               ours.predict(table[["a", "b", "c"]]), rtol=1e-12, atol=1e-13)
    assert ours.score(features, frame["target"], sample_weight=frame["weight"]) == pytest.approx(
        r2, rel=1e-12)
    with pytest.raises(ValueError, match="feature names"):
        ours.predict(features.rename(columns={"a": "A"}))
    two = GradientDescentRegressor().fit(features, frame[["target", "weight"]])
    assert two.coef_.shape == (2, 3)
    assert two.predict(features).compute().shape == (len(x), 2)


def test_estimator_refuses_dask_data_it_cannot_fit_before_reading_it(tmp_path):
    import pandas as pd

    from dl_workshop.estimator import GradientDescentRegressor

    x, y = _data(n=2000, d=2)
    dx, dy = _counted(x, tmp_path, (500, 2)), da.from_array(y, chunks=500)
    cases = [
        (GradientDescentRegressor(optimizer="gd").partial_fit, (dx, dy), "partial_fit takes one"),
        (GradientDescentRegressor(max_iter=0).fit, (dx, dy), "max_iter must be an integer"),
        (GradientDescentRegressor().fit, (dx[:, 0], dy), r"X must be a 2-D .* shape \(2000,\)"),
        (GradientDescentRegressor().fit, (dx, dy[:-1]), "same number of samples; got 2000 and"),
        (GradientDescentRegressor().fit, (dx, dy > 0), "y must be numeric, not boolean"),
    ]
    for method, args, match in cases:
        with pytest.raises((ValueError, TypeError), match=match):
            method(*args)
    frame = dd.from_pandas(pd.DataFrame(x, columns=["a", "b"]), npartitions=2)
    with pytest.raises(ValueError, match="sample_weight in memory needs X with known row"):
        GradientDescentRegressor().fit(frame, dy, sample_weight=np.ones(2000))
    assert list(tmp_path.iterdir()) == []  # refused before reading anything


def test_estimator_on_bad_dask_data_gets_one_message_after_the_pass():
    from dl_workshop.estimator import GradientDescentRegressor

    x, y = _data(n=1000, d=2)
    x[10, 1] = np.nan
    model = GradientDescentRegressor()
    with pytest.raises(ValueError, match=r"X must be finite; got 1 NaN or infinite value\(s\)"):
        model.fit(da.from_array(x, chunks=300), da.from_array(y, chunks=300))
    x[10, 1] = 0.0
    dx, dy = da.from_array(x, chunks=300), da.from_array(y, chunks=300)
    weights = np.ones(1000)
    weights[3] = -1.0
    with pytest.raises(ValueError, match=r"sample_weight must be non-negative; got 1 negative"):
        model.fit(dx, dy, sample_weight=weights)
    with pytest.raises(ValueError, match="at least one positive number"):
        model.fit(dx, dy, sample_weight=da.zeros(1000, chunks=400))
    equal = model.fit(dx, dy, sample_weight=2.0).coef_
    np.testing.assert_allclose(equal, model.fit(x, y).coef_, rtol=1e-10)
    with pytest.raises(ValueError, match="fitted on Dask data"):
        from dl_workshop.estimator.dask_data import least_squares_of

        least_squares_of(model)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 300),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=5),
    seed=st.integers(0, 2**16),
)
def test_weighted_moments_of_any_split_equal_the_weighted_reference(n, cuts, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) + 100.0
    y = x @ np.array([1.0, -1.0]) + rng.normal(size=n)
    w = rng.choice([0.0, 0.5, 1.0, 3.0], size=n)
    bounds = sorted({0, n, *(int(c * n) for c in cuts)})
    parts = [moments_of(x[a:b], y[a:b], weights=w[a:b])
             for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    combined = parts[0]
    for part in parts[1:]:
        combined = combine_moments(combined, part)
    assert combined.n == n and combined.positive == int(np.count_nonzero(w))
    if w.sum() == 0:
        assert combined.weight == 0
        return
    z = np.column_stack([x, y]).astype(np.longdouble)
    mean = (w @ z) / w.sum()
    m2 = ((z - mean) * w[:, None]).T @ (z - mean)
    scale = np.sqrt(np.outer(np.diag(m2), np.diag(m2))).astype(np.float64)
    # A mean that cancels (y's is ~1e-4 of rows ~100) is exact to rounding of its terms' size.
    terms = float(np.max(np.abs(z)))
    np.testing.assert_allclose(combined.mean, mean.astype(np.float64), rtol=1e-13,
                               atol=1e-13 * terms)
    assert np.max(np.abs(combined.m2 - m2.astype(np.float64)) / np.maximum(scale, 1e-300)) < 1e-11
    assert combined.weight == pytest.approx(w.sum(), rel=1e-15)


def test_cli_fit_on_parquet_files_at_the_scheduler_address(client, tmp_path, capsys):
    import pandas as pd

    from dl_workshop.cli import main

    x, y = _data(n=3000, d=3, offset=1.0)
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    for i in range(3):
        table.iloc[i * 1000 : (i + 1) * 1000].to_parquet(tmp_path / f"part{i}.parquet")
    table.to_csv(tmp_path / "all.csv", index=False)
    address = client.scheduler.address
    assert main(["fit", str(tmp_path / "*.parquet"), "--target", "y", "--scheduler", address]) == 0
    dask_out = capsys.readouterr().out.splitlines()
    assert main(["fit", str(tmp_path / "all.csv"), "--target", "y"]) == 0
    memory_out = capsys.readouterr().out.splitlines()
    assert dask_out[0].startswith("fitted 3000 rows x 3 feature(s), target 'y'")
    exact = np.linalg.lstsq(np.column_stack([x, np.ones(3000)]), y, rcond=None)[0]
    for line_dask, line_memory in zip(dask_out[2:6], memory_out[2:6], strict=True):
        name, fitted, reference = line_dask.split()[:3]
        assert name == line_memory.split()[0]
        expected = exact[-1] if name == "intercept" else exact["abc".index(name)]
        assert float(fitted) == pytest.approx(expected, rel=1e-9)
        assert float(reference) == pytest.approx(expected, rel=1e-11)
        assert float(line_memory.split()[1]) == pytest.approx(float(fitted), rel=1e-9)
    r2 = float(dask_out[6].split()[1])
    assert r2 == pytest.approx(float(memory_out[6].split()[1]), rel=1e-9)


def _client_rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_growth_mb(call):
    """``call()``'s peak growth of this process's resident memory, sampled every 2 ms."""
    import threading

    baseline, peak, done = _client_rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _client_rss_mb() - baseline)
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = call()
    finally:
        done.set()
        sampler.join()
    return peak[0], result


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_the_client_holds_o_d_squared_while_the_workers_hold_the_data(client):
    from dl_workshop import GradientDescentRegressor

    rng = da.random.default_rng(0)
    n, d = 600_000, 16  # 77 MB of float64 on the workers, never on the client
    x = rng.standard_normal((n, d), chunks=(75_000, d)).persist()
    y = (x @ np.linspace(-1.0, 1.0, d) + 0.5).persist()
    small = (x[:75_000], y[:75_000])  # the same code paths once, so imports and compiling are done
    fit(_theta(d), linear_model, mseloss, *small, 50, 0.1, progress=False)
    GradientDescentRegressor().fit(*small)
    data_mb = (x.nbytes + y.nbytes) / 2**20
    grew, result = _peak_rss_growth_mb(
        lambda: fit(_theta(d), linear_model, mseloss, x, y, 50, 0.1, progress=False)
    )
    assert grew < data_mb / 8, (grew, data_mb)
    grew_estimator, model = _peak_rss_growth_mb(lambda: GradientDescentRegressor().fit(x, y))
    assert grew_estimator < data_mb / 8, (grew_estimator, data_mb)
    np.testing.assert_allclose(model.coef_, np.linspace(-1.0, 1.0, d), atol=1e-8)
    assert np.all(np.isfinite(result.losses))
