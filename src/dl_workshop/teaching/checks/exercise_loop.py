"""The checker of the optimization loop
``model_optimization_loop(theta, model, loss, x, y, n_steps=..., step_size=...)``."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.checks import hints, hints_steps, loop_arguments, loop_steps
from dl_workshop.teaching.checks.compare import (
    _as_float_array,
    _close,
    _same_structure,
    _same_values,
)
from dl_workshop.teaching.checks.inputs import _containers, _signed
from dl_workshop.teaching.checks.loop_steps import EXERCISE as _EXERCISE
from dl_workshop.teaching.checks.loop_steps import FirstStep, LoopData, loss_and_grad, wb
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _Outcome,
    _require_callable,
    _success,
)

_NAME = "model_optimization_loop"

#: Steps of the longest run: few, so that a slow Python loop stays quick.
_LOOP_STEPS = 25

#: A one-step run that records a wrong number of losses (at most _MAX_COUNT_TRIED) is run again
#: for this many steps, to tell a fixed count from one off by one.
_COUNT_STEPS = 3
_MAX_COUNT_TRIED = 50

#: Samples of the loop's data (fixed, so that JAX compiles once; not the lesson's 100).
_N_LOOP = 30

#: Recorded losses are compared loosely: the learner's loss may run in float32.
_LOSS_RTOL = 1e-3

#: The starting point is drawn again (at most this often) until both gradient entries are
#: larger than 1, have opposite signs and differ in size by a factor of 1.5 or more, so that
#: every mix-up of the two shows (each explanation predicts a clearly different step), and
#: the run with the probe model and loss tells each ignored argument apart.
_MAX_DRAWS = 200
_MIN_GRADIENT = 1.0
_MIN_GRADIENT_RATIO = 1.5

#: The step size given to the loop, as a fraction of 2 / L; the second one, as a fraction of
#: the first (far from 1, so that a step that ignores step_size shows).
_STEP_FRACTION = 0.25
_OTHER_STEP_FRACTION = 0.4


def check_optimization_loop(
    fn: Callable[..., tuple[Any, Any]],
    *,
    seed: int | None = None,
) -> bool:
    """Check the learner's loop ``fn(theta, model, loss, x, y, n_steps=..., step_size=...)``.

    Runs the loop on fresh random data with :func:`~dl_workshop.linear_model` and
    :func:`~dl_workshop.mseloss`, for 1, 2 and a few (25) steps (few, so that a slow Python
    loop still checks quickly), and checks that it returns ``(losses, theta)`` with one loss per
    step; that after one step every parameter moved against its own gradient by ``step_size``
    times it, for two different step sizes; that the second step starts where the first ended
    and uses the gradient there; that the loss recorded at each step is the loss before that
    step's update; that the run ends where gradient descent ends. Then it runs the loop with a
    model and a loss that are not the lesson's, and checks that the updates and recorded losses
    follow those: a loop that ignores ``step_size``, ``model``, ``loss`` or ``n_steps`` is told
    which.

    Args:
        fn: the learner's loop,
            ``fn(theta, model, loss, x, y, n_steps=..., step_size=...) -> (losses, theta)``.
            It is given dict params, and tuple params if dicts fail; ``n_steps`` and
            ``step_size`` are passed by keyword.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``;
            by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the loop is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> from dl_workshop import model_optimization_loop
        >>> from dl_workshop.teaching.checks import check_optimization_loop
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
        first, losses1 = _first_step(fn, data)
        run = functools.partial(_run, fn, first.theta0, data)
        loop_arguments.require_step_size(run, first, data)
        _second_step(run, first, data)
        _require_first_loss(losses1, first)
        losses, theta = run(_LOOP_STEPS)
        final_loss, _ = loss_and_grad(wb(theta), data.x, data.y)
        _require_no_divergence(losses, final_loss, first)
        path = loop_steps.reference_path(wb(first.theta0), first.eta, data, _LOOP_STEPS)
        loop_steps.require_path_end(theta, path, first, data)
        _require_changing_losses(losses)
        loop_steps.require_losses_along(losses, path, data)
        loop_arguments.require_own_model_and_loss(run, first, data)
        message = hints.LOOP_SUCCESS.format(
            start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS
        )
        return _success(message)


def _require_loop_signature(fn: Callable[..., Any]) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): just try calling it
        return
    try:
        signature.bind(None, None, None, None, None, n_steps=1, step_size=0.1)
    except TypeError:
        try:
            signature.bind(None, None, None, None, None, n_steps=1)
        except TypeError:
            hint = hints.HINT_LOOP_SIGNATURE
        else:
            hint = hints_steps.HINT_NO_STEP_SIZE
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_LOOP_CALL,
            hints.GOT_SIGNATURE.format(signature=signature),
            hint,
        ) from None


def _loop_data(rng: np.random.Generator) -> LoopData:
    x = np.sort(rng.uniform(-5.0, 5.0, _N_LOOP))
    w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 5.0, 20.0))
    y = w_true * x + b_true + rng.normal(size=_N_LOOP)
    step_size = float(f"{_STEP_FRACTION * 2.0 / loop_steps.curvature(x):.2g}")
    other_step_size = float(f"{_OTHER_STEP_FRACTION * step_size:.2g}")
    for _ in range(_MAX_DRAWS):
        w0, b0 = w_true + float(_signed(rng, 1.0, 2.0)), b_true + float(_signed(rng, 2.0, 5.0))
        gradient = loss_and_grad(np.array([w0, b0]), x, y)[1]
        sizes = np.abs(gradient)
        if (
            min(sizes) > _MIN_GRADIENT
            and max(sizes) / min(sizes) >= _MIN_GRADIENT_RATIO
            and gradient[0] * gradient[1] < 0
            and loop_arguments.separated(LoopData(x, y, w0, b0, step_size, other_step_size))
        ):
            break
    return LoopData(x, y, w0, b0, step_size, other_step_size)


