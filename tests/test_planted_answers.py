"""Planted answers: realistic wrong answers never pass, and each gets the message that names its
mistake; right answers written in other styles pass.

Each wrong answer carries the word its message must contain. A false pass is the worst failure
a checker can have (a tick tells the learner to move on), so every entry also fails if the
checker accepts it.
"""

import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.random as npr
import pytest

from dl_workshop import linear_model, model_optimization_loop, mseloss
from dl_workshop.checks import (
    ExerciseError,
    check_dmseloss,
    check_initialize_linear_params,
    check_linear_model,
    check_mseloss,
    check_optimization_loop,
)

LESSON_X = np.linspace(-5.0, 5.0, 100)
LESSON_Y = 2.0 * LESSON_X + 20.0

# ---------------------------------------------------------------------------------------------
# Wrong answers
# ---------------------------------------------------------------------------------------------


def _model_stub(theta, x):
    pass


def _model_swapped(theta, x):
    b, w = theta
    return w * x + b


def _model_data_first(x, theta):
    return theta["w"] * x + theta["b"]


def _loss_half_percent_off(theta, model, x, y):
    # 0.5% too large, with an exact gradient: only the value check can catch it.
    value = jnp.mean((y - model(theta, x)) ** 2)
    return value + 0.005 * jax.lax.stop_gradient(value)


def _loss_float16(theta, model, x, y):
    residual = jnp.asarray(y, jnp.float16) - model(theta, x).astype(jnp.float16)
    return jnp.mean(residual**2).astype(jnp.float32)


def _gradient_by_hand(sign=1.0, scale="mean"):
    def gradient(theta, model, x, y):
        w, b = (theta["w"], theta["b"]) if isinstance(theta, dict) else theta
        residual = y - model(theta, x)
        divisor = 1.0 if scale == "sum" else residual.size
        if jnp.ndim(w) == 0:
            gw, gb = -2.0 * jnp.sum(residual * x), -2.0 * jnp.sum(residual)
        else:
            gw, gb = -2.0 * x.T @ residual, -2.0 * residual.sum(axis=0)
        gw, gb = sign * gw / divisor, sign * gb / divisor
        return {"w": gw, "b": gb} if isinstance(theta, dict) else (gw, gb)

    return gradient


