"""Solve one chosen problem: run the engine's loop with the settings, package the result,
explain a divergence.

Layer 4 (see ``docs/architecture.md``): below the front doors (``fit``, checkpointing,
streaming), which all end here, and above the engine and the objectives.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop.engine.divergence import estimate_curvature, nonfinite_at_start, report_divergence
from dl_workshop.engine.result import FitResult, package_result
from dl_workshop.engine.runner import run_loop
from dl_workshop.engine.state import DIVERGED, LoopState, Start
from dl_workshop.fitting.choose import Problem
from dl_workshop.fitting.settings import FitSettings
from dl_workshop.objectives.full_batch import FullBatchObjective

#: Warned when Ctrl-C stops a fit that has no checkpoint.
INTERRUPTED = (
    "interrupted by the user after {done} of {total} steps; returning the parameters and "
    "losses so far"
)


def _curvature(problem: Problem, params: Any) -> Callable[[], float] | None:
    """The curvature estimate behind the divergence advice (full-batch problems only)."""
    full = problem.full_objective
    if not isinstance(full, FullBatchObjective):
        return None
    return lambda: estimate_curvature(full.loss, params, full.model, *problem.full_data)


def _explain_divergence(result: FitResult, settings: FitSettings, problem: Problem, params):
    report_divergence(
        result,
        step_size=settings.step_size,
        optimizer=settings.optimizer,
        on_divergence=settings.on_divergence,
        curvature=_curvature(problem, params),
        start_phrase=lambda: nonfinite_at_start(
            problem.full_objective, params, problem.full_data
        ),
    )


def solve(
    settings: FitSettings,
    params: Any,
    problem: Problem,
    *,
    callback: Callable[[LoopState, np.ndarray, list[Any]], None] | None = None,
    start: Start | None = None,
) -> FitResult:
    """Optimize ``params`` on ``problem``: validate nothing, run the loop, package the result.

    The engine is entered once (:func:`~dl_workshop.engine.runner.run_loop` builds the loop's
    state from ``params`` or ``start`` and reads the options from ``settings``). Raises
    :class:`~dl_workshop.DivergenceError` (or warns) when the run diverged; a run stopped by
    Ctrl-C comes back with status ``"interrupted"`` and no warning (the front door warns).
    """
    outcome = run_loop(
        problem.objective, problem.data, params, settings, callback=callback, start=start,
        device=problem.device,
    )
    result = package_result(
        outcome, record_every=settings.record_every, dtype=settings.dtype,
        to_default_device=problem.device is not None,
    )
    if int(outcome.state.status) == DIVERGED and not outcome.interrupted:
        _explain_divergence(result, settings, problem, params)
    return result


def warn_if_interrupted(result: FitResult, n_steps: int, *, stacklevel: int) -> FitResult:
    """Warn that Ctrl-C stopped the run (the result holds what was done); return ``result``."""
    if result.status == "interrupted":
        warnings.warn(
            INTERRUPTED.format(done=result.n_steps, total=n_steps), RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
    return result
