"""The one moments type: ``moments_of`` gives the same moments from every source (NumPy, JAX
arrays on one device or split over devices, Dask partitions), equal to a float64 reference, and
the estimator's one scaling routine gives the same scaling from rows as from their moments."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from dl_workshop.estimator.compressed import moment_scaling
from dl_workshop.estimator.problem import fit_scaling
from dl_workshop.moments.core import combine_moments, empty_moments, moments_of

SRC = Path(__file__).resolve().parents[1] / "src"


def _data(n=3000, d=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * [1.0, 10.0, 0.1, 1e3] + [5.0, -2.0, 0.0, 1e4]
    y = x @ rng.normal(size=(d, k)) + rng.normal(size=(n, k))
    return x, y, rng.uniform(0.0, 2.0, n)


def _reference(x, y, w):
    """Weighted mean and centred cross-products of ``[x, y]``, by the textbook formulas."""
    z = np.concatenate([x, y], axis=1)
    mean = w @ z / w.sum()
    centred = z - mean
    return mean, centred.T @ (w[:, None] * centred)


def _assert_matches(m, x, y, w):
    mean, m2 = _reference(x, y, w)
    assert m.n == len(x) and m.positive == np.count_nonzero(w > 0)
    np.testing.assert_allclose(m.weight, w.sum(), rtol=1e-13)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-12, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(m.m2, m2, rtol=1e-9, atol=1e-10 * np.abs(m2).max())
    assert np.allclose(np.tril(m.r, -1), 0.0)


def test_numpy_source_matches_the_reference():
    x, y, w = _data()
    _assert_matches(moments_of(x, y, weights=w), x, y, w)


def test_jax_source_matches_the_numpy_source():
    x, y, w = _data()
    on_device = [jnp.asarray(a) for a in (x, y, w)]  # float32 unless float64 is enabled
    x, y, w = (np.asarray(a, np.float64) for a in on_device)
    _assert_matches(moments_of(*on_device[:2], weights=on_device[2]), x, y, w)


def test_dask_source_matches_the_numpy_source():
    da = pytest.importorskip("dask.array")
    x, y, w = _data()
    m = moments_of(da.from_array(x, chunks=(700, 4)), da.from_array(y, chunks=(700, 2)),
                   weights=da.from_array(w, chunks=700))
    _assert_matches(m, x, y, w)


def test_jax_source_with_mismatched_rows_raises_the_partition_message():
    with pytest.raises(ValueError, match="same number of rows.*got 4, 3 and 4"):
        moments_of(jnp.zeros((4, 2)), np.zeros(3))


def test_combine_with_no_rows_is_the_identity():
    x, y, w = _data(n=50)
    m = moments_of(x, y, weights=w)
    for combined in (combine_moments(empty_moments(6), m), combine_moments(m, empty_moments(6))):
        np.testing.assert_array_equal(combined.r, m.r)
        assert combined.n == m.n


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_scaling_of_rows_equals_scaling_of_their_moments(fit_intercept):
    x, y, w = _data(n=500, seed=3)
    x[:, 2] = 7.0  # a constant column keeps scale 1 on both routes
    rows = fit_scaling(x, y, w, fit_intercept, True)
    moments = moment_scaling(moments_of(x, y, weights=w), 4, fit_intercept, True)
    for a, b in zip(rows, moments, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    expected = 1.0 if fit_intercept else 7.0  # exactly 1 for a constant column about its mean
    assert rows.x_scale[2] == pytest.approx(expected, rel=1e-14)
    assert moments.x_scale[2] == pytest.approx(expected, rel=1e-14)
    identity = fit_scaling(x, y, w, fit_intercept, False)
    assert identity.y_scale == 1.0 and not identity.x_offset.any() and (identity.x_scale == 1).all()


# XLA_FLAGS must be set before JAX initialises, hence a fresh process with four CPU devices.
SCRIPT = textwrap.dedent(
    f"""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    sys.path.insert(0, {str(SRC)!r})
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    from dl_workshop.moments.core import moments_of
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(4001, 3)) + 3.0, rng.normal(size=(4001, 2)), rng.uniform(size=4001)
    whole = moments_of(x, y, weights=w)
    mesh = jax.make_mesh((4,), ("rows",))
    rows_x = jax.device_put(x[:4000], NamedSharding(mesh, P("rows", None)))
    out = {{"shards": len(rows_x.addressable_shards)}}
    replicated = jax.device_put(x, NamedSharding(mesh, P(None, None)))
    x4 = np.concatenate([x, x[:, :1] ** 2], axis=1)
    columns = jax.device_put(x4, NamedSharding(mesh, P(None, "rows")))
    by_columns, whole4 = moments_of(columns, y), moments_of(x4, y)
    out["columns_r"] = float(np.max(np.abs(by_columns.m2 - whole4.m2)) / np.max(np.abs(whole4.m2)))
    m = moments_of(rows_x, y[:4000], weights=w[:4000])
    ref = moments_of(x[:4000], y[:4000], weights=w[:4000])
    out["split_r"] = float(np.max(np.abs(m.m2 - ref.m2)) / np.max(np.abs(ref.m2)))
    out["split_mean"] = float(np.max(np.abs(m.mean - ref.mean)))
    out["split_n"] = m.n
    rep = moments_of(replicated, y, weights=w)
    out["replicated_r"] = float(np.max(np.abs(rep.m2 - whole.m2)) / np.max(np.abs(whole.m2)))
    out["replicated_n"] = rep.n
    print(json.dumps(out))
    """
)


def test_jax_rows_split_over_four_devices_match_the_numpy_source():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["shards"] == 4
    assert out["split_n"] == 4000 and out["split_r"] < 1e-12 and out["split_mean"] < 1e-13
    assert out["replicated_n"] == 4001 and out["replicated_r"] < 1e-12  # each row counted once
    assert out["columns_r"] < 1e-12


@pytest.mark.parametrize(
    ("n", "dtype", "k"), [(3000, np.float64, 2), (3000, np.float32, 1), (40_000, np.float32, 3)]
)
def test_the_fast_paths_moments_match_the_reference(n, dtype, k):
    """``exact=False``: shifted block sums (cross-products), or float32 products for large
    float32 data (an R factor); both the moments of the rows to the pass's accuracy."""
    x, y, _ = _data(n=n, k=k)
    x[:, 3] = x[:, 3] / 1e3 - 10.0  # float32 products need modest offsets
    x, y = x.astype(dtype), y.astype(dtype)
    fast = moments_of(x, y, exact=False)
    assert (fast.r is None) == (n < 40_000)  # the float32 pass gives an R factor
    mean, m2 = _reference(x.astype(np.float64), y.astype(np.float64), np.ones(n))
    rtol = 1e-11 if dtype == np.float64 else 1e-6
    assert fast.n == n and fast.weight == n
    np.testing.assert_allclose(fast.mean, mean, rtol=rtol, atol=rtol * np.abs(mean).max())
    np.testing.assert_allclose(fast.m2, m2, rtol=rtol, atol=rtol * np.abs(m2).max())


