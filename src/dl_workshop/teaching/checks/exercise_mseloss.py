"""The checker of ``mseloss(theta, model, x, y)``, the mean squared error."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe, unpack_linear_params
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks.compare import (
    _as_float_array,
    _close,
    _flat,
    _known_mistake,
    _show_params,
)
from dl_workshop.teaching.checks.inputs import _linear_loss_cases, _LossCase, _model_probe_cases
from dl_workshop.teaching.checks.probe_functions import sine_model
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _first_line,
    _require_callable,
    _require_signature,
    _success,
    grad_of,
)

_EXERCISE = "mseloss"
_ARGUMENT_NAMES = ("theta", "model", "x", "y")

#: Relative tolerance of the loss value. A float32 mean of these few squares is within about
#: 2e-6 of the float64 reference (the residuals are >= 1 against targets <= 30), while float16
#: arithmetic is off by 1e-4 to 5e-4, and "nearly right" answers by more: tests pin both sides.
_VALUE_RTOL = 1e-5

#: A wrong loss within this fraction of the right one is "nearly" right (float16, a rounding,
#: a small extra term): the values must agree to the comparison's 1e-4.
_NEARLY = 0.05

#: Shifts of w tried, in order, until the line and the sine model give clearly different losses.
_W_SHIFTS = (0.0, 2.0, -2.0, 4.0)


def check_mseloss(fn: Callable[[Any, Any, Any, Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``mseloss(theta, model, x, y)`` against the reference.

    Draws fresh random data on every call and compares the loss value (a scalar) and its
    gradient with respect to ``theta``, for dict and tuple params, one and several outputs, and
    two models other than ``linear_model``, one of them with parameters of its own (so the loss
    must call its ``model`` argument; one that calls ``linear_model`` is told so). The sign of
    the residual does not matter: ``(y_pred - y) ** 2`` is accepted.

    Args:
        fn: the learner's function ``fn(theta, model, x, y) -> scalar``.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``;
            by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> import jax.numpy as jnp
        >>> from dl_workshop.teaching.checks import check_mseloss
        >>> def mseloss(theta, model, x, y):
        ...     return jnp.mean((y - model(theta, x)) ** 2)
        >>> check_mseloss(mseloss, seed=0)  # doctest: +ELLIPSIS
        ✓ mseloss ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking(_EXERCISE, seed=seed) as rng:
        _require_callable(fn, _EXERCISE, hints.MSELOSS_DEFINITION)
        _require_signature(fn, _EXERCISE, hints.MSELOSS_CALL, None, None, None, None)
        linear_cases = _linear_loss_cases(rng)
        cases = [*linear_cases, *_model_probe_cases(rng)]
        for case in cases:
            _check_loss_value(fn, case, linear_cases[0])
        for case in linear_cases:
            _check_loss_gradient(fn, case)
        return _success(hints.MSELOSS_SUCCESS.format(n_cases=len(cases)))


def _args(case: _LossCase) -> tuple[Any, Any, Any, Any]:
    return (case.theta, case.model, case.x, case.y)


def _check_loss_value(fn: Callable[..., Any], case: _LossCase, scalar: _LossCase) -> None:
    """The loss runs, returns one number and the mean squared error's value (``scalar``: the
    scalar dict case, on which a loss that ignores its model is told so)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = hints.EXPECTED_LOSS.format(value=case.loss)
    outcome = _attempt(fn, *_args(case))
    if not outcome.ok:
        got = hints.GOT_CASE_ERROR.format(case=case.description)
        # Trying other arguments would let a function that never ends run 23 times more.
        if not isinstance(outcome.value, TimeoutError):
            _require_theta_first(fn, case)
            _require_model_called(fn, case, scalar, expected, got, outcome.value)
        raise _error_fail(_EXERCISE, expected, got, outcome.value)
    if outcome.value is None:
        raise _fail(_EXERCISE, expected, "None", hints.HINT_LOSS_RETURNS_NONE)
    got = _as_float_array(outcome.value)
    if got is None:
        raise _fail(_EXERCISE, expected, describe(outcome.value), hints.HINT_LOSS_NUMBER)
    if got.shape != ():
        hint = hints.HINT_PER_SAMPLE if got.shape == np.shape(case.y) else hints.HINT_LOSS_SCALAR
        raise _fail(_EXERCISE, expected, hints.GOT_ARRAY_SHAPE.format(shape=got.shape), hint)
    if not _close(got, case.loss, rtol=_VALUE_RTOL):
        hint = _loss_value_hint(fn, got, case, scalar)
        raise _fail(_EXERCISE, expected, _got_loss(got, case), hint)


