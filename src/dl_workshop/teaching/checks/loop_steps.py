"""The optimization loop's steps, checked one parameter at a time against gradient descent.

After one step every parameter must have moved by ``-eta * its gradient`` with one ``eta`` (the
step size, inferred from the step); the second step must start where the first ended and use
the gradient there; the run's end and the losses recorded along the way must be those of
gradient descent with that ``eta``. Each classic mistake (a parameter never updated, updated
with another's gradient, climbing, the gradient of the start reused, the loss recorded after
the update, a fixed number of steps) is named.

A mix-up of the two gradients is told apart from the moves themselves: each candidate
explanation predicts a direction of the step, and only the one the observed step follows, with
a positive step size, is named. The starting point is drawn where the two gradient entries
have opposite signs and clearly different sizes, so that the candidates differ by a clear
margin (see :func:`~dl_workshop.teaching.checks.exercise_loop.check_optimization_loop`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import unpack_linear_params
from dl_workshop.teaching.checks import hints, hints_steps
from dl_workshop.teaching.checks.compare import _show
from dl_workshop.teaching.checks.probe_functions import line_loss_and_grad
from dl_workshop.teaching.checks.runner import _fail

EXERCISE = "model_optimization_loop"

#: Two step sizes (or two steps) agree when they differ by at most this fraction: loose enough
#: for a float32 loop, tight enough to tell the two gradient entries apart (see _loop_data).
_RATE_RTOL = 1e-2

#: A parameter that moved by less than this fraction of its size (at least 1) did not move: a
#: float32 copy of an unchanged float64 value moves by about 1e-7.
_STILL = 1e-6

#: Recorded losses agree with the reference's to this relative tolerance (float32 losses).
_LOSS_RTOL = 1e-3

#: The most steps a loop that ignores ``n_steps`` is searched for (the lesson's 3000, and more).
_MAX_STEPS_SEARCHED = 3100

_NAMES = ("w", "b")


class LoopData(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    w0: float  # the starting parameters, away from the line the data scatter around
    b0: float
    step_size: float  # passed to the loop: large enough to tell mistakes apart
    other_step_size: float  # a second one, to see that the step follows step_size


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
    return line_loss_and_grad(params, x, y)


def curvature(x: np.ndarray) -> float:
    """``L``, the largest curvature of the line's mean squared error on inputs ``x``."""
    hessian = 2.0 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    return float(np.max(np.linalg.eigvalsh(hessian)))


def agree(a: float, b: float, rtol: float = _RATE_RTOL) -> bool:
    """``a`` and ``b`` differ by at most a fraction ``rtol`` of the larger."""
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def proportional(got: np.ndarray, expected: np.ndarray, rtol: float = _RATE_RTOL) -> bool:
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
    if agree(*rates) and rates[0] < 0:
        raise _fail(
            EXERCISE,
            hints.EXPECTED_DOWNHILL.format(loss=loss0),
            hints.GOT_UPHILL.format(loss=loss1),
            hints.HINT_UPDATE_SIGN,
        )
    if not agree(*rates):
        taken = _steps_taken(after, start, data.step_size, data)
        if taken > 1:  # several steps where one was asked for
            hint = hints_steps.HINT_UPDATES_IGNORE_N_STEPS.format(taken=taken, n_steps=1)
        else:
            hint = _mixup_hint(delta, grad0, rates, moved)
        got = hints_steps.GOT_MOVES.format(dw=delta[0], gw=grad0[0], db=delta[1], gb=grad0[1])
        raise _fail(EXERCISE, hints_steps.EXPECTED_EVERY_PARAMETER, got, hint)
    return FirstStep(theta0, theta1, loss0, loss1, delta, grad0, float(np.mean(rates)))


