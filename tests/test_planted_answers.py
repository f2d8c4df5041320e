"""Planted answers: realistic wrong answers never pass, and each gets the message that names its
mistake; right answers written in other styles pass.

Each wrong answer carries the word its message must contain. A false pass is the worst failure
a checker can have (a tick tells the learner to move on), so every entry also fails if the
checker accepts it.
"""

import inspect
import re
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpy.random as npr
import pytest
from _planted_loops import MIXUPS, RIGHT_LOOPS, WRONG_LOOPS

from dl_workshop import linear_model, mseloss
from dl_workshop.teaching.checks import (
    ExerciseError,
    check_dmseloss,
    check_initialize_linear_params,
    check_linear_model,
    check_mseloss,
    check_optimization_loop,
)
from dl_workshop.teaching.checks.runner import grad_of as _package_grad_of

#: What a loss that ignores its model argument is told.
CALL_MODEL = "call the `model` argument, not `linear_model`"

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


def _notebook_dict_model(theta, x):
    return theta["w"] * x + theta["b"]


def _notebook_tuple_model(theta, x):
    w, b = theta
    return w * x + b


def _loss_calls_dict_model(theta, model, x, y):
    # The notebook's linear_model (reading a dict) called instead of the model argument.
    return jnp.mean((y - _notebook_dict_model(theta, x)) ** 2)


def _loss_calls_tuple_model(theta, model, x, y):
    return jnp.mean((y - _notebook_tuple_model(theta, x)) ** 2)


def _loss_line_inline(theta, model, x, y):
    w, b = theta["w"], theta["b"]
    return jnp.mean((y - (w * x + b)) ** 2)


def _loss_model_called_on_dict(theta, model, x, y):
    # The model argument is called, but on parameters rebuilt as the lesson's dict.
    w, b = (theta["w"], theta["b"]) if isinstance(theta, dict) else theta
    return jnp.mean((y - model({"w": w, "b": b}, x)) ** 2)


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
        "loss calls the package's linear_model",
        check_mseloss,
        lambda t, m, x, y: jnp.mean((y - linear_model(t, x)) ** 2),
        CALL_MODEL,
    ),
    ("loss calls a dict linear_model", check_mseloss, _loss_calls_dict_model, CALL_MODEL),
    ("loss calls a tuple linear_model", check_mseloss, _loss_calls_tuple_model, CALL_MODEL),
    ("loss computes the line itself", check_mseloss, _loss_line_inline, CALL_MODEL),
    ("loss rebuilds theta for the model", check_mseloss, _loss_model_called_on_dict, CALL_MODEL),
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
    # the optimization loop: tests/_planted_loops.py
    *[(name, check_optimization_loop, loop, word) for name, loop, word in WRONG_LOOPS],
]


def test_the_table_is_large_enough():
    assert len(WRONG) >= 80
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


@pytest.mark.parametrize("seed", range(1, 21))
@pytest.mark.parametrize("answer, word", [m[1:] for m in MIXUPS], ids=[m[0] for m in MIXUPS])
def test_a_gradient_mix_up_names_the_right_parameter_on_every_seed(answer, word, seed):
    with pytest.raises(ExerciseError) as info:
        check_optimization_loop(answer, seed=seed)
    assert word in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "check, answer, words",
    [
        (partial(check_linear_model, form="matrix"), lambda t, x: t["w"] * x, "matrix"),
        (partial(check_linear_model, form="matrix"), lambda t, x: x @ t["w"], "matrix"),
        (partial(check_linear_model, form="matrix"), None, "matrix"),
        (check_linear_model, lambda t, x: t["w"] * x, "scalar"),
        (check_linear_model, lambda x, t: t["w"] * x + t["b"], "scalar"),
        (partial(check_linear_model, form="both"), lambda t, x: t["w"] * x + t["b"], "matrix"),
    ],
)
def test_a_failure_names_the_exercise_it_checks(check, answer, words):
    """A matrix-form check is the exercise linear_model_matrix, and says so."""
    name = {"matrix": "linear_model_matrix", "scalar": "linear_model"}[words]
    with pytest.raises(ExerciseError) as info:
        check(answer, seed=3)
    assert str(info.value).startswith(f"{name} is not right yet."), str(info.value)
    if words == "scalar":
        assert "linear_model_matrix" not in str(info.value)


