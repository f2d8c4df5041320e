"""How a run of the step-size explorer went, judged on what the learner sees, and what the
explorer says about it in the learner's words.

A run that became non-finite (the engine's :class:`~dl_workshop.DivergenceError`) blew up; a
finite run whose loss rose over its last third to above its start keeps rising; one whose loss
still jumps up and down does not settle; one large first step that the run comes back from is
not divergence. The practitioner's detail (the curvature, ``2/L``) stays in the
DivergenceError's own message.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dl_workshop.engine.divergence import DivergenceError
from dl_workshop.engine.result import FitResult

__all__ = ["Verdict", "judge", "learner_message"]

#: What the explorer says under the figure (the learner's words; the practitioner's detail,
#: with the Hessian's eigenvalue, stays in the DivergenceError that ``.result`` holds).
BLEW_UP = "The step size {step:.3g} is too large: {what}."
KEPT_RISING = (
    "The step size {step:.3g} is too large: the loss kept rising, from {first:.4g} at the "
    "start to {last:.4g} after {n} steps."
)
AT_START = (
    "The loss or its gradient is not a number at the start, before any step: the step size is "
    "not the cause. Check the model and the loss (for example a log of 0)."
)
TRY_SMALLER = " Try a step size of at most {good:.3g}."
TRY_MUCH_SMALLER = " Even the smallest step size on the slider does not work with these settings."
BOUNCING = (
    "The step size {step:.3g} is too large to settle: over the last {n} steps the loss still "
    "jumps between {low:.4g} and {high:.4g}."
)
RECOVERED = (
    "The first steps overshot (the loss rose to {peak:.4g} at step {at}), then the fit came "
    "back down: this step size works, a smaller one goes more smoothly."
)


class Verdict(NamedTuple):
    """How a run of the step-size explorer went, decided on what the learner sees.

    ``kind``: ``"fine"``, ``"recovered"`` (the loss rose above its start and came back),
    ``"bouncing"`` (over the run's last third the loss still jumps by more than a factor 2),
    ``"rising"`` (finite, but the loss rose over the run's last third to above its start) or
    ``"blew up"`` (the loss or its gradient became non-finite, or exploded).
    """

    kind: str
    result: FitResult
    bad_step: int | None  # the step whose loss or gradient was bad ("blew up")


def judge(outcome: FitResult | DivergenceError) -> Verdict:
    """The :class:`Verdict` of one run: non-finite values or a sustained rise make it too
    large; one large first step that the run recovers from does not.

    Args:
        outcome: a fit's :class:`~dl_workshop.FitResult` (its ``losses`` of shape ``(n,)``),
            or the :class:`~dl_workshop.DivergenceError` it raised.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import FitResult
        >>> def run(losses):
        ...     return FitResult({"w": 0.0, "b": 0.0}, np.array(losses), len(losses), "max_steps")
        >>> judge(run([5.0, 9.0, 4.0, 2.0, 1.5, 1.4])).kind
        'recovered'
        >>> judge(run([5.0, 4.0, 6.0, 8.0, 11.0, 15.0])).kind
        'rising'
    """
    if isinstance(outcome, DivergenceError):
        return Verdict("blew up", outcome.result, outcome.step)
    losses = np.asarray(outcome.losses, dtype=float)
    if losses.size >= 3:
        tail = max(1, losses.size // 3)
        if losses[-1] > max(losses[0], losses[-1 - tail]):
            return Verdict("rising", outcome, None)
        last = losses[-tail:]
        spread = last.max() - last.min()
        rises = np.clip(np.diff(last), 0.0, None).sum()
        if last.min() > 0 and last.max() > _BOUNCE_FACTOR * last.min() and rises >= spread:
            return Verdict("bouncing", outcome, None)
        if losses.max() > losses[0]:
            return Verdict("recovered", outcome, None)
    return Verdict("fine", outcome, None)


#: Over the last third of a run, a loss whose largest value is this many times its smallest,
#: and whose rises add up to at least that range (it went up and down again), has not settled.
_BOUNCE_FACTOR = 2.0

#: The kinds of run that work (the explorer's search for a step size that works looks for
#: these).
WORKS = ("fine", "recovered")


def _blew_up_phrase(verdict: Verdict) -> str:
    """What happened before the run stopped, in plain words."""
    losses = np.asarray(verdict.result.losses, dtype=float)
    step = verdict.bad_step
    if losses.size >= 2 and losses[-1] > losses[0]:
        return (
            f"each step overshot the bottom of the bowl further: the loss grew from "
            f"{losses[0]:.4g} to {losses[-1]:.4g}, and at step {step} it blew up (too large "
            "to compute, or not a number)"
        )
    steps = "step" if step == 1 else "steps"
    return (
        f"after {step} {steps} the parameters were so far off that the loss or its gradient "
        "could not be computed any more (too large, or not a number)"
    )


def learner_message(verdict: Verdict, step_size: float, good: float | None) -> str | None:
    """The sentence shown under the figure for ``verdict`` (``None`` for a run that is fine).

    Args:
        verdict: how the run went (:func:`judge`).
        step_size: the run's step size.
        good: the largest step size found to work (``None``: none on the slider).

    Example:
        >>> import numpy as np
        >>> from dl_workshop import FitResult
        >>> losses = np.array([5.0, 4.0, 8.0, 16.0])
        >>> rising = FitResult({"w": 0.0, "b": 0.0}, losses, 4, "max_steps")
        >>> print(learner_message(judge(rising), 0.3, 0.1))
        The step size 0.3 is too large: the loss kept rising, from 5 at the start to 16 after 4
        steps. Try a step size of at most 0.1.
    """
    if verdict.kind == "fine":
        return None
    if verdict.kind == "recovered":
        losses = np.asarray(verdict.result.losses, dtype=float)
        at = int(np.argmax(losses))
        return RECOVERED.format(peak=losses[at], at=at)
    losses = np.asarray(verdict.result.losses, dtype=float)
    if verdict.kind == "rising":
        text = KEPT_RISING.format(
            step=step_size, first=losses[0], last=losses[-1], n=verdict.result.n_steps
        )
    elif verdict.kind == "bouncing":
        last = losses[-max(1, losses.size // 3) :]
        text = BOUNCING.format(step=step_size, n=last.size, low=last.min(), high=last.max())
    elif verdict.bad_step == 0:
        return AT_START
    else:
        text = BLEW_UP.format(step=step_size, what=_blew_up_phrase(verdict))
    return text + (TRY_MUCH_SMALLER if good is None else TRY_SMALLER.format(good=good))
