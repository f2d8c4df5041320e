"""GradientDescentClassifier on Dask data: Newton passes on a LocalCluster equal in-memory fits.

The cluster listens on 127.0.0.1 only; its two worker processes (one thread each) are ended by
pid when the module's tests are done. Every partition read leaves a file, so the tests count
the passes over the data.
"""

import contextlib
import os
import signal
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from dl_workshop import GradientDescentClassifier  # noqa: E402
from dl_workshop.estimator.logit_newton import block_sums, prior_sums  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster on loopback; its workers are killed by pid if close leaves any."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, env={"JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1"},
    )
    pids = []
    try:
        with distributed.Client(cluster) as c:
            pids = list(c.run(os.getpid).values())
            yield c
    finally:
        cluster.close(timeout=20)
        for pid in pids:
            _kill_if_worker(pid)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _kill_if_worker(pid):
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"multiprocessing" in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _count(block, folder=None, block_id=None):
    """Leave one file per block computed (from any process), and return the block."""
    if block.size:
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


def _data(n, d, n_classes, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * scale
    logits = x @ rng.normal(size=(d, n_classes)) / np.sqrt(d) + rng.normal(size=n_classes)
    u = rng.random(n)[:, None]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return x, (u > np.cumsum(p, 1)).sum(1)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_dask_fit_equals_the_in_memory_fit_in_few_passes(client, tmp_path, n_classes):
    x, y = _data(6000, 5, n_classes, seed=n_classes)
    labels = np.array(["ant", "bee", "cat", "dog"])[y]
    weights = np.random.default_rng(0).integers(1, 3, size=len(y)).astype(float)
    chunks = ((2000, 1500, 2500), (5,))
    dx = _counted(x, tmp_path, chunks)
    dy = da.from_array(labels, chunks=(chunks[0],))
    dw = da.from_array(weights, chunks=(chunks[0],))
    model = GradientDescentClassifier(alpha=0.1, class_weight="balanced")
    ours = model.fit(dx, dy, sample_weight=dw)
    passes = _passes(tmp_path, 3)
    # the survey (also the sums at the class priors), then Newton passes (4 measured)
    assert passes == ours.n_passes_ <= 5
    memory = GradientDescentClassifier(alpha=0.1, class_weight="balanced").fit(
        x, labels, sample_weight=weights)
    assert ours.classes_.tolist() == memory.classes_.tolist()
    assert ours.loss_curve_[-1] == pytest.approx(memory.loss_curve_[-1], rel=1e-10)
    np.testing.assert_allclose(ours.coef_, memory.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, memory.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(dx).compute(), memory.predict_proba(x),
                               rtol=1e-8, atol=1e-12)
    assert ours.predict(dx).compute().tolist() == memory.predict(x).tolist()
    assert ours.score(dx, dy) == pytest.approx(memory.score(x, labels), abs=1e-12)


def test_loss_gap_1e_10_in_fewer_passes_than_dask_ml_newton(client, tmp_path):
    """dask-ml's newton takes 7 passes on the benchmark's data; ours 5 there, 4 here."""
    x, y = _data(20_000, 20, 2, seed=7)
    dx = _counted(x, tmp_path, (2500, 20))
    dy = da.from_array(y, chunks=2500)
    ours = GradientDescentClassifier(alpha=1e-3).fit(dx, dy)
    memory = GradientDescentClassifier(alpha=1e-3).fit(x, y)
    best = memory.loss_curve_[-1]
    assert _passes(tmp_path, 8) == ours.n_passes_ <= 5
    assert (ours.loss_curve_[-1] - best) / best <= 1e-10
    np.testing.assert_allclose(ours.coef_, memory.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_prior_sums_from_gram_matrices_equal_the_sums_over_rows(n_classes, fit_intercept):
    x, codes = _data(500, 3, n_classes, seed=11)
    weights = np.random.default_rng(1).uniform(0.0, 2.0, size=len(codes))
    xh = np.hstack([x, np.ones((len(x), 1))])
    grams = np.stack([(xh[codes == c] * weights[codes == c, None]).T @ xh[codes == c]
                      for c in range(n_classes)])
    k = 1 if n_classes == 2 else n_classes
    coef = np.zeros((3 + int(fit_intercept), k))
    if fit_intercept:
        coef[3] = np.linspace(-0.5, 0.7, k)
    a = prior_sums(grams, coef, intercept=fit_intercept)
    b = block_sums(x, codes, weights, coef, intercept=fit_intercept)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)
    assert a.weight == pytest.approx(b.weight, rel=1e-12)
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.hess, b.hess, rtol=1e-10, atol=1e-10)
    assert (a.errors == 0) == (b.errors == 0)
    with pytest.raises(ValueError, match="zero but the intercepts"):
        prior_sums(grams, coef + 1.0, intercept=fit_intercept)


def test_separable_dask_data_warns_and_bad_data_gets_messages(client):
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]] * 10)
    y = np.array([0, 0, 1, 1] * 10)
    dx, dy = da.from_array(x, chunks=(10, 1)), da.from_array(y, chunks=10)
    with pytest.warns(ConvergenceWarning, match="separable.*grow without bound"):
        GradientDescentClassifier(alpha=0.0).fit(dx, dy)
    with pytest.raises(ValueError, match="at least 2 classes.*got 1 class only: 0"):
        GradientDescentClassifier().fit(dx, da.zeros(40, chunks=10, dtype=int))
    bad = np.where(x > 1.5, np.nan, x)
    with pytest.raises(ValueError, match="X must be finite; got 10 NaN"):
        GradientDescentClassifier().fit(da.from_array(bad, chunks=(10, 1)), dy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GradientDescentClassifier(alpha=1.0).fit(dx, dy)