def _require_theta_first(fn: Callable[..., Any], case: _LossCase) -> None:
    """A loss that fails as called but gives the right value with its arguments in another
    order has them in that order."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    args = _args(case)
    for order in itertools.permutations(range(len(args))):
        if order == tuple(range(len(args))):
            continue
        permuted = _attempt(fn, *(args[i] for i in order))
        if permuted.ok and permuted.value is not None:
            got = _as_float_array(permuted.value)
            if got is not None and got.size == 1 and _close(got.ravel()[0], case.loss):
                theirs = ", ".join(_ARGUMENT_NAMES[i] for i in order)
                raise _fail(
                    _EXERCISE,
                    hints.EXPECTED_THETA_FIRST,
                    hints.GOT_PERMUTED.format(order=theirs),
                    hints.HINT_ARGUMENT_ORDER,
                )


def _got_loss(got: np.ndarray, case: _LossCase) -> str:
    """The wrong loss value, with its ratio to the right one (when that is not 0)."""
    near = case.loss and abs(float(got) / case.loss - 1.0) < _NEARLY
    # A ratio of about 1 would print as "1 x": the hint gives the difference instead.
    ratio = hints.GOT_RATIO.format(ratio=float(got) / case.loss) if case.loss and not near else ""
    return hints.GOT_LOSS_VALUE.format(value=float(got), ratio=ratio, case=case.description)


def _require_model_called(
    fn: Callable[..., Any],
    case: _LossCase,
    scalar: _LossCase,
    expected: str,
    got: str,
    exc: BaseException,
) -> None:
    """A loss that raised ``exc`` and ignores its model argument is told to call it: it raised
    with another model (whose parameters ``linear_model`` cannot read), after giving the right
    loss with ``linear_model``; or it gives the same value whatever model it is given."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if case.model is not linear_model:  # the linear cases before this one passed
        hint = hints.HINT_FAILS_OTHER_MODEL.format(error=_first_line(exc))
    elif _ignores_model(fn, scalar):
        hint = hints.HINT_IGNORES_MODEL
    else:
        return
    raise _fail(_EXERCISE, expected, f"{got}{_first_line(exc)}", hint)


def _loss_value(fn: Callable[..., Any], *args: Any) -> np.ndarray | None:
    """The loss ``fn(*args)`` as one number, or None if it raised or returned something else."""
    outcome = _attempt(fn, *args)
    value = _as_float_array(outcome.value) if outcome.ok else None
    return value if value is not None and value.shape == () else None


def _telling_params(case: _LossCase) -> tuple[float, float]:
    """``w, b`` near the case's whose losses under ``linear_model`` and under ``sine_model``
    differ by more than a fraction ``_NEARLY``, so that a loss that ignores its model shows."""
    w, b = (float(value) for value in unpack_linear_params(case.theta))
    for shift in _W_SHIFTS:
        line = float(np.mean((case.y - ((w + shift) * case.x + b)) ** 2))
        sine = float(np.mean((case.y - ((w + shift) * np.sin(case.x) + b)) ** 2))
        if not _close(line, sine, rtol=_NEARLY):
            break
    return w + shift, b


