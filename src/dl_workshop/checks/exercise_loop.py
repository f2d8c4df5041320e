"""The checker of the optimization loop ``loop(theta, model, loss, x, y, n_steps=...)``."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe
from dl_workshop.checks import hints, hints_steps, loop_steps
from dl_workshop.checks.compare import _as_float_array, _close, _same_structure, _same_values
from dl_workshop.checks.inputs import _containers, _signed
from dl_workshop.checks.loop_steps import EXERCISE as _EXERCISE
from dl_workshop.checks.loop_steps import FirstStep, LoopData, loss_and_grad, wb
from dl_workshop.checks.registry import checking
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

_NAME = "model_optimization_loop"

#: Steps the optimization-loop checker asks for: few, so that a slow Python loop stays quick.
_LOOP_STEPS = 25

#: Samples of the loop's data (fixed, so that JAX compiles once; not the lesson's 100).
_N_LOOP = 30

#: Recorded losses are compared loosely: the learner's loss may run in float32.
_LOSS_RTOL = 1e-3

#: The starting point is drawn again (at most this often) until both gradient entries are
#: larger than 1 and differ by a factor of 1.5 or more, so that a mix-up of the two shows.
_MAX_DRAWS = 50
_MIN_GRADIENT = 1.0
_MIN_GRADIENT_RATIO = 1.5

#: The step size given to a loop with a ``step_size`` argument, as a fraction of 2 / L.
_STEP_FRACTION = 0.25


def check_optimization_loop(
    fn: Callable[..., tuple[Any, Any]],
    *,
    seed: int | None = None,
) -> bool:
    """Check the learner's optimization loop ``fn(theta, model, loss, x, y, n_steps=...)``.

    Runs the loop on fresh random data with :func:`~dl_workshop.linear_model` and
    :func:`~dl_workshop.mseloss`, for 1, 2 and a few (25) steps (few, so that a slow Python
    loop still checks quickly), and checks that it returns ``(losses, theta)`` with one loss per
    step; that after one step every parameter moved against its own gradient with one step size
    (inferred from the step; a loop with a ``step_size`` argument is given one); that the second
    step starts where the first ended and uses the gradient there; that the run ends where
    gradient descent with that step size ends; and that the recorded losses are those of the
    parameters along the way. A diverging loop is told whether its step size is above the
    largest stable one, ``2 / L``.

    Args:
        fn: the learner's loop, ``fn(theta, model, loss, x, y, n_steps=...) -> (losses, theta)``.
            It is given dict params, and tuple params if dicts fail.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``;
            by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the loop is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> from dl_workshop import model_optimization_loop
        >>> from dl_workshop.checks import check_optimization_loop
        >>> check_optimization_loop(model_optimization_loop, seed=0)  # doctest: +ELLIPSIS
        ✓ the optimization loop ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking(_NAME, seed=seed) as rng:
        _require_callable(fn, _EXERCISE, hints.LOOP_DEFINITION)
        _require_loop_signature(fn)
        data = _loop_data(rng)
        # One step first: it reveals each parameter's update without a long run.
        first = _first_step(fn, data)
        _second_step(fn, first, data)
        losses, theta = _full_run(fn, first, data)
        final_loss, _ = loss_and_grad(wb(theta), data.x, data.y)
        _require_no_divergence(losses, final_loss, first, data)
        path = loop_steps.reference_path(first, data, _LOOP_STEPS)
        loop_steps.require_path_end(theta, path)
        _require_recorded_losses(losses, first)
        loop_steps.require_losses_along(losses, path, data)
        message = hints.LOOP_SUCCESS.format(
            start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS
        )
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


def _loop_data(rng: np.random.Generator) -> LoopData:
    x = np.sort(rng.uniform(-5.0, 5.0, _N_LOOP))
    w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 5.0, 20.0))
    y = w_true * x + b_true + rng.normal(size=_N_LOOP)
    for _ in range(_MAX_DRAWS):
        w0, b0 = w_true + float(_signed(rng, 1.0, 2.0)), b_true + float(_signed(rng, 2.0, 5.0))
        gradient = np.abs(loss_and_grad(np.array([w0, b0]), x, y)[1])
        ratio = max(gradient) / min(gradient)
        if min(gradient) > _MIN_GRADIENT and ratio >= _MIN_GRADIENT_RATIO:
            break
    step_size = float(f"{_STEP_FRACTION * 2.0 / loop_steps.curvature(x):.2g}")
    return LoopData(x, y, w0, b0, step_size)


