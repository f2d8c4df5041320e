"""The chapter's answers (``dl_workshop.answers``): the polynomial lesson, noise, the MSE and
logistic regression, with the behaviours the chapter's notebooks rely on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dl_workshop
from dl_workshop import answers
from dl_workshop.answers import (
    binary_cross_entropy,
    df,
    dlogistic_loss,
    f,
    initialize_linear_params,
    logistic,
    logistic_loss,
    logistic_model,
    make_y,
    model_optimization_loop,
    mse,
    noise,
    x,
)
from dl_workshop.lesson.losses import mse as losses_mse

CHAPTER_NAMES = [
    "f",
    "df",
    "noise",
    "mse",
    "logistic",
    "logistic_model",
    "binary_cross_entropy",
    "logistic_loss",
    "dlogistic_loss",
]


@pytest.mark.parametrize("name", CHAPTER_NAMES)
def test_every_chapter_name_is_an_answer_and_the_package_s_own(name):
    assert name in answers.__all__
    assert getattr(answers, name) is getattr(dl_workshop, name)
    assert name in dl_workshop.__all__


def test_mse_is_the_one_implementation():
    assert mse is losses_mse
    assert float(mse([1.0, 2.0], [1.0, 4.0])) == 2.0


# --- the polynomial ---------------------------------------------------------------------------


@pytest.mark.parametrize("w", [-3.0, -1.5, 0.0, 2.5, 10.0])
def test_f_and_df_are_the_polynomial_and_its_derivative(w):
    assert f(w) == pytest.approx(w**2 + 3 * w - 5)
    assert df(w) == pytest.approx(2 * w + 3)
    assert float(jax.grad(f)(w)) == pytest.approx(df(w))


def test_f_and_df_take_numbers_arrays_and_lists():
    assert f(2.5) == 8.75 and isinstance(f(2.5), float)
    values = np.array([-1.5, 0.0, 1.0])
    np.testing.assert_allclose(f(values), values**2 + 3 * values - 5)
    np.testing.assert_allclose(df(values), 2 * values + 3)
    np.testing.assert_allclose(np.asarray(f([0.0, 1.0])), [-5.0, -1.0])
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(values))), df(values))


@pytest.mark.parametrize("bad", ["2", None, True])
def test_f_rejects_what_is_not_a_number(bad):
    with pytest.raises(TypeError, match=r"^w must be numeric"):
        f(bad)


def test_gradient_descent_on_f_finds_the_minimum_by_hand_and_with_grad():
    w = 10.0
    for _ in range(1000):
        w = w - df(w) * 0.01
    assert w == pytest.approx(-1.5, abs=1e-6)
    dfdw = jax.grad(f)
    w = -10.0
    for _ in range(300):
        w = w - dfdw(w) * 0.05
    assert float(w) == pytest.approx(-1.5, abs=1e-4)


# --- noise and the global generator --------------------------------------------------------


@pytest.mark.parametrize(("shape", "expected"), [(100, (100,)), ((41, 20), (41, 20)), ((), ())])
def test_noise_has_the_shape_asked_for(shape, expected):
    assert np.shape(noise(shape)) == expected


def test_noise_is_standard_normal():
    draws = noise(20_000, seed=1)
    assert draws.dtype == np.float64
    assert abs(draws.mean()) < 0.03 and abs(draws.std() - 1.0) < 0.03


@pytest.mark.parametrize(
    ("shape", "error", "match"),
    [
        (-1, ValueError, r"shape must be an integer >= 0 or a tuple of them"),
        ((3, -2), ValueError, r"shape must be an integer >= 0 or a tuple of them"),
        (2.5, TypeError, r"shape must be an integer >= 0 or a tuple of them, e.g. 100 or \(41, 20\); got 2.5"),  # noqa: E501
        ("10", TypeError, r"shape must be an integer"),
        (True, TypeError, r"shape must be an integer"),
    ],
)
def test_noise_rejects_bad_shapes(shape, error, match):
    with pytest.raises(error, match=match):
        noise(shape)


def _draws():
    """What the lesson draws without seeds: parameters (both forms), targets, noise."""
    theta = initialize_linear_params()
    matrix = initialize_linear_params(3, 2)
    return theta, matrix["w"], make_y(x), noise((4, 2))


def test_np_random_seed_makes_unseeded_draws_repeatable():
    np.random.seed(0)
    first = _draws()
    np.random.seed(0)
    second = _draws()
    assert first[0] == second[0]
    for a, b in zip(first[1:], second[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    np.random.seed(1)
    assert _draws()[0] != first[0]


def test_unseeded_draws_are_the_global_generator_s():
    np.random.seed(7)
    theta = initialize_linear_params()
    np.random.seed(7)
    assert theta == {"w": np.random.normal(), "b": np.random.normal()}
    clean = make_y(x, 2.0, 20.0, noise=0.0)
    np.random.seed(7)
    added = make_y(x, 2.0, 20.0) - clean
    np.random.seed(7)
    np.testing.assert_allclose(added, np.random.normal(size=x.shape), rtol=0, atol=1e-12)


def test_seeded_draws_neither_use_nor_move_the_global_generator():
    np.random.seed(3)
    expected_next = np.random.normal()
    np.random.seed(3)
    seeded = (initialize_linear_params(seed=5), make_y(x, seed=5), noise(3, seed=5))
    assert np.random.normal() == expected_next
    assert seeded[0] == initialize_linear_params(seed=5)
    np.testing.assert_array_equal(seeded[2], np.random.default_rng(5).normal(size=3))


# --- logistic regression ---------------------------------------------------------------------


def test_logistic_is_the_sigmoid_and_stable():
    z = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(np.asarray(logistic(z)), 1 / (1 + np.exp(-z)), rtol=1e-6)
    extreme = np.asarray(logistic(np.array([-1000.0, 1000.0])))
    assert extreme.tolist() == [0.0, 1.0]
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda v: logistic(v))(50.0))))


def test_logistic_model_scalar_and_matrix_forms():
    xs = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(
        np.asarray(logistic_model({"w": 2.0, "b": 1.0}, xs)), 1 / (1 + np.exp(-(2 * xs + 1))),
        rtol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(logistic_model((2.0, 1.0), xs)), np.asarray(logistic_model({"w": 2, "b": 1}, xs))
    )
    inputs = np.random.default_rng(0).normal(size=(6, 3))
    w, b = np.array([0.5, -1.0, 2.0]), 0.3
    np.testing.assert_allclose(
        np.asarray(logistic_model({"w": w, "b": b}, inputs)), 1 / (1 + np.exp(-(inputs @ w + b))),
        rtol=1e-5,
    )  # fmt: skip
    two_out = logistic_model({"w": np.ones((3, 2)), "b": np.zeros(2)}, inputs)
    assert two_out.shape == (6, 2)


def _reference_log_likelihood(y, p):
    return float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_binary_cross_entropy_is_the_summed_log_likelihood():
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.99, 0.45])
    assert float(binary_cross_entropy(y, p)) == pytest.approx(_reference_log_likelihood(y, p), 1e-5)
    assert float(binary_cross_entropy(y, y * 0.999999 + 5e-7)) <= 0
    column = y.reshape(-1, 1)
    assert float(binary_cross_entropy(column, p.reshape(-1, 1))) == pytest.approx(
        _reference_log_likelihood(y, p), 1e-5
    )


def test_binary_cross_entropy_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"y must have the same shape as the model's predictions; got y of shape \(4,\) and predictions of shape \(4, 1\)"):  # noqa: E501
        binary_cross_entropy(np.zeros(4), np.full((4, 1), 0.5))


def test_logistic_loss_is_the_negative_summed_log_likelihood():
    xs = np.linspace(-3, 3, 20)
    y = (xs > 0.3).astype(int)
    theta = {"w": 1.5, "b": -0.2}
    p = 1 / (1 + np.exp(-(1.5 * xs - 0.2)))
    expected = -_reference_log_likelihood(y, p)
    assert float(logistic_loss(theta, logistic_model, xs, y)) == pytest.approx(expected, 1e-5)
    # Through another model (the clipped path), the same value.
    def my_logistic_model(theta, x):
        return logistic(theta["w"] * x + theta["b"])

    assert float(logistic_loss(theta, my_logistic_model, xs, y)) == pytest.approx(expected, 1e-5)
    # Summed, not averaged: twice the data, twice the loss.
    doubled = logistic_loss(theta, logistic_model, np.r_[xs, xs], np.r_[y, y])
    assert float(doubled) == pytest.approx(2 * expected, 1e-5)


def test_dlogistic_loss_is_its_gradient():
    xs = np.linspace(-3, 3, 20)
    y = (xs > 0.3).astype(int)
    theta = {"w": 1.5, "b": -0.2}
    p = 1 / (1 + np.exp(-(1.5 * xs - 0.2)))
    grads = dlogistic_loss(theta, logistic_model, xs, y)
    assert set(grads) == {"w", "b"}
    assert float(grads["w"]) == pytest.approx(float(np.sum((p - y) * xs)), rel=1e-4)
    assert float(grads["b"]) == pytest.approx(float(np.sum(p - y)), rel=1e-4)
    tuple_grads = dlogistic_loss((1.5, -0.2), logistic_model, xs, y)
    assert isinstance(tuple_grads, tuple)


def test_saturated_logistic_regression_has_a_finite_exact_loss_and_gradient():
    xs = np.array([-60.0, -1.0, 1.0, 60.0], dtype=np.float32)
    y = np.array([1, 0, 1, 0])  # both far points are wrong, with certainty in float32
    theta = {"w": jnp.float32(2.0), "b": jnp.float32(0.0)}
    assert np.asarray(logistic_model(theta, xs)).tolist()[::3] == [0.0, 1.0]
    value = float(logistic_loss(theta, logistic_model, xs, y))
    # From the logits: each far point costs softplus(120) = 120, exactly.
    assert value == pytest.approx(2 * 120 + 2 * np.log1p(np.exp(-2.0)), rel=1e-5)
    grads = dlogistic_loss(theta, logistic_model, xs, y)
    assert all(np.isfinite(float(g)) for g in grads.values())
    # The exact gradient sum((p - y) x), with p computed in float64.
    p = 1 / (1 + np.exp(-2.0 * xs.astype(float)))
    assert float(grads["w"]) == pytest.approx(float(np.sum((p - y) * xs)), rel=1e-4)
    assert float(grads["b"]) == pytest.approx(float(np.sum(p - y)), abs=1e-4)


def _neural_network(theta, x):
    hidden = jnp.tanh(x @ theta["w1"] + theta["b1"])
    return logistic(hidden @ theta["w2"] + theta["b2"])


def _network_case(scale):
    rng = np.random.default_rng(0)
    params = {
        "w1": jnp.asarray(noise((41, 20), seed=1) * scale, jnp.float32),
        "b1": jnp.asarray(noise((20,), seed=2), jnp.float32),
        "w2": jnp.asarray(noise((20, 1), seed=3) * scale, jnp.float32),
        "b2": jnp.asarray(noise((1,), seed=4), jnp.float32),
    }
    inputs = rng.normal(size=(50, 41)).astype(np.float32) * 10
    labels = rng.integers(0, 2, size=(50, 1))  # (n, 1) integers, as a DataFrame's .values
    return params, inputs, labels


@pytest.mark.parametrize("scale", [0.1, 10.0])  # 10: the output saturates at 0 and 1
def test_a_neural_network_with_four_arrays_and_integer_column_targets(scale):
    params, inputs, labels = _network_case(scale)
    probabilities = np.asarray(_neural_network(params, inputs))
    if scale > 1:
        assert np.any(probabilities == 0.0) and np.any(probabilities == 1.0)
    value = logistic_loss(params, _neural_network, inputs, labels)
    assert np.isfinite(float(value)) and float(value) >= 0
    grads = dlogistic_loss(params, _neural_network, inputs, labels)
    assert set(grads) == {"w1", "b1", "w2", "b2"}
    for name, grad in grads.items():
        assert grad.shape == params[name].shape
        assert np.all(np.isfinite(np.asarray(grad))), name
    # A saturated wrong prediction costs at most -log(eps) per point.
    assert float(value) <= labels.size * -np.log(np.finfo(np.float32).eps) + 1e-3


def test_the_chapter_loop_trains_the_network():
    params, inputs, labels = _network_case(0.1)
    losses, trained = model_optimization_loop(
        params, _neural_network, logistic_loss, inputs, labels, n_steps=300, step_size=0.001
    )
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert set(trained) == {"w1", "b1", "w2", "b2"}


def test_the_chapter_logistic_regression_runs_as_written():
    np.random.seed(0)
    xs = np.linspace(-5, 5, 100)
    z = 2 * xs + 1 + np.random.random(size=len(xs))
    y_true = np.round(logistic(z))
    theta = initialize_linear_params()
    losses, theta = model_optimization_loop(
        theta, logistic_model, logistic_loss, xs, y_true, n_steps=5000, step_size=0.0001
    )
    assert losses.shape == (5000,) and losses[-1] < losses[0]
    # The boundary -b/w lies where the labels switch (z = 0 at about x = -0.75).
    boundary = -float(theta["b"]) / float(theta["w"])
    switch = xs[np.argmax(np.asarray(y_true) > 0.5)]
    assert abs(boundary - switch) < 0.3
