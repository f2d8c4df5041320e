"""The optimization loop's steps, checked one parameter at a time against gradient descent.

After one step every parameter must have moved by ``-eta * its gradient`` with one ``eta`` (the
step size, inferred from the step); the second step must start where the first ended and use
the gradient there; the run's end and the losses recorded along the way must be those of
gradient descent with that ``eta``. Each classic mistake (a parameter never updated, updated
with another's gradient, climbing, the gradient of the start reused) is named.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import unpack_linear_params
from dl_workshop.checks import hints, hints_steps
from dl_workshop.checks.compare import _show
from dl_workshop.checks.runner import _fail

EXERCISE = "the optimization loop"

#: Two step sizes (or two steps) agree when they differ by at most this fraction: loose enough
#: for a float32 loop, tight enough to tell the two gradient entries apart (see _loop_data).
_RATE_RTOL = 1e-2

#: A parameter that moved by less than this fraction of its size (at least 1) did not move: a
#: float32 copy of an unchanged float64 value moves by about 1e-7.
_STILL = 1e-6

#: Recorded losses agree with the reference's to this relative tolerance (float32 losses).
_LOSS_RTOL = 1e-3

_NAMES = ("w", "b")


class LoopData(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    w0: float  # the starting parameters, away from the line the data scatter around
    b0: float
    step_size: float  # passed to a loop that takes step_size: large enough to tell mistakes apart


class FirstStep(NamedTuple):
    theta0: Any  # the starting theta the loop accepted (dict, else tuple)
    theta1: Any  # theta after one step
    loss0: float  # the loss at theta0 and at theta1
    loss1: float
    delta: np.ndarray  # theta1 - theta0 as [w, b]
    grad0: np.ndarray  # the gradient at theta0 as [d/dw, d/db]
    eta: float  # the step size the loop took (inferred)


def wb(theta: Any) -> np.ndarray:
    """``theta``'s two numbers as ``[w, b]`` in float64."""
    w, b = unpack_linear_params(theta)
    return np.array([np.asarray(w, dtype=float).item(), np.asarray(b, dtype=float).item()])


