import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _reference import hand_written_gd

from dl_workshop import (
    DivergenceError,
    DivergenceWarning,
    LinearParams,
    Objective,
    fit,
    fit_objective,
    gradient_descent,
    linear_model,
    model_optimization_loop,
    mseloss,
)
from dl_workshop.lesson.data import b_true, make_y, w_true, x


@pytest.fixture(scope="module")
def y():
    return make_y(x, w_true, b_true, seed=0)


def test_loop_matches_hand_written_gradient_descent_step_for_step(y):
    ref_losses, ref_w, ref_b = hand_written_gd(0.5, -1.0, x, y, 500, 0.01)
    losses, theta = model_optimization_loop(
        {"w": 0.5, "b": -1.0}, linear_model, mseloss, x, y, n_steps=500, step_size=0.01
    )
    assert losses.shape == (500,)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    np.testing.assert_allclose([theta["w"], theta["b"]], [ref_w, ref_b], rtol=1e-5)


def test_lesson_defaults_reduce_loss_and_float64_recovers_truth(y):
    losses, theta = model_optimization_loop(
        {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, n_steps=3000, step_size=0.01
    )
    assert losses[-1] < losses[0] / 100
    assert np.all(np.diff(losses) <= 1e-4)  # gradient descent on a convex bowl never climbs
    w_ls, b_ls = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
    np.testing.assert_allclose([theta["w"], theta["b"]], [w_ls, b_ls], rtol=1e-4)
    assert abs(float(theta["w"]) - w_true) < 0.1 and abs(float(theta["b"]) - b_true) < 0.5


@pytest.mark.parametrize(
    "theta", [{"w": 0.0, "b": 0.0}, (0.0, 0.0), [0.0, 0.0], LinearParams(0.0, 0.0)]
)
def test_container_type_is_preserved_and_input_untouched(theta, y):
    before = repr(theta)
    _, out = model_optimization_loop(theta, linear_model, mseloss, x, y, n_steps=10)
    assert type(out) is type(theta)
    assert repr(theta) == before


def test_optax_optimizer_matches_a_hand_written_optax_loop(y):
    opt = optax.adam(0.1)
    params = {"w": jnp.float32(0.0), "b": jnp.float32(0.0)}
    state = opt.init(params)
    ref = []
    for _ in range(200):
        loss, grads = jax.value_and_grad(mseloss)(params, linear_model, x, y)
        ref.append(float(loss))
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    losses, theta = model_optimization_loop(
        {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, n_steps=200, optimizer=opt
    )
    np.testing.assert_allclose(losses, ref, rtol=1e-4)
    np.testing.assert_allclose(theta["w"], params["w"], rtol=1e-4)


def test_gradient_descent_transformation_is_the_default_loop(y):
    a, _ = model_optimization_loop((0.0, 0.0), linear_model, mseloss, x, y, 100, 0.01)
    b, _ = model_optimization_loop(
        (0.0, 0.0), linear_model, mseloss, x, y, 100, optimizer=gradient_descent(0.01)
    )
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_custom_quadratic_model_is_fitted():
    def quadratic(theta, x):
        return theta["a"] * x**2 + theta["b"] * x + theta["c"]

    xs = np.linspace(-2, 2, 50)
    ys = 0.5 * xs**2 - xs + 3
    losses, theta = model_optimization_loop(
        {"a": 0.0, "b": 0.0, "c": 0.0}, quadratic, mseloss, xs, ys, n_steps=5000, step_size=0.05
    )
    np.testing.assert_allclose([theta["a"], theta["b"], theta["c"]], [0.5, -1, 3], atol=1e-3)
    assert losses[-1] < 1e-6


def test_matrix_form_multi_output_matches_lstsq():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(200, 3))
    w = rng.normal(size=(3, 2))
    ys = xs @ w + np.array([1.0, -2.0]) + 0.1 * rng.normal(size=(200, 2))
    result = fit(
        {"w": np.zeros((3, 2)), "b": np.zeros(2)},
        linear_model,
        mseloss,
        xs,
        ys,
        n_steps=2000,
        step_size=0.1,
        dtype="float64",
    )
    design = np.column_stack([xs, np.ones(200)])
    coef = np.linalg.lstsq(design, ys, rcond=None)[0]
    np.testing.assert_allclose(result.theta["w"], coef[:3], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(result.theta["b"], coef[3], rtol=1e-8, atol=1e-10)
    assert result.losses.dtype == np.float64
    assert not jax.config.jax_enable_x64  # float64 was enabled for that call only


def test_record_every_gives_the_path_aligned_with_losses(y):
    result = fit(
        (0.0, 0.0), linear_model, mseloss, x, y, n_steps=100, step_size=0.01, record_every=10
    )
    np.testing.assert_array_equal(result.path_steps, np.arange(0, 101, 10))
    w_path, b_path = result.path
    assert w_path.shape == (11,)
    # The loss recorded at step k is the loss of the parameters recorded at step k.
    for i, step in enumerate(result.path_steps[:-1]):
        expected = mseloss((w_path[i], b_path[i]), linear_model, x, y)
        np.testing.assert_allclose(result.losses[step], expected, rtol=1e-5)
    np.testing.assert_allclose(w_path[-1], result.theta[0])


def test_tol_stops_early_and_reports_convergence(y):
    result = fit(
        (0.0, 0.0),
        linear_model,
        mseloss,
        x,
        y,
        n_steps=100_000,
        step_size=0.05,
        tol=1e-7,
        patience=3,
    )
    assert result.status == "converged" and result.converged
    assert result.n_steps < 100_000 and len(result.losses) == result.n_steps
    full = fit((0.0, 0.0), linear_model, mseloss, x, y, n_steps=result.n_steps, step_size=0.05)
    np.testing.assert_allclose(result.losses, full.losses, rtol=1e-6)


def test_divergence_names_the_step_and_a_stable_step_size_that_works(y):
    with pytest.raises(DivergenceError, match=r"diverged at step \d+.*2/L = [\d.]+") as info:
        model_optimization_loop({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, step_size=1.0)
    err = info.value
    assert 0 < err.step < 3000
    # For this quadratic loss the Hessian is exact: 2 * [[mean x^2, mean x], [mean x, 1]].
    hessian = 2 * np.array([[np.mean(x**2), np.mean(x)], [np.mean(x), 1.0]])
    np.testing.assert_allclose(
        err.max_stable_step_size, 2 / np.linalg.eigvalsh(hessian)[-1], rtol=1e-3
    )
    assert np.all(np.isfinite(err.result.losses)) and len(err.result.losses) == err.step
    losses, theta = model_optimization_loop(
        {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, step_size=err.suggested_step_size
    )
    assert np.isfinite(losses[-1]) and abs(float(theta["w"]) - 2) < 0.1


def test_divergence_can_warn_instead(y):
    with pytest.warns(DivergenceWarning, match="diverged"):
        result = fit((0.0, 0.0), linear_model, mseloss, x, y, step_size=1.0, on_divergence="warn")
    assert result.status == "diverged"
    assert all(np.isfinite(np.asarray(p)) for p in result.theta)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.ones(5), "y": np.ones(4)}, ValueError, r"same number of samples; got 5 and 4"),
        ({"x": np.ones(0), "y": np.ones(0)}, ValueError, r"x must not be empty"),
        ({"x": ["a", "b"], "y": [1.0, 2.0]}, TypeError, r"x must be numeric"),
        ({"y": [True, False]}, TypeError, r"y must be numeric, not boolean"),
        ({"n_steps": 0}, ValueError, r"n_steps must be an integer >= 1; got 0"),
        ({"step_size": 0.0}, ValueError, r"step_size must be a finite number > 0; got 0.0"),
        ({"step_size": -1}, ValueError, r"step_size must be a finite number > 0; got -1"),
        ({"theta": {"w": 1.0}}, ValueError, r"theta must have keys 'w' and 'b'; missing 'b'"),
        ({"theta": {"w": 1.0, "b": np.nan}}, ValueError, r"theta\['b'\] must be finite"),
        ({"x": [1.0, np.inf], "y": [1.0, 2.0]}, ValueError, r"x must be finite; got 1 NaN"),
        ({"optimizer": "adam"}, TypeError, r"optimizer must be an optax.GradientTransformation"),
        ({"tol": -1.0}, ValueError, r"tol must be a finite number > 0"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, error, match):
    args = {"theta": {"w": 0.0, "b": 0.0}, "x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]}
    args.update(kwargs)
    theta, xs, ys = args.pop("theta"), args.pop("x"), args.pop("y")
    with pytest.raises(error, match=match):
        model_optimization_loop(theta, linear_model, mseloss, xs, ys, **args)


def test_integer_data_is_accepted():
    losses, theta = model_optimization_loop(
        (0, 0), linear_model, mseloss, np.arange(10), 2 * np.arange(10) + 1, 3000, 0.01
    )
    np.testing.assert_allclose([theta[0], theta[1]], [2, 1], atol=1e-2)


def test_parameter_shapes_that_do_not_fit_the_model_are_explained():
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\) to match w"):
        fit({"w": np.ones(3), "b": 0.0}, linear_model, mseloss, np.ones((5, 2)), np.ones(5))

    def bad_model(theta, x):
        return jnp.dot(theta["w"], x)  # a learner's shape bug, failing inside JAX

    with pytest.raises(ValueError, match=r"could not be evaluated on theta with shapes"):
        fit({"w": np.ones(3)}, bad_model, mseloss, np.ones((5, 2)), np.ones(5))


def test_a_repeated_fit_neither_retraces_nor_skips_the_shape_check():
    traces = []

    def model(theta, xs):
        traces.append(xs.shape)  # runs only while JAX traces
        return theta["w"] * xs + theta["b"]

    xs = np.linspace(0.0, 1.0, 20)
    theta = {"w": 0.0, "b": 0.0}
    fit(theta, model, mseloss, xs, 2 * xs, 50, 0.1, progress=False)
    first = len(traces)
    assert first >= 1
    fit(theta, model, mseloss, xs, 3 * xs, 50, 0.1, progress=False)
    assert len(traces) == first  # same shapes: the shape check and the compiled loop are reused
    # New shapes are checked again: a mismatch is still reported, not hidden by the cache.
    with pytest.raises(ValueError, match="same number of samples|could not be evaluated"):
        fit(theta, model, mseloss, np.ones((20, 2)), np.ones(21), 50, 0.1, progress=False)
    with pytest.raises(ValueError, match="could not be evaluated"):
        fit({"w": np.ones(3), "b": 0.0}, model, mseloss, np.ones((20, 2)), np.ones(20), 5, 0.1)


def _quadratic_value(params, t, data):
    del t
    a, b = data
    return 0.5 * jnp.sum((a @ params - b) ** 2)


def _quadratic_value_and_grad(params, t, data):
    return jax.value_and_grad(_quadratic_value)(params, t, data)


def test_an_objectives_value_is_what_line_searches_evaluate():
    """``Objective(value_and_grad, value)``: L-BFGS's line search evaluates ``value`` (traced
    when the loop compiles), the steps ``value_and_grad``; the fit equals the one of the bare
    function, which line searches evaluate through ``value_and_grad``."""
    traced = []

    def value(params, t, data):
        traced.append(t)
        return _quadratic_value(params, t, data)

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=20)
    with jax.enable_x64(True):
        data = (jnp.asarray(a), jnp.asarray(b))
        options = dict(n_steps=50, optimizer=optax.lbfgs(), progress=False, dtype="float64")
        bare = fit_objective(_quadratic_value_and_grad, jnp.zeros(3), data, **options)
        assert traced == []
        with_value = fit_objective(Objective(_quadratic_value_and_grad, value), jnp.zeros(3),
                                   data, **options)
    assert traced, "the line search never evaluated the objective's value"
    exact = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(with_value.theta), exact, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(with_value.theta), np.asarray(bare.theta), rtol=1e-9,
                               atol=1e-12)
