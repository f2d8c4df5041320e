"""Solve one chosen problem: run the engine's loop with the settings, package the result,
explain a divergence.

Layer 4 (see ``docs/architecture.md``): below the front doors (``fit``, checkpointing,
streaming), which all end here, and above the engine and the objectives.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from dl_workshop.engine.divergence import estimate_curvature, nonfinite_at_start, report_divergence
from dl_workshop.engine.result import FitResult, package_result
from dl_workshop.engine.runner import chunk_plan, run_loop
from dl_workshop.engine.state import DIVERGED, LoopState, hyper, initial_state
from dl_workshop.objectives.choose import Problem
from dl_workshop.objectives.full_batch import FullBatchObjective
from dl_workshop.settings import FitSettings

#: Warned when Ctrl-C stops a fit that has no checkpoint.
INTERRUPTED = (
    "interrupted by the user after {done} of {total} steps; returning the parameters and "
    "losses so far"
)

#: ``(state, losses so far, recorded path parts)``: where a resumed run starts.
Start = tuple[LoopState, np.ndarray, list[Any]]


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

    Raises :class:`~dl_workshop.DivergenceError` (or warns) when the run diverged; a run stopped
    by Ctrl-C comes back with status ``"interrupted"`` and no warning (the front door warns).
    """
    plan = chunk_plan(settings.n_steps, settings.record_every, settings.checkpoint_every)
    loop_hyper = hyper(
        settings.step_size, settings.n_steps, settings.tol_value, settings.patience,
        settings.dtype,
    )
    if start is None:
        state, history = initial_state(params, settings.optimizer, settings.dtype), ([], [])
    else:
        state, history = start[0], ([np.asarray(start[1])], list(start[2]))
    if problem.device is not None:
        # Compiled code runs on the device of its (committed) inputs.
        state, loop_hyper = jax.device_put((state, loop_hyper), problem.device)
    outcome = run_loop(
        problem.objective, settings.optimizer, state, problem.data, loop_hyper, plan,
        progress=settings.progress, callback=callback, history=history,
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
