"""Divergence is caught inside the compiled loop, whatever goes bad, with advice that works."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _reference import hand_written_gd

from dl_workshop import DivergenceError, fit, linear_model, mseloss
from dl_workshop.fitting.optimization import EXPLODE_FACTOR
from dl_workshop.lesson.data import make_y, x

Y = make_y(x, seed=0)


def test_an_exploding_but_finite_loss_is_caught_before_it_overflows():
    reference = hand_written_gd(0.0, 0.0, x, Y, 60, 1.0)[0]
    threshold = EXPLODE_FACTOR * max(reference[0], 1.0)
    first_bad = int(np.argmax(reference > threshold))
    assert np.all(np.isfinite(reference[: first_bad + 1]))
    assert reference[first_bad] < np.finfo(np.float32).max  # finite in float32 too
    with pytest.raises(DivergenceError, match=rf"diverged at step {first_bad}\b") as info:
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, 3000, 1.0, progress=False)
    result = info.value.result
    assert result.n_steps == first_bad and len(result.losses) == first_bad
    np.testing.assert_allclose(result.losses, reference[:first_bad], rtol=1e-4)


def loss_with_nan_gradient_beyond(limit):
    """MSE plus a term that is 0 in value but whose gradient is NaN once w > limit."""

    def loss(theta, model, xs, ys):
        kink = 0.0 * jnp.sqrt(jnp.maximum(limit - theta["w"], 0.0))  # d/dw = 0 * inf = NaN
        return mseloss(theta, model, xs, ys) + kink

    return loss


def test_nan_in_the_gradient_alone_is_caught_and_the_last_finite_parameters_kept():
    loss = loss_with_nan_gradient_beyond(1.5)
    with pytest.raises(DivergenceError, match=r"diverged at step \d+") as info:
        fit({"w": 0.0, "b": 0.0}, linear_model, loss, x, Y, 3000, 0.01, progress=False)
    err = info.value
    assert 0 < err.step < 3000
    w = float(err.result.theta["w"])
    # The kept parameters are the last ones whose gradient was finite: w below the kink, and
    # the next step of plain gradient descent from them crosses it.
    assert w <= 1.5
    reference = hand_written_gd(0.0, 0.0, x, Y, err.step, 0.01)[0]
    np.testing.assert_allclose(err.result.losses, reference, rtol=1e-4)
    assert np.all(np.isfinite(err.result.losses))


def test_a_gradient_that_is_bad_at_the_start_is_blamed_on_the_model_not_the_step_size():
    loss = loss_with_nan_gradient_beyond(0.0)
    with pytest.raises(DivergenceError, match=r"step 0: the loss is finite .* gradient has NaN"):
        fit({"w": 0.0, "b": 0.0}, linear_model, loss, x, Y, 100, 0.01, progress=False)

    def log_loss(theta, model, xs, ys):
        return jnp.mean(jnp.log(model(theta, xs)))

    with pytest.raises(DivergenceError, match=r"step 0: the loss is nan .*check theta") as info:
        fit({"w": 0.0, "b": -1.0}, linear_model, log_loss, x, Y, 100, 0.01, progress=False)
    assert info.value.step == 0 and info.value.suggested_step_size is None
    assert info.value.result.n_steps == 0 and float(info.value.result.theta["b"]) == -1.0


def test_divergence_with_an_optax_optimizer_suggests_a_learning_rate_that_works():
    with pytest.raises(DivergenceError, match=r"learning_rate = [\d.]+ \(1/L\) with optax.sgd"):
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, 3000, optimizer=optax.sgd(1.0))
    with pytest.raises(DivergenceError) as info:
        fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, 3000, optimizer=optax.sgd(1.0))
    result = fit(
        {"w": 0.0, "b": 0.0},
        linear_model,
        mseloss,
        x,
        Y,
        3000,
        optimizer=optax.sgd(info.value.suggested_step_size),
    )
    w_ls, b_ls = np.polyfit(x, Y, 1)
    np.testing.assert_allclose([result.theta["w"], result.theta["b"]], [w_ls, b_ls], rtol=1e-3)


def test_adam_started_at_the_solution_is_not_mistaken_for_divergence():
    xs = np.linspace(-1, 1, 50)
    theta = {"w": 2.0, "b": 1.0}  # the exact solution: the first loss is rounding noise

    def loss(params, model, xs, ys):  # the general path, where the first loss is ~1e-15
        return mseloss(params, model, xs, ys)

    result = fit(theta, linear_model, loss, xs, 2 * xs + 1, 200, optimizer=optax.adam(0.1))
    assert result.status == "max_steps" and np.all(np.isfinite(result.losses))
    # Adam's first steps move by about the learning rate: a huge *relative* jump in the loss.
    assert result.losses[0] < 1e-10 and result.losses.max() > 1e-4


def test_the_standardize_advice_fixes_badly_scaled_features():
    rng = np.random.default_rng(0)
    xs = np.column_stack([rng.normal(0, 1, 200), rng.normal(500, 100, 200)])
    ys = xs @ np.array([1.5, -0.02]) + 3.0 + 0.1 * rng.normal(size=200)
    theta = {"w": np.zeros(2), "b": 0.0}
    with pytest.raises(DivergenceError, match=r"or standardize the features"):
        fit(theta, linear_model, mseloss, xs, ys, 2000, 0.05, progress=False)
    mean, std = xs.mean(axis=0), xs.std(axis=0)
    result = fit(theta, linear_model, mseloss, (xs - mean) / std, ys, 2000, 0.05)
    design = np.column_stack([xs, np.ones(len(xs))])
    expected = design @ np.linalg.lstsq(design, ys, rcond=None)[0]
    predicted = np.asarray(linear_model(result.theta, (xs - mean) / std))
    np.testing.assert_allclose(predicted, expected, rtol=1e-3, atol=1e-3)
