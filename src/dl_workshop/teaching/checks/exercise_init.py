"""The checker of ``initialize_linear_params()``: random starting values the model takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dl_workshop._validation import describe
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks.compare import _as_float_array, _same_values
from dl_workshop.teaching.checks.inputs import _N_MODEL, _containers, _signed
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    _attempt,
    _error_fail,
    _error_hint,
    _fail,
    _first_line,
    _require_callable,
    _success,
    grad_of,
)

_EXERCISE = "initialize_linear_params"

#: Part of Python's TypeError for a call that leaves out an argument.
_MISSING_ARGUMENT = "required positional argument"


def check_initialize_linear_params(
    fn: Callable[[], Any],
    *,
    model: Callable[[Any, Any], Any] | None = None,
    seed: int | None = None,
) -> bool:
    """Check the learner's ``initialize_linear_params()``: random starting values ``model`` takes.

    First checks that ``model`` returns something (an unfinished model is named as the fault),
    then calls ``fn()`` twice and checks that it returns numbers (floats, so ``jax.grad`` can
    differentiate them) in a structure ``model`` accepts, giving one prediction per input, and
    that two calls give different random values.

    Args:
        fn: the learner's function, called with no arguments, returning ``theta``.
        model: the ``linear_model`` the parameters must work with; pass the learner's own to
            check the two fit together. Default: the package's :func:`~dl_workshop.linear_model`.
        seed: draw the same random data as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> import numpy.random as npr
        >>> from dl_workshop.teaching.checks import check_initialize_linear_params
        >>> def initialize_linear_params():
        ...     return {"w": npr.normal(), "b": npr.normal()}
        >>> check_initialize_linear_params(initialize_linear_params)  # doctest: +ELLIPSIS
        ✓ initialize_linear_params ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking(_EXERCISE, seed=seed) as rng:
        _require_callable(fn, _EXERCISE, hints.INIT_DEFINITION)
        model = linear_model if model is None else model
        if not callable(model):  # the checker's argument, named under this exercise
            raise _fail(
                _EXERCISE, hints.EXPECTED_MODEL_ARGUMENT, describe(model), hints.HINT_NOT_CALLABLE
            )
        x = np.sort(rng.uniform(-5.0, 5.0, _N_MODEL))
        # The learner's own model may be unfinished: then it, not the parameters, is at fault.
        _require_model_predicts(model, x)
        theta = _first_params(fn)
        leaves = _require_numbers(theta)
        prediction = _require_model_takes(model, theta, leaves, x)
        _require_one_prediction_per_input(prediction, theta, len(x))
        _require_finite_floats(theta, leaves)
        _require_fresh_values(fn, theta)
        y = x * float(_signed(rng, 1.0, 3.0)) + float(_signed(rng, 2.0, 9.0))
        _require_differentiable(theta, model, x, y)
        return _success(hints.INIT_SUCCESS.format(kind=type(theta).__name__))


def _require_model_predicts(model: Callable[..., Any], x: np.ndarray) -> None:
    """A model that returns None for dict and tuple parameters alike is still a stub."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    outcomes = [_attempt(model, theta, x) for _, theta in _containers(1.5, -0.5)]
    if all(outcome.ok and outcome.value is None for outcome in outcomes):
        raise _fail(
            _EXERCISE, hints.EXPECTED_MODEL_PREDICTS, hints.GOT_MODEL_NONE, hints.HINT_FINISH_MODEL
        )


def _first_params(fn: Callable[[], Any]) -> Any:
    """The learner's first ``theta``: ``fn()`` must run without arguments and return something."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    first = _attempt(fn)
    if not first.ok:
        exc = first.value
        if isinstance(exc, TypeError) and _MISSING_ARGUMENT in str(exc):
            hint = hints.HINT_NO_ARGUMENTS
        else:
            hint = _error_hint(exc, _EXERCISE)
        got = f"{hints.GOT_AN_ERROR}{_first_line(exc)}"
        raise _fail(_EXERCISE, hints.EXPECTED_START, got, hint)
    if first.value is None:
        raise _fail(_EXERCISE, hints.EXPECTED_START, "None", hints.HINT_INIT_RETURNS_NONE)
    return first.value


