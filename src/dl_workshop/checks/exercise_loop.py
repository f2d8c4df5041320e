"""The checker of the optimization loop ``loop(theta, model, loss, x, y, n_steps=...)``."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import describe, unpack_linear_params
from dl_workshop.checks import hints
from dl_workshop.checks.compare import _as_float_array, _close, _same_structure, _same_values
from dl_workshop.checks.inputs import _check_seed, _containers, _signed
from dl_workshop.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _Outcome,
    _require_callable,
    _success,
)
from dl_workshop.losses import mseloss
from dl_workshop.model import linear_model

_EXERCISE = "the optimization loop"

#: Steps the optimization-loop checker asks for: few, so that a slow Python loop stays quick.
_LOOP_STEPS = 25

#: Samples of the loop's data (fixed, so that JAX compiles once; not the lesson's 100).
_N_LOOP = 30

#: Recorded losses are compared loosely: the learner's loss may run in float32.
_LOSS_RTOL = 1e-3


class _LoopData(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    w0: float  # the starting parameters, away from the line the data scatter around
    b0: float


class _FirstStep(NamedTuple):
    theta0: Any  # the starting theta the loop accepted (dict, else tuple)
    theta1: Any  # theta after one step
    loss0: float  # the loss at theta0 and at theta1
    loss1: float
    delta: np.ndarray  # theta1 - theta0 as [w, b]
    grad0: np.ndarray  # the gradient at theta0 as [d/dw, d/db]


def check_optimization_loop(
    fn: Callable[..., tuple[Any, Any]],
    *,
    seed: int | None = None,
) -> bool:
    """Check the learner's optimization loop ``fn(theta, model, loss, x, y, n_steps=...)``.

    Runs the loop on fresh random data with :func:`~dl_workshop.linear_model` and
    :func:`~dl_workshop.mseloss`, for 1 step and for a few (25) steps (few, so that a slow Python
    loop still checks quickly), and checks that it returns ``(losses, theta)`` with one loss per
    step, that the first step moves theta downhill, that the recorded losses are the losses of
    the parameters along the way, and that the loss falls. A diverging loop is told whether its
    step size is above the largest stable one, ``2 / L``.

    Args:
        fn: the learner's loop, ``fn(theta, model, loss, x, y, n_steps=...) -> (losses, theta)``,
            with its own step size. It is given dict params, and tuple params if dicts fail.
        seed: make the random inputs reproducible (tests); by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the loop is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.

    Example:
        >>> from dl_workshop import model_optimization_loop
        >>> from dl_workshop.checks import check_optimization_loop
        >>> check_optimization_loop(model_optimization_loop, seed=0)  # doctest: +ELLIPSIS
        ✓ the optimization loop ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    rng = _check_seed(seed)
    _require_callable(fn, _EXERCISE, hints.LOOP_DEFINITION)
    _require_loop_signature(fn)
    data = _loop_data(rng)
    # One step first: it reveals the update's direction and size without a long run.
    first = _first_step(fn, data)
    losses, final_loss = _full_run(fn, first.theta0, data)
    _require_no_divergence(losses, final_loss, first, data)
    _require_recorded_losses(losses, first)
    message = hints.LOOP_SUCCESS.format(start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS)
    return _success(message)


def _require_loop_signature(fn: Callable[..., Any]) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    try:
        inspect.signature(fn).bind(None, None, None, None, None, n_steps=1)
    except TypeError:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_LOOP_CALL,
            hints.GOT_SIGNATURE.format(signature=inspect.signature(fn)),
            hints.HINT_LOOP_SIGNATURE,
        ) from None
    except ValueError:  # no signature to read (some builtins): just try calling it
        pass


def _loop_data(rng: np.random.Generator) -> _LoopData:
    x = np.sort(rng.uniform(-5.0, 5.0, _N_LOOP))
    w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 5.0, 20.0))
    y = w_true * x + b_true + rng.normal(size=_N_LOOP)
    w0, b0 = w_true + float(_signed(rng, 1.0, 2.0)), b_true + float(_signed(rng, 2.0, 5.0))
    return _LoopData(x, y, w0, b0)


def _wb(theta: Any) -> np.ndarray:
    w, b = unpack_linear_params(theta)
    return np.array([np.asarray(w, dtype=float).item(), np.asarray(b, dtype=float).item()])


def _scalar_loss_and_grad(theta: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error of the scalar-form line and its gradient ``[d/dw, d/db]`` (NumPy)."""
    w, b = _wb(theta)
    residual = y - (w * x + b)
    upstream = -2.0 * residual / residual.size
    return float(np.mean(residual**2)), np.array([np.sum(upstream * x), np.sum(upstream)])


def _loop_result(fn: Callable[..., Any], theta: Any, data: _LoopData, n_steps: int) -> _Outcome:
    # A deep copy: a loop that updates theta in place must not change the checker's copy.
    theta = copy.deepcopy(theta)
    return _attempt(fn, theta, linear_model, mseloss, data.x, data.y, n_steps=n_steps)


def _first_step(fn: Callable[..., Any], data: _LoopData) -> _FirstStep:
    """One step, with dict params (tuple params if dicts fail): one loss, theta moves downhill."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    attempts = []
    for _label, theta0 in _containers(data.w0, data.b0):
        outcome = _loop_result(fn, theta0, data, 1)
        attempts.append((theta0, outcome))
        if outcome.ok:
            break
    theta0, one_step = attempts[-1]
    if not one_step.ok:
        exc = attempts[0][1].value
        raise _error_fail(_EXERCISE, hints.EXPECTED_LOOP_RESULT, hints.GOT_AN_ERROR, exc)
    losses1, theta1 = _unpack_loop_result(one_step.value, theta0, 1)
    if len(losses1) != 1:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_ONE_LOSS,
            hints.GOT_N_LOSSES.format(n=len(losses1)),
            _loop_length_hint(len(losses1), 1),
        )
    if _same_values(theta1, theta0):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_THETA_CHANGE,
            hints.GOT_UNCHANGED,
            hints.HINT_THETA_NOT_UPDATED,
        )
    return _require_downhill(theta0, theta1, data)