def _ignores_model(fn: Callable[..., Any], case: _LossCase) -> bool:
    """Whether the loss gives the same value with ``linear_model`` and with another model
    (:func:`~dl_workshop.teaching.checks.probe_functions.sine_model`), for dict or tuple params,
    where
    the two models' losses differ: it then calls ``linear_model`` whatever model it is given.
    ``case``: a scalar-form case."""
    w, b = _telling_params(case)
    for theta in ({"w": w, "b": b}, (w, b)):
        with_line = _loss_value(fn, theta, linear_model, case.x, case.y)
        with_sine = _loss_value(fn, theta, sine_model, case.x, case.y)
        answered = with_line is not None and with_sine is not None
        if answered and _close(with_sine, with_line, rtol=_VALUE_RTOL):
            return True
    return False


def _loss_value_hint(
    fn: Callable[..., Any], got: np.ndarray, case: _LossCase, scalar: _LossCase
) -> str:
    """The known mistake whose value ``got`` is, else the likely one."""
    known = _known_mistake(got, _loss_mistakes(case.residual))
    if known is not None:
        return known
    if case.model is not linear_model and _ignores_model(fn, scalar):
        return hints.HINT_IGNORES_MODEL
    if _ignores_x_or_y(fn, got, case):
        return hints.HINT_LOSS_FROM_ARGUMENTS
    off = abs(float(got) / case.loss - 1.0) if case.loss else np.inf
    if off < _NEARLY:
        return hints.HINT_LOSS_NEARLY.format(percent=100 * off)
    return hints.HINT_LOSS_FROM_ARGUMENTS


def _ignores_x_or_y(fn: Callable[..., Any], got: np.ndarray, case: _LossCase) -> bool:
    """Whether the loss keeps its value when ``x`` or ``y`` is shifted: it then reads that data
    from somewhere other than its arguments (a global, a hard-coded array)."""
    shifted_y = (case.theta, case.model, case.x, case.y + 1.0)
    shifted_x = (case.theta, case.model, case.x + 1.0, case.y)
    for args in (shifted_y, shifted_x):
        outcome = _attempt(fn, *args)
        value = _as_float_array(outcome.value) if outcome.ok else None
        if value is not None and value.shape == () and _close(value, got, rtol=_VALUE_RTOL):
            return True
    return False


def _loss_mistakes(residual: np.ndarray) -> list[tuple[float, str]]:
    """The values of the usual wrong losses for these residuals, each with its hint."""
    mean_sq = float(np.mean(residual**2))
    mistakes = [
        (float(np.sum(residual**2)), hints.HINT_SUM_OF_SQUARES),
        (float(np.sum(residual) ** 2), hints.HINT_SQUARE_OF_SUM),
        (float(np.mean(residual) ** 2), hints.HINT_SQUARE_OF_MEAN),
        (float(np.mean(residual)), hints.HINT_NOT_SQUARED),
        (-float(np.mean(residual)), hints.HINT_NOT_SQUARED),
        (float(np.mean(np.abs(residual))), hints.HINT_ABSOLUTE),
        (float(np.sqrt(mean_sq)), hints.HINT_ROOT),
        (mean_sq / 2, hints.HINT_HALVED),
        (-mean_sq, hints.HINT_NEGATIVE),
    ]
    if residual.ndim == 2:
        rows = residual.shape[0]
        per_row = hints.HINT_PER_ROW.format(rows=rows, size=residual.size)
        mistakes.insert(0, (float(np.sum(residual**2) / rows), per_row))
    return mistakes


def _check_loss_gradient(fn: Callable[..., Any], case: _LossCase) -> None:
    """jax.grad of the loss runs and gives the reference gradient."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    outcome = _attempt(grad_of(fn), *_args(case))
    if not outcome.ok:
        raise _error_fail(
            _EXERCISE,
            hints.EXPECTED_DIFFERENTIABLE_LOSS,
            hints.GOT_GRAD_MSELOSS_FAILED,
            outcome.value,
        )
    if not _close(_flat(outcome.value), _flat(case.grad), rtol=1e-3):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_LOSS_GRADIENT.format(
                gradient=_show_params(case.grad), case=case.description
            ),
            _show_params(outcome.value),
            hints.HINT_LOSS_HIDDEN_GRADIENT,
        )