def _takes_step_size(fn: Callable[..., Any]) -> bool:
    try:
        parameter = inspect.signature(fn).parameters.get("step_size")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _loop_result(fn: Callable[..., Any], theta: Any, data: LoopData, n_steps: int) -> _Outcome:
    # A deep copy: a loop that updates theta in place must not change the checker's copy.
    theta = copy.deepcopy(theta)
    options = {"step_size": data.step_size} if _takes_step_size(fn) else {}
    return _attempt(fn, theta, linear_model, mseloss, data.x, data.y, n_steps=n_steps, **options)


def _first_step(fn: Callable[..., Any], data: LoopData) -> FirstStep:
    """One step, with dict params (tuple params if dicts fail): one loss, a gradient step."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    attempts = []
    for _label, theta0 in _containers(data.w0, data.b0):
        outcome = _loop_result(fn, theta0, data, 1)
        attempts.append((theta0, outcome))
        # A loop that never ends is not given a second container to run forever on.
        if outcome.ok or isinstance(outcome.value, TimeoutError):
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
    return loop_steps.first_step(theta0, theta1, data)


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
    if not _attempt(wb, theta).ok:
        got = hints.GOT_THETA.format(theta=describe(theta))
        raise _fail(_EXERCISE, expected, got, hints.HINT_RETURN_THETA)
    return np.atleast_1d(array), theta


def _loop_length_hint(got: int, n_steps: int) -> str:
    if got == 0:
        return hints.HINT_NOTHING_RECORDED
    if got == 1 and n_steps > 1:
        return hints.HINT_RECORDED_ONCE
    return hints.HINT_N_STEPS.format(got=got, n_steps=n_steps)


def _run(fn: Callable[..., Any], first: FirstStep, data: LoopData, n_steps: int) -> tuple:
    """``n_steps`` steps from the first step's start: one loss per step; losses and theta."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    run = _loop_result(fn, first.theta0, data, n_steps)
    if not run.ok:
        expected = hints.EXPECTED_RESULT_AFTER.format(n_steps=n_steps)
        raise _error_fail(_EXERCISE, expected, hints.GOT_AN_ERROR, run.value)
    losses, theta = _unpack_loop_result(run.value, first.theta0, n_steps)
    if len(losses) != n_steps:
        if len(losses) == 1 and loop_steps.moved_once(theta, first):
            hint = hints_steps.HINT_RETURN_IN_LOOP
        else:
            hint = _loop_length_hint(len(losses), n_steps)
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_LOSS_PER_STEP.format(n_steps=n_steps),
            hints.GOT_N_LOSSES_OR_ONE.format(n=len(losses)),
            hint,
        )
    return losses, theta


def _second_step(fn: Callable[..., Any], first: FirstStep, data: LoopData) -> None:
    """Two steps: the second starts where the first ended and uses the gradient there."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    _, theta2 = _run(fn, first, data, 2)
    loop_steps.require_second_step(theta2, first, data)


def _full_run(fn: Callable[..., Any], first: FirstStep, data: LoopData) -> tuple:
    """A few steps from the start: the recorded losses and the final theta."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    return _run(fn, first, data, _LOOP_STEPS)


def _require_no_divergence(
    losses: np.ndarray, final_loss: float, first: FirstStep, data: LoopData
) -> None:
    """Finite losses, and a final loss no higher than the start's."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if not np.all(np.isfinite(losses)) or not np.isfinite(final_loss) or final_loss > first.loss0:
        got = hints.GOT_LOSS_GREW.format(start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS)
        raise _fail(_EXERCISE, hints.EXPECTED_LOSS_TO_FALL, got, _divergence_hint(first, data))


def _divergence_hint(first: FirstStep, data: LoopData) -> str:
    """Whether the first step's size is above 2 / L, the largest stable one on this data."""
    curvature = loop_steps.curvature(data.x)
    if first.eta > 2.0 / curvature:
        return hints.HINT_STEP_TOO_LARGE.format(
            step=first.eta, limit=2 / curvature, curvature=curvature, suggested=1 / curvature
        )
    return hints.HINT_LOSS_GROWS


def _require_recorded_losses(losses: np.ndarray, first: FirstStep) -> None:
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