def _require_numbers(theta: Any) -> list[Any]:
    """The leaves of ``theta``, each of them a number (or an array of numbers)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    leaves = jax.tree_util.tree_leaves(theta)
    for leaf in leaves:
        array = _as_float_array(leaf) if not isinstance(leaf, (str, bytes)) else None
        if array is None:
            raise _fail(
                _EXERCISE, hints.EXPECTED_START, describe(theta), hints.HINT_NOT_A_NUMBER
            )
    return leaves


def _require_model_takes(
    model: Callable[..., Any], theta: Any, leaves: list[Any], x: np.ndarray
) -> Any:
    """``model(theta, x)``'s predictions, when theta is two single numbers the model takes."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    prediction = _attempt(model, theta, x)
    scalar_leaves = all(np.size(leaf) == 1 for leaf in leaves)
    if prediction.ok and scalar_leaves:
        return prediction.value
    is_array = isinstance(theta, (np.ndarray, jax.Array))
    if not scalar_leaves and not is_array:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_TWO_NUMBERS.format(expected=hints.EXPECTED_START),
            describe(theta),
            hints.HINT_SINGLE_NUMBERS,
        )
    advice = hints.ADVICE_ARRAY if is_array else hints.ADVICE_STRUCTURE
    raise _fail(
        _EXERCISE,
        hints.EXPECTED_MODEL_TAKES.format(expected=hints.EXPECTED_START),
        hints.GOT_MODEL_RAISED.format(theta=describe(theta), error=_first_line(prediction.value)),
        hints.HINT_MODEL_CANNOT_USE.format(advice=advice),
    )


def _require_one_prediction_per_input(prediction: Any, theta: Any, n: int) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    predicted = _as_float_array(prediction)
    if predicted is None or predicted.shape != (n,):
        if predicted is None:
            got = hints.GOT_NO_ARRAY
        else:
            got = hints.GOT_SHAPE.format(shape=predicted.shape)
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_ONE_PER_INPUT.format(n=n),
            hints.GOT_FROM_MODEL.format(got=got, theta=describe(theta)),
            hints.HINT_SINGLE_NUMBERS,
        )


def _require_finite_floats(theta: Any, leaves: list[Any]) -> None:
    """Floats, because jax.grad differentiates only floats, and finite ones."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    for leaf in leaves:
        dtype = np.asarray(leaf).dtype
        if dtype.kind not in "f":
            raise _fail(
                _EXERCISE,
                hints.EXPECTED_FLOATS,
                hints.GOT_DTYPE.format(theta=describe(theta), dtype=dtype),
                hints.HINT_DRAW_FLOATS,
            )
        if not np.all(np.isfinite(np.asarray(leaf, dtype=float))):
            raise _fail(_EXERCISE, hints.EXPECTED_FINITE, describe(theta), hints.HINT_DRAW_FINITE)


def _require_fresh_values(fn: Callable[[], Any], theta: Any) -> None:
    """A second call gives other values: the function draws them instead of writing constants."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    second = _attempt(fn)
    if second.ok and _same_values(theta, second.value):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_DIFFERENT,
            hints.GOT_SAME_TWICE.format(theta=describe(theta)),
            hints.HINT_DRAW_RANDOM,
        )


def _require_differentiable(theta: Any, model: Callable[..., Any], x: Any, y: Any) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    gradient = _attempt(grad_of(mseloss), theta, model, x, y)
    if not gradient.ok:
        raise _error_fail(
            _EXERCISE,
            hints.EXPECTED_DIFFERENTIABLE_PARAMS,
            hints.GOT_GRAD_MSELOSS_FAILED,
            gradient.value,
        )
