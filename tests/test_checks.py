"""The exercise checkers accept right answers (however written) and name the likely mistake."""

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_workshop import linear_model, model_optimization_loop, mseloss
from dl_workshop.teaching.checks import (
    ExerciseError,
    check_dmseloss,
    check_initialize_linear_params,
    check_linear_model,
    check_mseloss,
    check_optimization_loop,
)

LESSON_X = np.linspace(-5.0, 5.0, 100)
LESSON_Y = 2.0 * LESSON_X + 20.0


def _wb(theta):
    return (theta["w"], theta["b"]) if isinstance(theta, dict) else theta


# ---------------------------------------------------------------------------------------------
# ExerciseError and the checkers' own arguments
# ---------------------------------------------------------------------------------------------


def test_exercise_error_is_an_assertion_error_with_expected_got_and_hint():
    with pytest.raises(AssertionError) as info:
        check_linear_model(lambda theta, x: None, seed=0)
    assert isinstance(info.value, ExerciseError)
    message = str(info.value)
    for part in ("Expected:", "Got:", "Hint:"):
        assert part in message


def test_success_prints_one_line_and_returns_true(capsys):
    assert check_linear_model(lambda theta, x: theta["w"] * x + theta["b"], seed=0) is True
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "linear_model" in out


def test_bad_form_and_seed_are_rejected():
    with pytest.raises(ValueError, match="form must be 'scalar', 'matrix' or 'both'; got 'vector'"):
        check_linear_model(linear_model, form="vector")
    with pytest.raises(TypeError, match="seed must be an integer >= 0; got 'a'"):
        check_mseloss(mseloss, seed="a")


@pytest.mark.parametrize(
    "check, answer",
    [
        (check_linear_model, None),
        (check_initialize_linear_params, None),
        (check_mseloss, None),
        (check_dmseloss, None),
        (check_optimization_loop, None),
    ],
)
def test_none_instead_of_a_function_is_explained(check, answer):
    with pytest.raises(ExerciseError, match="is still None"):
        check(answer)