def _loop_result(
    fn: Callable[..., Any],
    theta: Any,
    data: LoopData,
    n_steps: int,
    step_size: float | None = None,
    model: Callable[..., Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
) -> _Outcome:
    # A deep copy: a loop that updates theta in place must not change the checker's copy.
    theta = copy.deepcopy(theta)
    step_size = data.step_size if step_size is None else step_size
    return _attempt(fn, theta, model, loss, data.x, data.y, n_steps=n_steps, step_size=step_size)


def _first_step(fn: Callable[..., Any], data: LoopData) -> tuple[FirstStep, np.ndarray]:
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
            _first_count_hint(fn, theta0, data, len(losses1)),
        )
    if _same_values(theta1, theta0):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_THETA_CHANGE,
            hints.GOT_UNCHANGED,
            hints.HINT_THETA_NOT_UPDATED,
        )
    return loop_steps.first_step(theta0, theta1, data), losses1


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


def _first_count_hint(fn: Callable[..., Any], theta0: Any, data: LoopData, got: int) -> str:
    """Why a one-step run recorded ``got`` losses: from a run of a few more steps, whether the
    count follows n_steps at all (a fixed count) or is off by one."""
    if got > _MAX_COUNT_TRIED:  # a long fixed loop is not run again
        return _loop_length_hint(got, 1)
    outcome = _loop_result(fn, theta0, data, _COUNT_STEPS)
    value = outcome.value if outcome.ok else None
    losses = value[0] if isinstance(value, (tuple, list)) and len(value) == 2 else None
    array = None if losses is None else _as_float_array(losses)
    more = None if array is None else len(np.atleast_1d(array))
    if more == got and got > 0:
        return hints.HINT_N_STEPS.format(got=got, n_steps=1)
    if more is not None and more - got == _COUNT_STEPS - 1:
        return hints.HINT_OFF_BY_ONE.format(got=got, n_steps=1)
    return _loop_length_hint(got, 1)


def _loop_length_hint(got: int, n_steps: int) -> str:
    if got == 0:
        return hints.HINT_NOTHING_RECORDED
    if got == 1 and n_steps > 1:
        return hints.HINT_RECORDED_ONCE
    if abs(got - n_steps) == 1:
        return hints.HINT_OFF_BY_ONE.format(got=got, n_steps=n_steps)
    return hints.HINT_N_STEPS.format(got=got, n_steps=n_steps)


def _run(
    fn: Callable[..., Any], theta0: Any, data: LoopData, n_steps: int, **arguments: Any
) -> tuple[np.ndarray, Any]:
    """``n_steps`` steps from ``theta0`` (with other ``arguments``: step_size, model, loss):
    one loss per step; the losses and theta."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    run = _loop_result(fn, theta0, data, n_steps, **arguments)
    if not run.ok:
        expected = hints.EXPECTED_RESULT_AFTER.format(n_steps=n_steps)
        raise _error_fail(_EXERCISE, expected, hints.GOT_AN_ERROR, run.value)
    losses, theta = _unpack_loop_result(run.value, theta0, n_steps)
    if len(losses) != n_steps:
        if len(losses) == 1 and n_steps > 1 and _moved_once(theta, theta0, data):
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


def _moved_once(theta: Any, theta0: Any, data: LoopData) -> bool:
    """``theta`` is where one step of gradient descent from ``theta0`` ends: the loop stopped
    after one step."""
    start = wb(theta0)
    expected = start - data.step_size * loss_and_grad(start, data.x, data.y)[1]
    return loop_steps.proportional(wb(theta) - start, expected - start)


def _second_step(run: loop_arguments.Runner, first: FirstStep, data: LoopData) -> None:
    """Two steps: the second starts where the first ended and uses the gradient there."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    _, theta2 = run(2)
    loop_steps.require_second_step(theta2, first, data)


def _require_no_divergence(losses: np.ndarray, final_loss: float, first: FirstStep) -> None:
    """Finite losses, and a final loss no higher than the start's. (The step size given is a
    quarter of the largest stable one, and the loop was seen to use it: a loss that grows comes
    from later steps that are not gradient descent.)"""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if not np.all(np.isfinite(losses)) or not np.isfinite(final_loss) or final_loss > first.loss0:
        got = hints.GOT_LOSS_GREW.format(start=first.loss0, end=final_loss, n_steps=_LOOP_STEPS)
        raise _fail(_EXERCISE, hints.EXPECTED_LOSS_TO_FALL, got, hints.HINT_LOSS_GROWS)


def _require_first_loss(losses1: np.ndarray, first: FirstStep) -> None:
    """The loss recorded in a one-step run is the starting theta's: recorded before the update,
    with the loop's own model, loss and data."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    recorded = float(losses1[0])
    if _close(recorded, first.loss0, rtol=_LOSS_RTOL):
        return
    after = _close(recorded, first.loss1, rtol=_LOSS_RTOL)
    raise _fail(
        _EXERCISE,
        hints.EXPECTED_FIRST_LOSS.format(start=first.loss0),
        hints.GOT_LOSS.format(loss=recorded),
        hints_steps.HINT_RECORDED_AFTER if after else hints.HINT_LOSS_ARGUMENTS,
    )


def _require_changing_losses(losses: np.ndarray) -> None:
    """The losses recorded are those of theta along the way, not one value again and again."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if np.ptp(losses) == 0:
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_CURRENT_LOSS,
            hints.GOT_SAME_LOSS.format(loss=losses[0]),
            hints.HINT_LOSS_INSIDE_LOOP,
        )
