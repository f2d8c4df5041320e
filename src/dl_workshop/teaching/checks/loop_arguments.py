"""Does the optimization loop honour its arguments: ``step_size``, ``model`` and ``loss``?

A loop that steps with a number written into it, or calls the notebook's ``linear_model``,
``mseloss`` or ``dmseloss`` instead of its arguments, does the right thing on the lesson's own
functions and step size. So the loop is run again with a second step size (its step must
follow), and with a model and a loss that are not the lesson's
(:func:`~dl_workshop.teaching.checks.probe_functions.scaled_model`,
:func:`~dl_workshop.teaching.checks.probe_functions.pseudo_huber_loss`): its updates and recorded
losses
must follow those. Each way of ignoring an argument is named from the run itself, by testing
which of the candidate explanations (model ignored, loss ignored, both) the steps follow.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop.teaching.checks import hints, hints_steps
from dl_workshop.teaching.checks.compare import _show
from dl_workshop.teaching.checks.loop_steps import (
    EXERCISE,
    FirstStep,
    LoopData,
    agree,
    curvature,
    losses_match,
    path_losses,
    proportional,
    reference_path,
    step_rate,
    wb,
)
from dl_workshop.teaching.checks.probe_functions import pseudo_huber_loss, scaled_model
from dl_workshop.teaching.checks.runner import _fail

#: ``run(n_steps, *, step_size=..., model=..., loss=...) -> (losses, theta)``: the learner's
#: loop from the first step's start, its result checked for shape (or an ExerciseError).
Runner = Callable[..., tuple[np.ndarray, Any]]

#: Steps of the run with the probe model and loss: two, so that the second step's gradient is
#: taken where the first ended.
_PROBE_STEPS = 2

#: Each candidate's end differs from the others' by at least this fraction of the steps, and
#: the losses each would record by at least this fraction of the losses (see separated).
_MIN_END_GAP = 0.05
_MIN_LOSS_GAP = 0.01

#: ``(scaled model?, pseudo-Huber loss?)`` of each candidate, with what its match means for the
#: updates and for the recorded losses. The first is the right one.
_RIGHT = (True, True)
_UPDATE_HINTS = {
    (False, True): hints_steps.HINT_IGNORES_MODEL,
    (True, False): hints_steps.HINT_IGNORES_LOSS,
    (False, False): hints_steps.HINT_IGNORES_MODEL_AND_LOSS,
}
_RECORDED_WHICH = {
    (False, True): hints_steps.RECORDED_LINEAR_MODEL,
    (True, False): hints_steps.RECORDED_MSELOSS,
    (False, False): hints_steps.RECORDED_BOTH,
}


def _probe_paths(start: np.ndarray, data: LoopData) -> dict[tuple[bool, bool], np.ndarray]:
    """The path of each candidate (the right one first) on the run with the probe functions."""
    return {
        combo: reference_path(
            start, data.step_size, data, _PROBE_STEPS, scaled=combo[0], huber=combo[1]
        )
        for combo in (_RIGHT, *_UPDATE_HINTS)
    }


def separated(data: LoopData) -> bool:
    """Whether, from this data's start, the candidates' ends differ by a clear margin (a
    fraction ``_MIN_END_GAP`` of the steps), and so do the losses each would record along
    the right path (``_MIN_LOSS_GAP``), so that each explanation is told from the others."""
    paths = _probe_paths(np.array([data.w0, data.b0]), data)
    start, along = paths[_RIGHT][0], paths[_RIGHT][:-1]
    recorded = {c: path_losses(along, data, scaled=c[0], huber=c[1]) for c in paths}
    for a, b in itertools.combinations(paths, 2):
        step_a, step_b = paths[a][-1] - start, paths[b][-1] - start
        scale = max(np.linalg.norm(step_a), np.linalg.norm(step_b))
        if np.linalg.norm(step_a - step_b) < _MIN_END_GAP * scale:
            return False
        gaps = np.abs(recorded[a] - recorded[b]) / np.maximum(recorded[a], recorded[b])
        if np.max(gaps) < _MIN_LOSS_GAP:
            return False
    return True


def require_step_size(run: Runner, first: FirstStep, data: LoopData) -> None:
    """One step with another step size: the step follows ``step_size`` (it is not ignored,
    nor scaled)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    _, theta = run(1, step_size=data.other_step_size)
    second = step_rate(first.theta0, theta, data)
    if agree(first.eta, data.step_size) and agree(second, data.other_step_size):
        return
    if agree(first.eta, second):
        limit = 2.0 / curvature(data.x)
        note = hints_steps.STEP_TOO_LARGE_NOTE.format(limit=limit) if first.eta > limit else ""
        hint = hints_steps.HINT_STEP_SIZE_IGNORED.format(step=first.eta, too_large=note)
    elif agree(first.eta / data.step_size, second / data.other_step_size):
        hint = hints_steps.HINT_STEP_SIZE_SCALED.format(factor=first.eta / data.step_size)
    else:
        hint = hints_steps.HINT_STEP_SIZE_OTHER
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_STEP_SIZES.format(first=data.step_size, second=data.other_step_size),
        hints_steps.GOT_STEP_SIZES.format(first=first.eta, second=second),
        hint,
    )


def _matching(combos: dict[tuple[bool, bool], str], same: Callable[[tuple], bool]) -> str | None:
    return next((hint for combo, hint in combos.items() if same(combo)), None)


def require_own_model_and_loss(run: Runner, first: FirstStep, data: LoopData) -> None:
    """A run with the probe model and loss steps on them, and records their losses."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    losses, theta = run(_PROBE_STEPS, model=scaled_model, loss=pseudo_huber_loss)
    start, got = wb(first.theta0), wb(theta)
    paths = _probe_paths(start, data)
    if not proportional(got - start, paths[_RIGHT][-1] - start):
        hint = _matching(
            _UPDATE_HINTS, lambda combo: proportional(got - start, paths[combo][-1] - start)
        )
        raise _fail(
            EXERCISE,
            hints_steps.EXPECTED_PROBE_THETA.format(
                n_steps=_PROBE_STEPS, theta=_show(paths[_RIGHT][-1])
            ),
            hints.GOT_THETA.format(theta=_show(got)),
            hint or hints_steps.HINT_FOLLOW_ARGUMENTS,
        )
    along = paths[_RIGHT][:-1]
    expected = path_losses(along, data, scaled=True, huber=True)
    if losses_match(losses, expected):
        return
    which = _matching(
        _RECORDED_WHICH,
        lambda combo: losses_match(
            losses, path_losses(along, data, scaled=combo[0], huber=combo[1])
        ),
    )
    raise _fail(
        EXERCISE,
        hints_steps.EXPECTED_PROBE_LOSSES.format(losses=_show(expected)),
        _show(losses),
        hints_steps.HINT_RECORDS_OTHER_LOSS.format(which=which)
        if which
        else hints.HINT_LOSS_ARGUMENTS,
    )