def _loop(
    *,
    update="both",
    sign_w=-1.0,
    sign_b=-1.0,
    scale_b=1.0,
    gradient_for_b="b",
    gradient_for_w="w",
    record="before",
    return_inside=False,
    gradient_once=False,
    from_start=False,
    momentum=0.0,
    steps=None,
    step_size=None,
):
    """A hand-written lesson loop (dict params, step_size argument) with switchable mistakes."""

    def loop(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
        eta = step_size if fixed_step is None else fixed_step
        dloss = jax.grad(loss)
        losses = []
        start, first_grads = dict(theta), dloss(theta, model, x, y)
        velocity = {"w": 0.0, "b": 0.0}
        first_loss = float(loss(theta, model, x, y))
        for _ in range(n_steps if steps is None else steps):
            if record == "before":
                losses.append(float(loss(theta, model, x, y)))
            elif record == "first":
                losses.append(first_loss)
            grads = first_grads if gradient_once else dloss(theta, model, x, y)
            base = start if from_start else theta
            step = {
                "w": sign_w * eta * grads[gradient_for_w],
                "b": sign_b * scale_b * eta * grads[gradient_for_b],
            }
            velocity = {k: momentum * velocity[k] + step[k] for k in step}
            new = {k: base[k] + velocity[k] for k in base}
            if update == "both":
                theta = new
            elif update in ("w", "b"):
                theta = {**theta, update: new[update]}
            if return_inside:
                return losses, theta
        return losses, theta

    fixed_step = step_size
    return loop


def _loop_without_step_size(step_size):
    def loop(theta, model, loss, x, y, n_steps=3000):
        dloss = jax.grad(loss)
        losses = []
        for _ in range(n_steps):
            losses.append(float(loss(theta, model, x, y)))
            grads = dloss(theta, model, x, y)
            theta = {k: theta[k] - step_size * grads[k] for k in theta}
        return losses, theta

    return loop


def _loop_records_once(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    for _ in range(n_steps):
        grads = dloss(theta, model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return [float(loss(theta, model, x, y))], theta


def _loop_global_data(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    for _ in range(n_steps):
        losses.append(float(loss(theta, model, LESSON_X, LESSON_Y)))
        grads = dloss(theta, model, x, y)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return losses, theta


def _loop_theta_first(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses, theta = _loop()(theta, model, loss, x, y, n_steps=n_steps, step_size=step_size)
    return theta, losses


def _seeded_init():
    rng = np.random.default_rng(0)  # seeded inside: the same "random" values every call
    return {"w": rng.normal(), "b": rng.normal()}


WRONG = [
    # linear_model (12)
    ("model stub", check_linear_model, _model_stub, "replace `pass`"),
    ("model forgot b", check_linear_model, lambda t, x: t["w"] * x, "forgot to add the bias"),
    ("model minus b", check_linear_model, lambda t, x: t["w"] * x - t["b"], "wrong sign"),
    ("model w and b swapped", check_linear_model, _model_swapped, "swapped"),
    ("model sums", check_linear_model, lambda t, x: jnp.sum(t["w"] * x + t["b"]), "one number"),
    ("model float()", check_linear_model, lambda t, x: float(t["w"]) * x + t["b"], "float()"),
    ("model np.dot", check_linear_model, lambda t, x: np.dot(x, t["w"]) + t["b"], "NumPy"),
    ("model data first", check_linear_model, _model_data_first, "first argument"),
    ("model one argument", check_linear_model, lambda theta: theta["w"], "linear_model(theta, x)"),
    ("model memorised", check_linear_model, lambda t, x: 2.0 * x + 20.0, "passed in"),
    (
        "model stop_gradient",
        check_linear_model,
        lambda t, x: jax.lax.stop_gradient(t["w"]) * x + t["b"],
        "derivative",
    ),
    (
        "matrix w * x",
        partial(check_linear_model, form="matrix"),
        lambda t, x: t["w"] * x + t["b"],
        "matrix product",
    ),
    (
        "matrix w @ x",
        partial(check_linear_model, form="matrix"),
        lambda t, x: t["w"] @ x + t["b"],
        "wrong way round",
    ),
    # initialize_linear_params (8)
    ("init stub", check_initialize_linear_params, lambda: None, "replace `pass`"),
    ("init constants", check_initialize_linear_params, lambda: {"w": 0.5, "b": -1.0}, "random"),
    ("init seeded inside", check_initialize_linear_params, _seeded_init, "random"),
    (
        "init integers",
        check_initialize_linear_params,
        lambda: {"w": int(npr.randint(1, 9)), "b": int(npr.randint(1, 9))},
        "draw floats",
    ),
    (
        "init arrays",
        check_initialize_linear_params,
        lambda: {"w": npr.normal(size=3), "b": npr.normal(size=3)},
        "single numbers",
    ),
    ("init array [w, b]", check_initialize_linear_params, lambda: npr.normal(size=2), "by name"),
    ("init takes n", check_initialize_linear_params, lambda n: (1.0, 2.0), "no arguments"),
    (
        "init with an unfinished model",
        partial(check_initialize_linear_params, model=_model_stub),
        lambda: {"w": npr.normal(), "b": npr.normal()},
        "finish linear_model first",
    ),
    # mseloss (14)
    ("loss stub", check_mseloss, lambda t, m, x, y: None, "returns None"),
    ("loss sum", check_mseloss, lambda t, m, x, y: jnp.sum((y - m(t, x)) ** 2), "sum the"),
    ("loss square of sum", check_mseloss, lambda t, m, x, y: jnp.sum(y - m(t, x)) ** 2, "sum"),
    ("loss square of mean", check_mseloss, lambda t, m, x, y: jnp.mean(y - m(t, x)) ** 2, "mean"),
    ("loss not squared", check_mseloss, lambda t, m, x, y: jnp.mean(y - m(t, x)), "squaring"),
    ("loss negative", check_mseloss, lambda t, m, x, y: -jnp.mean((y - m(t, x)) ** 2), "negative"),
    ("loss absolute", check_mseloss, lambda t, m, x, y: jnp.mean(jnp.abs(y - m(t, x))), "absolute"),
    (
        "loss root",
        check_mseloss,
        lambda t, m, x, y: jnp.sqrt(jnp.mean((y - m(t, x)) ** 2)),
        "square root",
    ),
    ("loss per sample", check_mseloss, lambda t, m, x, y: (y - m(t, x)) ** 2, "per sample"),
    ("loss halved", check_mseloss, lambda t, m, x, y: jnp.mean((y - m(t, x)) ** 2) / 2, "halve"),
    (
        "loss ignores model",
        check_mseloss,
        lambda t, m, x, y: jnp.mean((y - linear_model(t, x)) ** 2),
        "ignores its model",
    ),
    (
        "loss np.square",
        check_mseloss,
        lambda t, m, x, y: np.mean(np.square(y - m(t, x))),
        "NumPy",
    ),
    (
        "loss model first",
        check_mseloss,
        lambda m, t, x, y: jnp.mean((y - m(t, x)) ** 2),
        "order theta, model, x, y",
    ),
    ("loss 0.5% off, exact gradient", check_mseloss, _loss_half_percent_off, "nearly"),
    ("loss in float16", check_mseloss, _loss_float16, "nearly"),
    # dmseloss (11)
    ("gradient stub", check_dmseloss, lambda t, m, x, y: None, "returns None"),
    ("gradient is the loss", check_dmseloss, mseloss, "loss itself"),
    ("value_and_grad", check_dmseloss, jax.value_and_grad(mseloss), "value_and_grad"),
    ("grad argnums=1", check_dmseloss, jax.grad(mseloss, argnums=1), "argnums"),
    ("grad argnums=2", check_dmseloss, jax.grad(mseloss, argnums=2), "argnums=2"),
    ("grad argnums=3", check_dmseloss, jax.grad(mseloss, argnums=3), "argnums=3"),
    ("grad argnums=(0, 2)", check_dmseloss, jax.grad(mseloss, argnums=(0, 2)), "argnums"),
    (
        "three-argument gradient",
        check_dmseloss,
        jax.grad(lambda theta, x, y: jnp.mean((y - linear_model(theta, x)) ** 2)),
        "four-argument mseloss",
    ),
    ("gradient sign", check_dmseloss, _gradient_by_hand(sign=-1.0), "wrong sign"),
    ("gradient of a sum", check_dmseloss, _gradient_by_hand(scale="sum"), "times too large"),
    (
        "gradient of half the loss",
        check_dmseloss,
        jax.grad(lambda t, m, x, y: 0.5 * mseloss(t, m, x, y)),
        "half",
    ),
    # the optimization loop (17)
    ("loop stub", check_optimization_loop, lambda t, m, f, x, y, n_steps=3: None, "returns None"),
    ("loop never updates", check_optimization_loop, _loop(update="none"), "theta is never"),
    ("loop never updates b", check_optimization_loop, _loop(update="w"), "b is never updated"),
    ("loop never updates w", check_optimization_loop, _loop(update="b"), "w is never updated"),
    (
        "loop b with w's gradient",
        check_optimization_loop,
        _loop(gradient_for_b="w"),
        "gradient of w",
    ),
    (
        "loop gradients swapped",
        check_optimization_loop,
        _loop(gradient_for_w="b", gradient_for_b="w"),
        "each other's",
    ),
    ("loop climbs in b", check_optimization_loop, _loop(sign_b=+1.0), "b climbs"),
    ("loop climbs", check_optimization_loop, _loop(sign_w=+1.0, sign_b=+1.0), "wrong sign"),
    ("loop two step sizes", check_optimization_loop, _loop(scale_b=2.0), "one step_size"),
    ("loop return inside", check_optimization_loop, _loop(return_inside=True), "inside the for"),
    ("loop first loss each step", check_optimization_loop, _loop(record="first"), "before the"),
    ("loop records once", check_optimization_loop, _loop_records_once, "recorded once"),
    ("loop records nothing", check_optimization_loop, _loop(record="never"), "nothing is"),
    ("loop fixed steps", check_optimization_loop, _loop(steps=40), "n_steps argument"),
    ("loop theta first", check_optimization_loop, _loop_theta_first, "losses first"),
    ("loop global data", check_optimization_loop, _loop_global_data, "global variables"),
    (
        "loop starting gradient",
        check_optimization_loop,
        _loop(gradient_once=True),
        "starting theta",
    ),
    ("loop from the start", check_optimization_loop, _loop(from_start=True), "from the start"),
    ("loop momentum", check_optimization_loop, _loop(momentum=0.9), "later steps"),
    (
        "loop step too large",
        check_optimization_loop,
        _loop_without_step_size(1.0),
        "too large",
    ),
]


def test_the_table_is_large_enough():
    assert len(WRONG) >= 40
    assert len({name for name, *_ in WRONG}) == len(WRONG)
    assert len(RIGHT) >= 10


@pytest.mark.parametrize(
    "check, answer, word", [row[1:] for row in WRONG], ids=[row[0] for row in WRONG]
)
def test_wrong_answer_fails_with_its_word_and_seed(check, answer, word):
    with pytest.raises(ExerciseError) as info:
        check(answer, seed=7)
    message = str(info.value)
    assert word in message, message
    assert re.search(r"seed=7$", message), message


# ---------------------------------------------------------------------------------------------
# Right answers, in other styles
# ---------------------------------------------------------------------------------------------


def _model_tuple(theta, x):
    w, b = theta
    return w * x + b


def _model_comprehension(theta, x):
    return jnp.array([theta["w"] * xi + theta["b"] for xi in x])


def _loss_np_mean(theta, model, x, y):
    # np.mean hands a JAX array to its own .mean(): differentiable.
    return np.mean((y - model(theta, x)) ** 2)


def _loop_tuple(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    w, b = theta
    for _ in range(n_steps):
        losses.append(loss((w, b), model, x, y))
        dw, db = dloss((w, b), model, x, y)
        w, b = w - step_size * dw, b - step_size * db
    return losses, (w, b)


def _loop_in_place(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    for _ in range(n_steps):
        losses.append(loss(theta, model, x, y))
        grads = dloss(theta, model, x, y)
        for name in theta:
            theta[name] -= step_size * grads[name]
    return losses, theta


def _loop_tree_map(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    losses = []
    for _ in range(n_steps):
        value, grads = jax.value_and_grad(loss)(theta, model, x, y)
        losses.append(value)
        theta = jax.tree_util.tree_map(lambda p, g: p - step_size * g, theta, grads)
    return jnp.array(losses), theta


def _loop_records_after(theta, model, loss, x, y, n_steps=3000, step_size=0.001):
    dloss = jax.grad(loss)
    losses = []
    step = 0
    while step < n_steps:
        grads = dloss(theta, model, x, y)
        theta = {"w": theta["w"] - step_size * grads["w"], "b": theta["b"] - step_size * grads["b"]}
        losses.append(float(loss(theta, model, x, y)))
        step += 1
    return losses, theta


RIGHT = [
    ("model dict", check_linear_model, lambda theta, x: theta["w"] * x + theta["b"]),
    ("model tuple", check_linear_model, _model_tuple),
    ("model comprehension", check_linear_model, _model_comprehension),
    ("init tuple", check_initialize_linear_params, lambda: (npr.normal(), npr.normal())),
    ("loss np.mean on JAX arrays", check_mseloss, _loss_np_mean),
    ("loss (y_pred - y), .mean()", check_mseloss, lambda t, m, x, y: ((m(t, x) - y) ** 2).mean()),
    ("gradient of the learner's loss", check_dmseloss, jax.grad(_loss_np_mean)),
    ("loop dict comprehension", check_optimization_loop, _loop()),
    ("loop tuple", check_optimization_loop, _loop_tuple),
    ("loop in-place update", check_optimization_loop, _loop_in_place),
    ("loop tree_map", check_optimization_loop, _loop_tree_map),
    ("loop while, records after", check_optimization_loop, _loop_records_after),
    ("loop own step size", check_optimization_loop, _loop_without_step_size(0.01)),
    ("loop: the package's", check_optimization_loop, model_optimization_loop),
]


@pytest.mark.parametrize("check, answer", [row[1:] for row in RIGHT], ids=[r[0] for r in RIGHT])
def test_right_answer_passes(check, answer):
    assert check(answer) is True