def _require_downhill(theta0: Any, theta1: Any, data: _LoopData) -> _FirstStep:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    loss0, grad0 = _scalar_loss_and_grad(theta0, data.x, data.y)
    loss1, _ = _scalar_loss_and_grad(theta1, data.x, data.y)
    delta = np.subtract(_wb(theta1), _wb(theta0))
    if float(np.dot(delta, grad0)) > 0:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_DOWNHILL.format(loss=loss0),
            hints.GOT_UPHILL.format(loss=loss1),
            hints.HINT_UPDATE_SIGN,
        )
    return _FirstStep(theta0, theta1, loss0, loss1, delta, grad0)


def _unpack_loop_result(value: Any, theta0: Any, n_steps: int) -> tuple[np.ndarray, Any]:
    """``(losses, theta)`` from what the loop returned: the losses as an array of numbers."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = hints.EXPECTED_PAIR.format(n_steps=n_steps)
    if value is None:
        raise _fail(_EXERCISE, expected, "None", hints.HINT_LOOP_RETURNS_NONE)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _fail(_EXERCISE, expected, describe(value), hints.HINT_RETURN_BOTH)
    losses, theta = value
    if _same_structure(losses, theta0) and not _same_structure(theta, theta0):
        raise _fail(_EXERCISE, expected, hints.GOT_SWAPPED_RESULT, hints.HINT_LOSSES_FIRST)
    array = _as_float_array(losses)
    if array is None:
        got = hints.GOT_LOSSES.format(losses=describe(losses))
        raise _fail(_EXERCISE, expected, got, hints.HINT_LOSSES_NUMBERS)
    if not _attempt(_wb, theta).ok:
        got = hints.GOT_THETA.format(theta=describe(theta))
        raise _fail(_EXERCISE, expected, got, hints.HINT_RETURN_THETA)
    return np.atleast_1d(array), theta


def _loop_length_hint(got: int, n_steps: int) -> str:
    if got == 0:
        return hints.HINT_NOTHING_RECORDED
    if got == 1 and n_steps > 1:
        return hints.HINT_RECORDED_ONCE
    return hints.HINT_N_STEPS.format(got=got, n_steps=n_steps)


def _full_run(fn: Callable[..., Any], theta0: Any, data: _LoopData) -> tuple[np.ndarray, float]:
    """A few steps from ``theta0``: one loss per step; the losses and the final theta's loss."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    run = _loop_result(fn, theta0, data, _LOOP_STEPS)
    if not run.ok:
        expected = hints.EXPECTED_RESULT_AFTER.format(n_steps=_LOOP_STEPS)
        raise _error_fail(_EXERCISE, expected, hints.GOT_AN_ERROR, run.value)
    losses, theta = _unpack_loop_result(run.value, theta0, _LOOP_STEPS)
    if len(losses) != _LOOP_STEPS:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_LOSS_PER_STEP.format(n_steps=_LOOP_STEPS),
            hints.GOT_N_LOSSES_OR_ONE.format(n=len(losses)),
            _loop_length_hint(len(losses), _LOOP_STEPS),
        )
    final_loss, _ = _scalar_loss_and_grad(theta, data.x, data.y)
    return losses, final_loss


def _require_no_divergence(
    losses: np.ndarray, final_loss: float, first: _FirstStep, data: _LoopData
) -> None:
    """Finite losses, and a final loss no higher than the start's."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if not np.all(np.isfinite(losses)) or not np.isfinite(final_loss) or final_loss > first.loss0:
        got = hints.GOT_LOSS_GREW.format(start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS)
        raise _fail(_EXERCISE, hints.EXPECTED_LOSS_TO_FALL, got, _divergence_hint(first, data))


def _divergence_hint(first: _FirstStep, data: _LoopData) -> str:
    """Whether the first step's size is above 2 / L, the largest stable one on this data."""
    x = data.x
    hessian = 2.0 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    curvature = float(np.max(np.linalg.eigvalsh(hessian)))
    step = -float(np.dot(first.delta, first.grad0)) / float(np.dot(first.grad0, first.grad0))
    if step > 2.0 / curvature:
        return hints.HINT_STEP_TOO_LARGE.format(
            step=step, limit=2 / curvature, curvature=curvature, suggested=1 / curvature
        )
    return hints.HINT_LOSS_GROWS


def _require_recorded_losses(losses: np.ndarray, first: _FirstStep) -> None:
    """The losses recorded are those of theta along the way, and they fall."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if np.ptp(losses) == 0:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_CURRENT_LOSS,
            hints.GOT_SAME_LOSS.format(loss=losses[0]),
            hints.HINT_LOSS_INSIDE_LOOP,
        )
    first_loss = losses[0]
    if not (
        _close(first_loss, first.loss0, rtol=_LOSS_RTOL)
        or _close(first_loss, first.loss1, rtol=_LOSS_RTOL)
    ):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_FIRST_LOSS.format(start=first.loss0, after=first.loss1),
            hints.GOT_LOSS.format(loss=first_loss),
            hints.HINT_LOSS_ARGUMENTS,
        )
    if not losses[-1] < losses[0]:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_RECORDED_FALL,
            hints.GOT_FROM_TO.format(start=losses[0], end=losses[-1]),
            hints.HINT_RECORD_CURRENT,
        )