def _explanations(grad: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each mix-up of the gradients, with the step direction it predicts for a step size 1."""
    gw, gb = grad
    others = hints_steps.HINT_OTHERS_GRADIENT
    return [
        (others.format(name="w", other="b"), np.array([-gb, -gb])),
        (others.format(name="b", other="w"), np.array([-gw, -gw])),
        (hints_steps.HINT_SWAPPED_GRADIENTS, np.array([-gb, -gw])),
        (hints_steps.HINT_CLIMBS.format(name="w", other="b"), np.array([gw, -gb])),
        (hints_steps.HINT_CLIMBS.format(name="b", other="w"), np.array([-gw, gb])),
    ]


def _misfit(delta: np.ndarray, direction: np.ndarray) -> float:
    """How far ``delta`` is from a positive multiple of ``direction``, relative to its length
    (``inf`` when the best multiple is not positive)."""
    eta = float(delta @ direction) / float(direction @ direction)
    if eta <= 0:
        return np.inf
    return float(np.linalg.norm(delta - eta * direction) / np.linalg.norm(eta * direction))


def _mixup_hint(delta: np.ndarray, grad: np.ndarray, rates: np.ndarray, moved: np.ndarray) -> str:
    """Which parameter went wrong, and how, when w and b did not take the same step size.

    Every explanation is tested against the observed step; the one it follows is named.
    """
    for i, j in ((0, 1), (1, 0)):
        if not moved[i]:
            return hints_steps.HINT_PARAMETER_NOT_UPDATED.format(name=_NAMES[i], other=_NAMES[j])
    misfits = [(_misfit(delta, direction), hint) for hint, direction in _explanations(grad)]
    best, hint = min(misfits, key=lambda pair: pair[0])
    if best <= _RATE_RTOL:
        return hint
    return hints_steps.HINT_ONE_STEP_SIZE.format(rate_w=rates[0], rate_b=rates[1])


def step_rate(theta0: Any, theta1: Any, data: LoopData) -> float:
    """The step size a one-step run from ``theta0`` to ``theta1`` took (mean of w's and b's)."""
    start = wb(theta0)
    return float(np.mean(-(wb(theta1) - start) / loss_and_grad(start, data.x, data.y)[1]))


def require_second_step(theta2: Any, first: FirstStep, data: LoopData) -> None:
    """The second step starts at the first step's theta and steps against the gradient there."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    start = wb(first.theta1)
    step = wb(theta2) - start
    expected = -first.eta * loss_and_grad(start, data.x, data.y)[1]
    if proportional(step, expected):
        return
    still = np.all(np.abs(step) <= _STILL * np.maximum(1.0, np.abs(start)))
    # Stood still, or stepped from the starting theta again instead of from the first step's.
    if still or proportional(wb(theta2) - wb(first.theta0), expected):
        hint = hints_steps.HINT_FIRST_STEP_ONLY
    elif proportional(step, -first.eta * first.grad0):
        hint = hints_steps.HINT_STARTING_GRADIENT
    else:
        hint = hints_steps.HINT_LATER_STEPS
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_SECOND_STEP.format(step=_show(expected)),
        hints_steps.GOT_SECOND_STEP.format(step=_show(step)),
        hint,
    )


def reference_path(
    start: np.ndarray,
    eta: float,
    data: LoopData,
    n_steps: int,
    *,
    scaled: bool = False,
    huber: bool = False,
) -> np.ndarray:
    """``[w, b]`` at steps 0 to ``n_steps`` of gradient descent with step size ``eta`` (on the
    lesson's line and loss, or the probes' of
    :func:`~dl_workshop.teaching.checks.probe_functions.line_loss_and_grad`)."""
    path = [np.asarray(start, dtype=float)]
    for _ in range(n_steps):
        gradient = line_loss_and_grad(path[-1], data.x, data.y, scaled=scaled, huber=huber)[1]
        path.append(path[-1] - eta * gradient)
    return np.array(path)


def path_losses(
    path: np.ndarray, data: LoopData, *, scaled: bool = False, huber: bool = False
) -> np.ndarray:
    """The loss at each point of ``path``."""
    return np.array(
        [line_loss_and_grad(p, data.x, data.y, scaled=scaled, huber=huber)[0] for p in path]
    )


def _steps_taken(got: np.ndarray, start: np.ndarray, eta: float, data: LoopData) -> int:
    """How many steps of gradient descent with step size ``eta`` lead from ``start`` to ``got``
    (-1 when none up to the most a loop that ignores ``n_steps`` plausibly takes)."""
    point = start
    for steps in range(_MAX_STEPS_SEARCHED + 1):
        if steps and proportional(got - start, point - start):
            return steps
        point = point - eta * loss_and_grad(point, data.x, data.y)[1]
    return -1


def require_path_end(theta: Any, path: np.ndarray, first: FirstStep, data: LoopData) -> None:
    """After the run, theta is where gradient descent with the loop's step size ends."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    got = wb(theta)
    if proportional(got - path[0], path[-1] - path[0]):
        return
    n_steps = len(path) - 1
    taken = _steps_taken(got, path[0], first.eta, data)
    if taken > 0:
        hint = hints_steps.HINT_UPDATES_IGNORE_N_STEPS.format(taken=taken, n_steps=n_steps)
    else:
        hint = hints_steps.HINT_LATER_STEPS
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_THETA_ALONG.format(n_steps=n_steps, theta=_show(path[-1])),
        hints.GOT_THETA.format(theta=_show(got)),
        hint,
    )


def losses_match(losses: np.ndarray, expected: np.ndarray) -> bool:
    """The recorded losses are ``expected``, to the loose tolerance of float32 losses."""
    losses = np.asarray(losses, dtype=float)
    return losses.shape == expected.shape and bool(
        np.allclose(losses, expected, rtol=_LOSS_RTOL, atol=_LOSS_RTOL * 1e-3)
    )


def require_losses_along(losses: np.ndarray, path: np.ndarray, data: LoopData) -> None:
    """The recorded losses are those of theta along the path, each before its step."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    along = path_losses(path, data)
    before, after = along[:-1], along[1:]
    if losses_match(losses, before):
        return
    hint = hints_steps.HINT_RECORDED_AFTER if losses_match(losses, after) else None
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_LOSSES_BEFORE.format(before=_show(before)),
        _show(losses),
        hint or hints.HINT_RECORD_CURRENT,
    )