def test_fresh_inputs_on_every_call_unless_seeded():
    seen = []

    def spy(theta, x):
        seen.append(np.asarray(x).copy())
        return theta["w"] * x + theta["b"]

    check_linear_model(spy)
    check_linear_model(spy)
    assert not np.array_equal(seen[0], seen[len(seen) // 2])
    seen.clear()
    check_linear_model(spy, seed=3)
    check_linear_model(spy, seed=3)
    np.testing.assert_array_equal(seen[0], seen[len(seen) // 2])


def test_a_function_that_special_cases_the_lesson_data_is_caught():
    def memorised(theta, x):
        return 2.0 * x + 20.0  # the lesson's true line, whatever theta says

    with pytest.raises(ExerciseError, match="from the theta and x passed in"):
        check_linear_model(memorised)


# ---------------------------------------------------------------------------------------------
# linear_model
# ---------------------------------------------------------------------------------------------


def _tuple_model(theta, x):
    w, b = theta
    return w * x + b


def _dot_model(theta, x):
    w, b = theta
    return jnp.dot(x, w) + b


@pytest.mark.parametrize(
    "answer, form",
    [
        (lambda theta, x: theta["w"] * x + theta["b"], "scalar"),
        (_tuple_model, "scalar"),
        (_dot_model, "both"),
        (lambda theta, x: x @ theta["w"] + theta["b"], "matrix"),
        (linear_model, "both"),
    ],
)
def test_linear_model_right_answers_are_accepted(answer, form):
    assert check_linear_model(answer, form=form) is True


def test_linear_model_pass_left_in():
    def linear_model_stub(theta, x):
        pass

    with pytest.raises(ExerciseError, match=r"returns None: replace `pass` with `return"):
        check_linear_model(linear_model_stub)


def test_linear_model_forgot_b():
    with pytest.raises(ExerciseError, match="you forgot to add the bias b"):
        check_linear_model(lambda theta, x: theta["w"] * x)


def test_linear_model_minus_b():
    with pytest.raises(ExerciseError, match="the bias has the wrong sign"):
        check_linear_model(lambda theta, x: theta["w"] * x - theta["b"])


def test_linear_model_w_and_b_swapped():
    def swapped(theta, x):
        b, w = theta
        return w * x + b

    with pytest.raises(ExerciseError, match=r"w and b are swapped: theta is \(w, b\)"):
        check_linear_model(swapped)


def test_linear_model_w_times_x_in_matrix_form():
    with pytest.raises(ExerciseError, match=r"w \* x cannot work: use a matrix product, x @ w"):
        check_linear_model(lambda theta, x: theta["w"] * x + theta["b"], form="matrix")


def test_linear_model_w_matmul_x_in_matrix_form():
    with pytest.raises(ExerciseError, match=r"wrong way round.*not w @ x"):
        check_linear_model(lambda theta, x: theta["w"] @ x + theta["b"], form="matrix")


def test_linear_model_matmul_in_scalar_form():
    with pytest.raises(ExerciseError, match="scalar form w is a single number"):
        check_linear_model(lambda theta, x: x @ theta["w"] + theta["b"])


def test_linear_model_params_not_first():
    def data_first(x, theta):
        return theta["w"] * x + theta["b"]

    with pytest.raises(ExerciseError, match="parameters must be the first argument"):
        check_linear_model(data_first)


def test_linear_model_sums_the_predictions():
    with pytest.raises(ExerciseError, match="you returned one number"):
        check_linear_model(lambda theta, x: jnp.sum(theta["w"] * x + theta["b"]))


def test_linear_model_python_float_is_not_differentiable():
    def with_float(theta, x):
        return float(theta["w"]) * x + float(theta["b"])

    with pytest.raises(ExerciseError, match=r"float\(\), int\(\), \.item\(\)"):
        check_linear_model(with_float)


def test_linear_model_numpy_call_is_not_differentiable():
    def with_numpy(theta, x):
        return np.dot(x, theta["w"]) + theta["b"]

    with pytest.raises(ExerciseError, match="JAX cannot differentiate through NumPy"):
        check_linear_model(with_numpy)


def test_linear_model_hidden_gradient():
    def frozen(theta, x):
        return jax.lax.stop_gradient(theta["w"]) * x + theta["b"]

    with pytest.raises(ExerciseError, match="values are right but the derivative is not"):
        check_linear_model(frozen)


def test_linear_model_any_exception_becomes_an_exercise_error():
    def broken(theta, x):
        return theta["w"] * x / 0 + undefined_name  # noqa: F821

    with pytest.raises(ExerciseError, match="name 'undefined_name' is not defined"):
        check_linear_model(broken)


def test_linear_model_wrong_signature():
    with pytest.raises(ExerciseError, match=r"the lesson calls it as `linear_model\(theta, x\)`"):
        check_linear_model(lambda theta: theta["w"])


def test_linear_model_not_a_function():
    with pytest.raises(ExerciseError, match="pass the function itself"):
        check_linear_model(np.zeros(3))


def test_a_function_that_never_returns_is_stopped():
    from dl_workshop.teaching.checks.runner import learner_time_limit

    def forever(theta, x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a learner's broad except must not swallow the time limit
                continue

    with learner_time_limit(0.2), pytest.raises(ExerciseError,
                                                match=r"did not finish within 0.2 s"):
        check_linear_model(forever)


# ---------------------------------------------------------------------------------------------
# initialize_linear_params
# ---------------------------------------------------------------------------------------------


def test_init_right_answers_are_accepted():
    npr = np.random

    assert check_initialize_linear_params(lambda: {"w": npr.normal(), "b": npr.normal()})
    assert check_initialize_linear_params(lambda: (npr.normal(), npr.normal()))
    assert check_initialize_linear_params(lambda: npr.normal(size=2).tolist())
    # With the learner's own model, which reads a tuple.
    assert check_initialize_linear_params(lambda: (npr.normal(), npr.normal()), model=_tuple_model)


def test_init_pass_left_in():
    def initialize_linear_params():
        pass

    with pytest.raises(ExerciseError, match="returns None: replace `pass` with `return`"):
        check_initialize_linear_params(initialize_linear_params)


@pytest.mark.parametrize(
    "init, message",
    [
        (lambda: np.random.normal(size=2), r"an array \[w, b\] cannot be unpacked by name"),
        (lambda: {"weight": np.random.normal(), "bias": np.random.normal()}, "cannot use what"),
        (lambda: tuple(np.random.normal(size=3)), "cannot use what initialize_linear_params"),
        (lambda: np.random.normal(), "cannot use what initialize_linear_params returns"),
    ],
)
def test_init_structure_linear_model_cannot_take(init, message):
    with pytest.raises(ExerciseError, match=message):
        check_initialize_linear_params(init)


def test_init_structure_the_learners_own_model_cannot_take():
    with pytest.raises(ExerciseError, match="return the parameters in the structure your"):
        check_initialize_linear_params(
            lambda: {"w": np.random.normal(), "b": np.random.normal()},
            model=lambda theta, x: theta[0] * x + theta[1],
        )


def test_init_constants_are_not_random():
    with pytest.raises(ExerciseError, match="draw the values with a random number generator"):
        check_initialize_linear_params(lambda: {"w": 0.5, "b": -1.0})


def test_init_integers_cannot_be_differentiated():
    with pytest.raises(ExerciseError, match="draw floats"):
        check_initialize_linear_params(
            lambda: {"w": int(np.random.randint(1, 9)), "b": int(np.random.randint(1, 9))}
        )


def test_init_arrays_instead_of_numbers():
    with pytest.raises(ExerciseError, match="w and b are single numbers"):
        check_initialize_linear_params(
            lambda: {"w": np.random.normal(size=3), "b": np.random.normal(size=3)}
        )


def test_init_needs_no_arguments():
    with pytest.raises(ExerciseError, match="with no arguments"):
        check_initialize_linear_params(lambda n: {"w": 1.0, "b": 2.0})


# ---------------------------------------------------------------------------------------------
# mseloss
# ---------------------------------------------------------------------------------------------


def _loss_by_sum(theta, model, x, y):
    residual = y - model(theta, x)
    return jnp.sum(residual**2) / residual.size


@pytest.mark.parametrize(
    "answer",
    [
        mseloss,
        lambda theta, model, x, y: jnp.mean((y - model(theta, x)) ** 2),
        # The residual's sign is harmless: it is squared.
        lambda theta, model, x, y: jnp.mean((model(theta, x) - y) ** 2),
        lambda theta, model, x, y: ((model(theta, x) - y) ** 2).mean(),
        _loss_by_sum,
    ],
)
def test_mseloss_right_answers_are_accepted(answer):
    assert check_mseloss(answer) is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda theta, model, x, y: None, "returns None: replace `pass`"),
        (
            lambda theta, model, x, y: jnp.sum((y - model(theta, x)) ** 2),
            "you sum the squared errors instead of averaging them",
        ),
        (
            lambda theta, model, x, y: jnp.sum(y - model(theta, x)) ** 2,
            "you square the sum of the errors instead of summing the squares",
        ),
        (
            lambda theta, model, x, y: jnp.mean(y - model(theta, x)) ** 2,
            "you square the mean of the errors instead of averaging the squares",
        ),
        (
            lambda theta, model, x, y: jnp.mean(y - model(theta, x)),
            "you average the errors without squaring them",
        ),
        (
            lambda theta, model, x, y: -jnp.mean((y - model(theta, x)) ** 2),
            "the loss is negative",
        ),
        (
            lambda theta, model, x, y: jnp.mean(jnp.abs(y - model(theta, x))),
            "mean absolute error",
        ),
        (
            lambda theta, model, x, y: jnp.sqrt(jnp.mean((y - model(theta, x)) ** 2)),
            "leave out the square root",
        ),
        (
            lambda theta, model, x, y: (y - model(theta, x)) ** 2,
            "one squared error per sample; average them",
        ),
        (
            lambda theta, model, x, y: jnp.sum((y - model(theta, x)) ** 2) / len(y),
            r"you divide by the number of rows \(len\(y\) = 11\)",
        ),
        (
            lambda theta, model, x, y: jnp.mean((y - linear_model(theta, x)) ** 2),
            "ignores its model argument",
        ),
        (
            lambda theta, model, x, y: float(jnp.mean((y - model(theta, x)) ** 2)),
            r"float\(\), int\(\), \.item\(\)",
        ),
        (
            lambda theta, model, x, y: np.mean(np.square(y - model(theta, x))),
            "JAX cannot differentiate through NumPy",
        ),
        (
            lambda model, theta, x, y: jnp.mean((y - model(theta, x)) ** 2),
            r"put the arguments in the order theta, model, x, y.*theta must come first",
        ),
        (
            lambda theta, x, y: jnp.mean((y - linear_model(theta, x)) ** 2),
            r"mseloss\(theta, model, x, y\)",
        ),
        (
            lambda theta, model, x, y: jnp.mean((LESSON_Y[:3] - model(theta, x)[:3]) ** 2),
            "from the arguments passed in",
        ),
    ],
)
def test_mseloss_mistakes_get_their_hint(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_mseloss(answer)


@pytest.mark.parametrize("seed", [*range(0, 400, 7), 910191])
def test_a_loss_on_data_not_passed_in_is_told_so_for_any_inputs(seed):
    # A loss on three hard-coded rows can land within 5% of the right value by chance
    # (seed 910191): it is still told to use its arguments, never that it is "nearly" right.
    def hard_coded(theta, model, x, y):
        return jnp.mean((LESSON_Y[:3] - model(theta, x)[:3]) ** 2)

    with pytest.raises(ExerciseError, match="from the arguments passed in"):
        check_mseloss(hard_coded, seed=seed)


# ---------------------------------------------------------------------------------------------
# dmseloss
# ---------------------------------------------------------------------------------------------


def _learner_mseloss(theta, model, x, y):
    return jnp.mean(jnp.square(model(theta, x) - y))


@pytest.mark.parametrize("answer", [jax.grad(mseloss), jax.grad(_learner_mseloss)])
def test_dmseloss_right_answers_are_accepted(answer):
    assert check_dmseloss(answer) is True


def _manual_gradient(sign=1.0, scale="mean"):
    def gradient(theta, model, x, y):
        w, b = _wb(theta)
        residual = y - model(theta, x)
        divisor = 1.0 if scale == "sum" else residual.size
        if jnp.ndim(w) == 0:
            gw, gb = -2.0 * jnp.sum(residual * x), -2.0 * jnp.sum(residual)
        else:
            gw, gb = -2.0 * x.T @ residual, -2.0 * residual.sum(axis=0)
        gw, gb = sign * gw / divisor, sign * gb / divisor
        return {"w": gw, "b": gb} if isinstance(theta, dict) else (gw, gb)

    return gradient


def _stub(theta, model, x, y):
    pass


@pytest.mark.parametrize(
    "answer, message",
    [
        (_stub, "dmseloss returns None"),
        (mseloss, "dmseloss returns the loss itself"),
        (jax.value_and_grad(mseloss), "that is what jax.value_and_grad returns"),
        (jax.grad(mseloss, argnums=1), "grad differentiates the first argument"),
        (_manual_gradient(sign=-1.0), "the gradient has the wrong sign"),
        (_manual_gradient(scale="sum"), r"11 \(= n\) times too large: your loss sums"),
        (jax.grad(lambda t, m, x, y: 0.5 * mseloss(t, m, x, y)), "half the expected one"),
        (
            jax.grad(
                lambda t, m, x, y: (
                    jnp.mean((y - m(t, x)) ** 2) + float(t["w"] if isinstance(t, dict) else t[0])
                )
            ),
            r"float\(\), int\(\)",
        ),
        (
            lambda theta, model, x, y: (
                tuple(jax.grad(mseloss)(theta, model, x, y).values())
                if isinstance(theta, dict)
                else jax.grad(mseloss)(theta, model, x, y)
            ),
            "the same structure as theta",
        ),
    ],
)
def test_dmseloss_mistakes_get_their_hint(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_dmseloss(answer)


def test_dmseloss_evaluated_instead_of_defined():
    gradient_value = jax.grad(mseloss)({"w": 0.3, "b": 0.5}, linear_model, LESSON_X, LESSON_Y)
    with pytest.raises(ExerciseError, match="not the gradient evaluated at one theta"):
        check_dmseloss(gradient_value)


# ---------------------------------------------------------------------------------------------
# The optimization loop
# ---------------------------------------------------------------------------------------------


def make_loop(
    *,
    fixed_step: float | None = None,
    sign: float = -1.0,
    update: bool = True,
    record: str = "each",
    steps: int | None = None,
    order: str = "losses-first",
    container: str = "dict",
    data: str = "passed",
) -> Callable:
    """A hand-written lesson loop with one switchable mistake."""

    def loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        step_size = step_size if fixed_step is None else fixed_step
        dloss = jax.grad(loss)
        losses = []
        start_loss = loss(theta, model, x, y)
        for _ in range(n_steps if steps is None else steps):
            if record == "each":
                record_x, record_y = (x, y) if data == "passed" else (LESSON_X, LESSON_Y)
                losses.append(float(loss(theta, model, record_x, record_y)))
            elif record == "constant":
                losses.append(float(start_loss))
            grads = dloss(theta, model, x, y)
            if container == "dict":
                new = {k: theta[k] + sign * step_size * grads[k] for k in theta}
            else:
                w, b = theta
                dw, db = grads
                new = (w + sign * step_size * dw, b + sign * step_size * db)
            if update:
                theta = new
        if record == "once":
            losses.append(float(loss(theta, model, x, y)))
        return (losses, theta) if order == "losses-first" else (theta, losses)

    return loop


@pytest.mark.parametrize(
    "answer",
    [
        make_loop(),
        make_loop(container="tuple"),  # fails on dict params, works on tuples
        model_optimization_loop,
    ],
)
def test_loop_right_answers_are_accepted(answer):
    assert check_optimization_loop(answer) is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda theta, model, loss, x, y, n_steps=3000, step_size=0.1: None, "returns None"),
        (make_loop(update=False), "theta is never updated"),
        (make_loop(record="once"), "recorded once instead of at every step"),
        (make_loop(sign=+1.0), r"the update has the wrong sign.*sign of the update does"),
        (make_loop(fixed_step=1.0), r"step_size is ignored.*about 1 times.*too large.*2/L"),
        (make_loop(fixed_step=0.001), r"step_size is ignored.*about 0.001 times"),
        (make_loop(steps=40), "n_steps is ignored.*rather than a fixed number"),
        (make_loop(order="theta-first"), "return the losses first"),
        (make_loop(record="constant"), "rather than appending one value computed before"),
        (make_loop(record="never"), "nothing is recorded"),
        (make_loop(data="global"), "not global variables"),
        (lambda theta, model, loss, x, y, n_steps=3, step_size=0.1: [1.0], "return both the"),
    ],
)
def test_loop_mistakes_get_their_hint(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_optimization_loop(answer)


def test_loop_with_a_crash_inside_is_reported_not_raised():
    def crashing(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        return loss(theta, model, x, y)["w"]

    with pytest.raises(ExerciseError, match="your function raised"):
        check_optimization_loop(crashing)


def test_loop_wrong_signature():
    with pytest.raises(ExerciseError, match="take theta, model, loss, x and y in that order"):
        check_optimization_loop(lambda theta, x, y: ([], theta))


def test_loop_that_never_ends_is_stopped():
    from dl_workshop.teaching.checks.runner import learner_time_limit

    def endless(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        losses = []
        while len(losses) < n_steps:  # never appends
            pass
        return losses, theta

    with learner_time_limit(0.2), pytest.raises(ExerciseError,
                                                match=r"Use `for step in range\(n_steps\):`"):
        check_optimization_loop(endless)


def test_loop_does_not_see_the_checkers_own_theta_mutated():
    def in_place(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        dloss = jax.grad(loss)
        losses = []
        for _ in range(n_steps):
            losses.append(loss(theta, model, x, y))
            grads = dloss(theta, model, x, y)
            theta["w"] = theta["w"] - step_size * grads["w"]
            theta["b"] = theta["b"] - step_size * grads["b"]
        return losses, theta

    assert check_optimization_loop(in_place) is True


# ---------------------------------------------------------------------------------------------
# The functions checkers hand to learner code
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("huber", [False, True])
def test_the_loop_probes_numpy_reference_matches_jax(scaled, huber):
    """The checker's float64 NumPy reference is the loss and gradient of the functions it passes
    to the loop (checked against jax.grad in float64)."""
    from dl_workshop.teaching.checks import probe_functions as probes

    rng = np.random.default_rng(5)
    x, y = rng.uniform(-5, 5, 30), rng.normal(10, 5, 30)
    params = np.array([1.7, -3.2])
    model = probes.scaled_model if scaled else linear_model
    loss = probes.pseudo_huber_loss if huber else mseloss
    with jax.enable_x64():
        theta = {"w": jnp.float64(params[0]), "b": jnp.float64(params[1])}
        value = float(loss(theta, model, x, y))
        grads = jax.grad(loss)(theta, model, x, y)
    ref_value, ref_grad = probes.line_loss_and_grad(params, x, y, scaled=scaled, huber=huber)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose([grads["w"], grads["b"]], ref_grad, rtol=1e-10)


def test_the_probe_models_take_dict_and_tuple_params():
    from dl_workshop.teaching.checks import probe_functions as probes

    x = np.array([0.0, 1.0, 2.0])
    for theta in ({"w": 2.0, "b": 1.0}, (2.0, 1.0)):
        np.testing.assert_allclose(probes.scaled_model(theta, x), 0.5 * 2.0 * x + 2.0 * 1.0)
        np.testing.assert_allclose(probes.sine_model(theta, x), 2.0 * np.sin(x) + 1.0)
    named = {"slope": 2.0, "intercept": 1.0}
    np.testing.assert_allclose(probes.named_line_model(named, x), 2.0 * x + 1.0)


def test_the_bowls_gradients_are_their_slopes():
    from dl_workshop.teaching.checks.probe_functions import BOWLS

    for a, c, gradient in BOWLS:
        assert float(jax.grad(lambda w, a=a, c=c: a * (w - c) ** 2)(0.3)) == pytest.approx(
            float(gradient(0.3))
        )
        assert (a, c) != (1.0, -1.5)  # not the lesson's bowl