def loss_and_grad(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error of the line ``params = [w, b]`` and its gradient (NumPy, float64)."""
    residual = y - (params[0] * x + params[1])
    upstream = -2.0 * residual / residual.size
    return float(np.mean(residual**2)), np.array([np.sum(upstream * x), np.sum(upstream)])


def curvature(x: np.ndarray) -> float:
    """``L``, the largest curvature of the line's mean squared error on inputs ``x``."""
    hessian = 2.0 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    return float(np.max(np.linalg.eigvalsh(hessian)))


def _agree(a: float, b: float, rtol: float = _RATE_RTOL) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def _proportional(got: np.ndarray, expected: np.ndarray, rtol: float = _RATE_RTOL) -> bool:
    """``got`` equals ``expected`` up to a fraction ``rtol`` of ``expected``'s length."""
    return bool(np.linalg.norm(got - expected) <= rtol * np.linalg.norm(expected))


def first_step(theta0: Any, theta1: Any, data: LoopData) -> FirstStep:
    """The first step, after checking that it is gradient descent in every parameter."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    start, after = wb(theta0), wb(theta1)
    loss0, grad0 = loss_and_grad(start, data.x, data.y)
    loss1, _ = loss_and_grad(after, data.x, data.y)
    delta = after - start
    moved = np.abs(delta) > _STILL * np.maximum(1.0, np.abs(start))
    if not moved.any():
        raise _fail(
            EXERCISE, hints.EXPECTED_THETA_CHANGE, hints.GOT_UNCHANGED, hints.HINT_THETA_NOT_UPDATED
        )
    # The gradient entries are far from 0 (see _loop_data), so each rate is well defined.
    rates = -delta / grad0
    if _agree(*rates) and rates[0] < 0:
        raise _fail(
            EXERCISE,
            hints.EXPECTED_DOWNHILL.format(loss=loss0),
            hints.GOT_UPHILL.format(loss=loss1),
            hints.HINT_UPDATE_SIGN,
        )
    if not _agree(*rates):
        hint = _mixup_hint(delta, grad0, rates, moved)
        got = hints_steps.GOT_MOVES.format(dw=delta[0], gw=grad0[0], db=delta[1], gb=grad0[1])
        raise _fail(EXERCISE, hints_steps.EXPECTED_EVERY_PARAMETER, got, hint)
    return FirstStep(theta0, theta1, loss0, loss1, delta, grad0, float(np.mean(rates)))


def _mixup_hint(delta: np.ndarray, grad: np.ndarray, rates: np.ndarray, moved: np.ndarray) -> str:
    """Which parameter went wrong, and how, when w and b did not take the same step size."""
    for i, j in ((0, 1), (1, 0)):
        name, other = _NAMES[i], _NAMES[j]
        if not moved[i]:
            return hints_steps.HINT_PARAMETER_NOT_UPDATED.format(name=name, other=other)
        if rates[j] > 0 and _agree(-delta[i] / grad[j], rates[j]):
            return hints_steps.HINT_OTHERS_GRADIENT.format(name=name, other=other)
    crossed = -delta / grad[::-1]
    if crossed[0] > 0 and _agree(*crossed):
        return hints_steps.HINT_SWAPPED_GRADIENTS
    for i, j in ((0, 1), (1, 0)):
        if rates[i] < 0 < rates[j]:
            return hints_steps.HINT_CLIMBS.format(name=_NAMES[i], other=_NAMES[j])
    return hints_steps.HINT_ONE_STEP_SIZE.format(rate_w=rates[0], rate_b=rates[1])


def moved_once(theta: Any, first: FirstStep) -> bool:
    """``theta`` is where the first step ended: the loop stopped after one step."""
    return bool(np.allclose(wb(theta), wb(first.theta1), rtol=1e-6, atol=0.0))


def require_second_step(theta2: Any, first: FirstStep, data: LoopData) -> None:
    """The second step starts at the first step's theta and steps against the gradient there."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    start = wb(first.theta1)
    step = wb(theta2) - start
    expected = -first.eta * loss_and_grad(start, data.x, data.y)[1]
    if _proportional(step, expected):
        return
    still = np.all(np.abs(step) <= _STILL * np.maximum(1.0, np.abs(start)))
    # Stood still, or stepped from the starting theta again instead of from the first step's.
    if still or _proportional(wb(theta2) - wb(first.theta0), expected):
        hint = hints_steps.HINT_FIRST_STEP_ONLY
    elif _proportional(step, -first.eta * first.grad0):
        hint = hints_steps.HINT_STARTING_GRADIENT
    else:
        hint = hints_steps.HINT_LATER_STEPS
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_SECOND_STEP.format(step=_show(expected)),
        hints_steps.GOT_SECOND_STEP.format(step=_show(step)),
        hint,
    )


def reference_path(first: FirstStep, data: LoopData, n_steps: int) -> np.ndarray:
    """``[w, b]`` at steps 0 to ``n_steps`` of gradient descent with the loop's step size."""
    path = [wb(first.theta0)]
    for _ in range(n_steps):
        path.append(path[-1] - first.eta * loss_and_grad(path[-1], data.x, data.y)[1])
    return np.array(path)


def require_path_end(theta: Any, path: np.ndarray) -> None:
    """After the run, theta is where gradient descent with the loop's step size ends."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    got = wb(theta)
    if not _proportional(got - path[0], path[-1] - path[0]):
        raise _fail(
            EXERCISE,
            hints_steps.EXPECTED_THETA_ALONG.format(n_steps=len(path) - 1, theta=_show(path[-1])),
            hints.GOT_THETA.format(theta=_show(got)),
            hints_steps.HINT_LATER_STEPS,
        )


def require_losses_along(losses: np.ndarray, path: np.ndarray, data: LoopData) -> None:
    """The recorded losses are those of theta along the path, before or after each step."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    along = np.array([loss_and_grad(params, data.x, data.y)[0] for params in path])
    before, after = along[:-1], along[1:]
    for expected in (before, after):
        if np.allclose(losses, expected, rtol=_LOSS_RTOL, atol=_LOSS_RTOL * 1e-3):
            return
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_LOSSES_ALONG.format(before=_show(before), after=_show(after)),
        _show(losses),
        hints.HINT_RECORD_CURRENT,
    )