def test_combining_the_fast_paths_moments_equals_one_pass():
    x, y, _ = _data(n=2000)
    halves = [moments_of(x[a:b], y[a:b], exact=False) for a, b in ((0, 700), (700, 2000))]
    combined, whole = combine_moments(*halves), moments_of(x, y, exact=False)
    assert combined.r is None and combined.n == 2000
    np.testing.assert_allclose(combined.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(combined.m2, whole.m2, rtol=1e-10, atol=1e-12 * whole.m2.max())
    mixed = combine_moments(halves[0], moments_of(x[700:], y[700:]))  # exact with fast
    np.testing.assert_allclose(mixed.m2, whole.m2, rtol=1e-10, atol=1e-12 * whole.m2.max())


def test_statistics_from_exact_and_fast_moments_agree():
    from dl_workshop.objectives.statistics import statistics_from_moments

    x, y, _ = _data(n=2000, k=1)
    target = np.dtype(np.float64)
    exact, fast = (
        statistics_from_moments(moments_of(x, y, exact=e), 4, target, host_arrays=True)
        for e in (True, False)
    )
    coef = np.linalg.lstsq(np.column_stack([x, np.ones(len(x))]), y, rcond=None)[0]
    for stats in (exact, fast):
        np.testing.assert_allclose(stats.w_star, coef[:-1], rtol=1e-8)
    for a, b in zip(exact, fast, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def _chunks_calls(call) -> int:
    """How many times ``call()`` enters ``dl_workshop.io.chunks`` from ``objectives.moments``."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        caller = frame.f_back
        if (
            event == "call"
            and frame.f_globals.get("__name__") == "dl_workshop.io.chunks"
            and caller is not None
            and caller.f_globals.get("__name__") == "dl_workshop.moments.core"
        ):
            count += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


def test_moments_of_data_in_memory_enters_chunks_at_most_once():
    pytest.importorskip("dask")  # Dask imported: the Dask check is the one that costs calls
    x, y, w = _data(n=100)
    for source in (np.asarray, jnp.asarray):
        a, b = source(x), source(y)
        assert _chunks_calls(lambda a=a, b=b: moments_of(a, b)) <= 1
        assert _chunks_calls(lambda a=a, b=b: moments_of(a, b, exact=False)) <= 1
        assert _chunks_calls(lambda a=a, b=b: moments_of(a, b, weights=w)) <= 1
