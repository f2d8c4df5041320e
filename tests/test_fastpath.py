"""The sufficient-statistics fast path gives the iterates and losses of the general path."""

import jax
import numpy as np
import pytest

from dl_workshop import DivergenceError, fit, linear_model, mseloss
from dl_workshop.data import make_y
from dl_workshop.data import x as lesson_x
from dl_workshop.fastpath import LinearMSEObjective, linear_mse_loss, sufficient_statistics


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
    explicit = fit(
        theta,
        linear_model,
        mseloss,
        None,
        None,
        200,
        0.05,
        progress=False,
        objective=LinearMSEObjective(),
        data=stats,
    )
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