def test_a_loop_message_names_its_exercise():
    with pytest.raises(ExerciseError) as info:
        check_optimization_loop(WRONG_LOOPS[1][1], seed=3)
    assert str(info.value).startswith("model_optimization_loop is not right yet.")


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


RIGHT = [
    ("model dict", check_linear_model, lambda theta, x: theta["w"] * x + theta["b"]),
    ("model tuple", check_linear_model, _model_tuple),
    ("model comprehension", check_linear_model, _model_comprehension),
    ("init tuple", check_initialize_linear_params, lambda: (npr.normal(), npr.normal())),
    ("loss np.mean on JAX arrays", check_mseloss, _loss_np_mean),
    ("loss (y_pred - y), .mean()", check_mseloss, lambda t, m, x, y: ((m(t, x) - y) ** 2).mean()),
    ("gradient of the learner's loss", check_dmseloss, jax.grad(_loss_np_mean)),
    *[(name, check_optimization_loop, loop) for name, loop in RIGHT_LOOPS],
]


@pytest.mark.parametrize("check, answer", [row[1:] for row in RIGHT], ids=[r[0] for r in RIGHT])
def test_right_answer_passes(check, answer):
    assert check(answer) is True


# ---------------------------------------------------------------------------------------------
# The contract with a grader that runs learner code elsewhere
# ---------------------------------------------------------------------------------------------


class _Proxy:
    """A learner's function as a grader in another process sees it: called with plain data or
    functions, it answers plain data (NumPy arrays); it refuses JAX tracers, except inside
    ``grad_of``, which the other process would evaluate."""

    inside_grad_of = False

    def __init__(self, fn):
        self.fn = fn
        self.__signature__ = inspect.signature(fn)

    def __call__(self, *args, **kwargs):
        if not _Proxy.inside_grad_of:
            leaves = jax.tree_util.tree_leaves((args, kwargs))
            assert not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves), (
                "a checker traced a learner's function outside grad_of"
            )
        result = self.fn(*args, **kwargs)
        if _Proxy.inside_grad_of:
            return result
        return jax.tree_util.tree_map(
            lambda leaf: np.asarray(leaf) if isinstance(leaf, jax.Array) else leaf, result
        )


def _grad_of_elsewhere(fn, argnums=0, *, cotangent=None):
    # The package's own grad_of (bound at import, before the fixture replaces it), called where
    # the "learner's code" runs: only there may a proxy see tracers.
    def gradient(*args, **kwargs):
        _Proxy.inside_grad_of = True
        try:
            return _package_grad_of(fn, argnums, cotangent=cotangent)(*args, **kwargs)
        finally:
            _Proxy.inside_grad_of = False

    return gradient


@pytest.fixture
def learner_code_elsewhere(monkeypatch):
    import dl_workshop.teaching.checks.runner as runner

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("dl_workshop.teaching.checks") and hasattr(
            module, "grad_of"
        ):
            monkeypatch.setattr(module, "grad_of", _grad_of_elsewhere)
    assert runner.grad_of is _grad_of_elsewhere


@pytest.mark.parametrize("check, answer", [row[1:] for row in RIGHT], ids=[r[0] for r in RIGHT])
def test_right_answer_passes_as_a_proxy(check, answer, learner_code_elsewhere):
    assert check(_Proxy(answer)) is True


@pytest.mark.parametrize(
    "check, answer, word",
    [row[1:] for row in WRONG if callable(row[2])],
    ids=[row[0] for row in WRONG if callable(row[2])],
)
def test_wrong_answer_fails_with_its_word_as_a_proxy(check, answer, word, learner_code_elsewhere):
    with pytest.raises(ExerciseError) as info:
        check(_Proxy(answer), seed=7)
    assert word in str(info.value), str(info.value)


def test_the_learners_model_given_to_the_init_check_as_a_proxy(learner_code_elsewhere):
    init = _Proxy(lambda: (npr.normal(), npr.normal()))
    assert check_initialize_linear_params(init, model=_Proxy(_notebook_tuple_model)) is True
