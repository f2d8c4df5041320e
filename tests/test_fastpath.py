"""The sufficient-statistics fast path gives the iterates and losses of the general path."""

import jax
import numpy as np
import pytest

from dl_workshop import DivergenceError, fit, fit_objective, linear_model, mseloss
from dl_workshop.lesson.data import make_y
from dl_workshop.lesson.data import x as lesson_x
from dl_workshop.objectives.fastpath import (
    LinearMSEObjective,
    linear_mse_loss,
    sufficient_statistics,
)


def _data(n=500, d=3, k=None, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + offset
    w = rng.normal(size=(d,) if k is None else (d, k))
    noise = rng.normal(size=(n,) if k is None else (n, k))
    return x, x @ w + 0.5 + 0.1 * noise


def _both(theta, x, y, n_steps, step_size, **kw):
    fast = fit(theta, linear_model, mseloss, x, y, n_steps, step_size, progress=False, **kw)
    general = fit(
        theta,
        linear_model,
        mseloss,
        x,
        y,
        n_steps,
        step_size,
        progress=False,
        fast_path=False,
        **kw,
    )
    return fast, general


def test_lesson_fast_equals_general_float32():
    y = make_y(lesson_x, seed=0)
    fast, general = _both({"w": 0.0, "b": 0.0}, lesson_x, y, 3000, 0.001)
    np.testing.assert_allclose(fast.losses, general.losses, rtol=2e-5)
    np.testing.assert_allclose(fast.theta["w"], general.theta["w"], rtol=2e-5)
    np.testing.assert_allclose(fast.theta["b"], general.theta["b"], rtol=2e-5)


def test_lesson_fast_equals_general_float64_path():
    y = make_y(lesson_x, seed=1)
    fast, general = _both((0.5, -1.0), lesson_x, y, 500, 0.01, dtype="float64", record_every=50)
    np.testing.assert_allclose(fast.losses, general.losses, rtol=1e-11)
    for a, b in zip(fast.path, general.path, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    assert isinstance(fast.theta, tuple)


@pytest.mark.parametrize(
    ("theta_shapes", "k"),
    [(((3, 2), (2,)), 2), (((3, 2), ()), 2), (((3,), ()), None), (((3, 1), (1,)), 1)],
)
def test_matrix_forms_fast_equals_general(theta_shapes, k):
    x, y = _data(k=k)
    if k == 1:
        y = y.reshape(-1, 1)
    w_shape, b_shape = theta_shapes
    theta = {"w": np.full(w_shape, 0.1), "b": np.zeros(b_shape)}
    fast, general = _both(theta, x, y, 400, 0.05, dtype="float64")
    np.testing.assert_allclose(fast.losses, general.losses, rtol=1e-11)
    np.testing.assert_allclose(fast.theta["w"], general.theta["w"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.theta["b"], general.theta["b"], rtol=1e-10, atol=1e-12)


def test_default_fit_dispatches_to_the_fast_path():
    x, y = _data(k=2)
    theta = {"w": np.zeros((3, 2)), "b": np.zeros(2)}
    auto = fit(theta, linear_model, mseloss, x, y, 200, 0.05, progress=False)
    stats = sufficient_statistics(x, y)
    explicit = fit_objective(LinearMSEObjective(), theta, stats, 200, 0.05, progress=False)
    np.testing.assert_array_equal(auto.losses, explicit.losses)


def test_statistics_match_lstsq():
    x, y = _data(n=2000, d=4, k=2, seed=3, offset=50.0)
    stats = sufficient_statistics(x, y, dtype="float64")
    design = np.column_stack([x, np.ones(len(x))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(stats.w_star, coef[:-1], rtol=1e-9)
    best = np.mean((design @ coef - y) ** 2)
    np.testing.assert_allclose(stats.min_loss, best, rtol=1e-8)
    theta = {"w": coef[:-1] + 0.01, "b": coef[-1]}
    with jax.enable_x64(True):
        value = float(linear_mse_loss(theta, stats))
    np.testing.assert_allclose(value, np.mean((x @ theta["w"] + theta["b"] - y) ** 2), rtol=1e-10)


def test_float32_losses_do_not_cancel_near_the_optimum():
    # Large offsets and a tiny residual: the expanded form wᵀXᵀXw - 2wᵀXᵀy + yᵀy would lose every
    # digit in float32; the centred form keeps the float32 loss close to the float64 truth.
    x, y = _data(n=4000, d=3, seed=5, offset=100.0)
    y = y + 1e4
    stats = sufficient_statistics(x, y, dtype="float64")
    design = np.column_stack([x, np.ones(len(x))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    theta = {"w": coef[:-1].astype(np.float32), "b": np.float32(coef[-1])}
    truth = np.mean((x @ coef[:-1].astype(np.float32) + np.float32(coef[-1]) - y) ** 2)
    stats32 = sufficient_statistics(x.astype(np.float32), y.astype(np.float32))
    assert float(stats.min_loss) == pytest.approx(0.01, rel=0.1)
    np.testing.assert_allclose(float(linear_mse_loss(theta, stats32)), truth, rtol=0.05)


def test_scalar_w_with_matrix_x_uses_the_general_path():
    # A scalar w multiplies every column (not the matrix form); results must still be right.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    y = 3.0 * x + 1.0
    fast, general = _both({"w": 0.0, "b": 0.0}, x, y, 200, 0.1)
    np.testing.assert_array_equal(fast.losses, general.losses)


def test_divergence_on_the_fast_path_gives_curvature_advice():
    y = make_y(lesson_x, seed=0)
    with pytest.raises(DivergenceError) as info:
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, lesson_x, y, 500, 1.0, progress=False)
    # The Hessian of the MSE in (w, b) is 2 [[mean x², mean x], [mean x, 1]]; L its top eigenvalue.
    hessian = 2 * np.array([[np.mean(lesson_x**2), np.mean(lesson_x)], [np.mean(lesson_x), 1.0]])
    curvature = np.linalg.eigvalsh(hessian).max()
    assert info.value.suggested_step_size == pytest.approx(1 / curvature, rel=0.05)


def test_fast_path_must_be_bool():
    with pytest.raises(TypeError, match="fast_path must be True or False; got 'yes'"):
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, lesson_x, lesson_x, fast_path="yes")


def test_statistics_reject_bad_data():
    with pytest.raises(ValueError, match="same number of samples"):
        sufficient_statistics(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="x must be finite"):
        sufficient_statistics(np.array([1.0, np.nan]), np.zeros(2))


def _float32_case(kind, n=40_000, d=8):
    x, y = _data(
        n=n,
        d=d,
        k=3 if kind == "multi-output" else None,
        seed=3,
        offset=100.0 if kind == "offset" else 0.0,
    )
    if kind == "sorted":  # the first rows are no guide to the means of the whole data
        order = np.argsort(x[:, 0])
        x, y = x[order], y[order]
    return x.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize(
    ("kind", "settings", "passes"),
    [
        ("centred", {}, 1),
        ("offset", {}, 1),
        ("sorted", {}, 1),
        ("multi-output", {}, 1),
        # The repeated passes, forced: the shift far from the means (sorted data), and a first
        # fit too poor to subtract from.
        ("sorted", {"_MAX_OFFSET_RATIO": 0.5}, 2),
        ("offset", {"_REFIT_BELOW": 2.0}, 2),
    ],
)
def test_float32_products_match_float64_least_squares(kind, settings, passes, monkeypatch):
    # Large float32 data takes float32 block products; they must give the float64 answer to
    # float32 precision.
    import dl_workshop.moments.device as fastpath

    x, y = _float32_case(kind)
    assert len(x) >= fastpath._FLOAT32_MIN_ROWS
    for name, value in settings.items():
        monkeypatch.setattr(fastpath, name, value)
    calls = []
    original = fastpath._float32_residual_sums
    monkeypatch.setattr(
        fastpath, "_float32_residual_sums", lambda *a: calls.append(1) or original(*a)
    )
    stats = sufficient_statistics(x, y, dtype="float32")
    assert len(calls) == passes, "the float32 products were not used as expected"
    x64, y64 = x.astype(np.float64), y.astype(np.float64).reshape(len(y), -1)
    design = np.column_stack([x64, np.ones(len(x64))])
    coef, *_ = np.linalg.lstsq(design, y64, rcond=None)
    best = np.mean((design @ coef - y64) ** 2)
    np.testing.assert_allclose(stats.w_star, coef[:-1], rtol=2e-6, atol=2e-6 * abs(coef).max())
    np.testing.assert_allclose(float(stats.min_loss), best, rtol=1e-6)
    np.testing.assert_allclose(stats.mean_x, x64.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stats.mean_y, y64.mean(0), rtol=1e-6)
    centred = x64 - x64.mean(0)
    np.testing.assert_allclose(stats.cov, centred.T @ centred / len(x64), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["centred", "offset", "sorted", "multi-output"])
def test_float32_products_fast_path_equals_general_path(kind):
    x, y = _float32_case(kind)
    k = None if y.ndim == 1 else y.shape[1]
    theta = {
        "w": np.zeros((8,) if k is None else (8, k), np.float32),
        "b": np.zeros(() if k is None else (k,), np.float32),
    }
    step = 1e-5 if kind == "offset" else 0.1  # 2/L is about 2.5e-5 with means of 100
    fast, general = _both(theta, x, y, 300, step)
    # Both are float32 runs: with means of 100 each drifts from the float64 run by up to 3e-5.
    rtol = 1e-4 if kind == "offset" else 1e-5
    np.testing.assert_allclose(fast.losses, general.losses, rtol=rtol)
    np.testing.assert_allclose(fast.theta["w"], general.theta["w"], rtol=rtol, atol=1e-5)


def test_nearly_collinear_float32_data_falls_back_to_float64_products(monkeypatch):
    import dl_workshop.moments.device as fastpath

    rng = np.random.default_rng(1)
    n = 40_000
    common = rng.normal(size=(n, 1))
    x = (common + 1e-3 * rng.normal(size=(n, 4))).astype(np.float32)  # condition ~1e6
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.01 * rng.normal(size=n)).astype(np.float32)
    results = []
    original = fastpath._centred_float32
    monkeypatch.setattr(
        fastpath, "_centred_float32", lambda *a: results.append(original(*a)) or results[-1]
    )
    stats = sufficient_statistics(x, y, dtype="float32")
    assert results == [None]
    design = np.column_stack([x.astype(np.float64), np.ones(n)])
    coef, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    np.testing.assert_allclose(stats.w_star[:, 0], coef[:-1], rtol=1e-3)


@pytest.mark.parametrize("bad", ["x", "y"])
def test_non_finite_large_data_is_reported_cleanly(bad, capfd):
    x, y = _float32_case("centred")
    (x if bad == "x" else y)[17] = np.nan
    with pytest.raises(ValueError, match=f"{bad} must be finite; got (1|8) NaN"):
        fit({"w": np.zeros(8), "b": 0.0}, linear_model, mseloss, x, y, 10, 0.1, progress=False)
    assert capfd.readouterr().err == ""  # nothing from LAPACK on stderr


def test_on_an_accelerator_the_fast_path_steps_run_on_the_host(monkeypatch):
    # The GPU case, imitated: fit must place the tiny fast-path loop on the CPU device and hand
    # back parameters and path like any other fit.
    import dl_workshop.fitting.choose as choose

    y = make_y(lesson_x, seed=0)

    def run():
        theta = {"w": 0.0, "b": 0.0}
        return fit(
            theta, linear_model, mseloss, lesson_x, y, 300, 0.05, progress=False, record_every=100
        )

    expected = run()
    chosen = []
    original = choose.host_loop_device
    monkeypatch.setattr(choose.jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(
        choose, "host_loop_device", lambda *a: chosen.append(original(*a)) or chosen[-1]
    )
    result = run()
    assert chosen == [jax.devices("cpu")[0]]
    np.testing.assert_array_equal(result.losses, expected.losses)
    np.testing.assert_array_equal(result.theta["w"], expected.theta["w"])
    np.testing.assert_array_equal(result.path["b"], expected.path["b"])
    # The general path is left where the data is.
    chosen.clear()
    fit(
        {"w": 0.0, "b": 0.0},
        linear_model,
        mseloss,
        lesson_x,
        y,
        10,
        0.05,
        progress=False,
        fast_path=False,
    )
    assert chosen == [None]
