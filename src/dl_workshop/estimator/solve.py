"""The one place where the estimator calls the engine, with the fit's step size and optimizer,
and what it says when a fit goes wrong.

The estimator's hyperparameters are validated once, at its boundary
(:mod:`~dl_workshop.estimator.params`), and its problem and starting parameters are arrays it
built itself; so :func:`run_engine` hands them to the solver
(:func:`dl_workshop.fitting.solver.solve`) directly, moved into JAX in one transfer, rather than
through the public :func:`~dl_workshop.fitting.optimization.fit_objective`, which checks and copies
its arguments leaf by leaf (about a millisecond a fit, most of a small fit's host time). The
engine's settings are still made by :func:`~dl_workshop.fitting.settings.fit_settings`; a fit with a
checkpoint file goes through ``fit_objective``, which writes it. The step size
(:func:`step_size_for`: ``learning_rate="auto"`` is ``1/L``, ``L`` the largest eigenvalue of the
objective's Hessian by power iteration) and the optax optimizer (:func:`optimizer_for`, of
:func:`~dl_workshop.estimator.optimizers.named_optimizer`, cached) are chosen here too.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np
import optax
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from dl_workshop._precision import precision, x64
from dl_workshop.estimator.optimizers import named_optimizer
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.problem import (
    LEAST_SQUARES,
    DesignData,
    Prepared,
    as_dtype,
    curvature_loss,
)
from dl_workshop.fitting.choose import Problem as EngineProblem
from dl_workshop.fitting.optimization import DivergenceError, estimate_curvature, fit_objective
from dl_workshop.fitting.settings import fit_settings
from dl_workshop.fitting.solver import solve, warn_if_interrupted
from dl_workshop.lesson.model import linear_model

#: Iterations per compiled call of the engine (the loop checks for convergence in between).
CHUNK_STEPS = 16

DIVERGED_MESSAGE = (
    "{estimator} diverged at iteration {step} with {used}: the loss became "
    "non-finite or exploded. Use learning_rate='auto' (1/L, the largest step that decreases "
    "the loss monotonically) or optimizer='lbfgs', and standardize=True"
)
NOT_CONVERGED_MESSAGE = (
    "{estimator} stopped at max_iter={max_iter} before the relative loss decrease "
    "fell below tol={tol:g}; {advice}"
)
LBFGS_ADVICE = "increase max_iter or tol"
OTHER_ADVICE = "increase max_iter or tol, or use optimizer='lbfgs' with standardize=True"


def run_engine(
    problem: DesignData,
    params0: dict,
    settings: Hyperparameters,
    *,
    step_size: float | None,
    optimizer: optax.GradientTransformation | None,
    tol: float | None = None,
    objective: Any = None,
    estimator: str = "GradientDescentRegressor",
) -> Any:
    """Minimize the estimator's objective on ``problem`` from ``params0`` in the engine.

    Args:
        problem: the scaled, padded problem (:func:`~dl_workshop.estimator.problem.fit_problem`).
        params0: starting parameters ``{"w": (d, k), "b": (k,)}`` in the padded shape.
        settings: the validated hyperparameters (iterations, ``tol``, dtype, checkpoints).
        step_size: the step size of the built-in gradient descent (``None``: the optimizer's).
        optimizer: the optax optimizer, or ``None`` for the engine's gradient descent.
        tol: the engine's ``tol`` when it differs from ``settings.tol`` (see
            :func:`engine_tol`).
        objective: the engine's objective (``None``: the least-squares one of ``problem``,
            :data:`~dl_workshop.estimator.problem.LEAST_SQUARES`).
        estimator: the class named in the error message.

    Returns:
        The engine's ``FitResult`` (``theta``, ``losses``, ``n_steps``, ``status``).

    Raises:
        DivergenceError: with the estimator's advice (see :func:`divergence_error`).
    """
    options = dict(
        n_steps=settings.max_iter,
        step_size=step_size if step_size is not None else 1.0,
        optimizer=optimizer,
        progress=None if settings.verbose else False,
        tol=settings.tol if tol is None else tol,
        patience=settings.n_iter_no_change,
        dtype=settings.dtype,
        checkpoint=settings.checkpoint,
        # Without checkpoints, short chunks: steps after convergence still run to the
        # end of their compiled chunk.
        checkpoint_every=(
            settings.checkpoint_every
            if settings.checkpoint_every is not None
            else (None if settings.checkpoint else CHUNK_STEPS)
        ),
        resume=settings.resume,
        overwrite=settings.overwrite,
    )
    objective = objective if objective is not None else LEAST_SQUARES
    try:
        if settings.checkpoint is not None:
            return fit_objective(objective, params0, problem, **options)
        return _solve(objective, params0, problem, fit_settings(**options))
    except DivergenceError as exc:
        raise divergence_error(exc, step_size, estimator) from exc


def fit_engine(prep: Prepared) -> tuple[Any, float | None]:
    """The solve stage of ``fit``: the step size (:func:`step_size_for`) and optimizer
    (:func:`optimizer_for`), the engine's ``tol`` (:func:`engine_tol`), then :func:`run_engine`
    from ``prep.params0``.

    Returns:
        ``(result, step_size)``: the engine's ``FitResult`` and the step size used.
    """
    settings = prep.settings
    step_size = step_size_for(settings, prep.params0, prep.problem)
    result = run_engine(prep.problem, prep.params0, settings, step_size=step_size,
                        optimizer=optimizer_for(settings, step_size),
                        tol=engine_tol(settings.tol, prep.conditioning.loss_noise))
    return result, step_size


def step_size_for(settings: Hyperparameters, params: dict, data: DesignData) -> float | None:
    """The step size of a fit: ``None`` for the L-BFGS line search or a custom optimizer.

    ``params`` and ``data`` are needed only to estimate ``1/L`` for ``learning_rate="auto"``.
    """
    name, rate = settings.optimizer, settings.learning_rate
    if not isinstance(name, str) or (name == "lbfgs" and rate == "auto"):
        return None
    if rate == "auto":
        return 1.0 / _curvature(params, data, settings.dtype, settings.random_state)
    return rate


def optimizer_for(
    settings: Hyperparameters, step_size: float | None
) -> optax.GradientTransformation | None:
    """The optax optimizer of a fit (``None``: the engine's gradient descent)."""
    name = settings.optimizer
    return named_optimizer(name, step_size) if isinstance(name, str) else name


def _curvature(params: dict, data: DesignData, dtype: np.dtype, random_state: Any) -> float:
    """``L``, the largest eigenvalue of the scaled objective's Hessian (power iteration)."""
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    with x64(dtype == np.float64):
        curvature = estimate_curvature(
            curvature_loss, params, linear_model, as_dtype(data, dtype), None, seed=seed
        )
    if not np.isfinite(curvature) or curvature <= 0:
        # A zero Hessian (all-constant features without intercept): any step is stable.
        return 1.0
    return curvature


def _solve(objective: Any, params0: dict, problem: Any, engine: Any) -> Any:
    """:func:`~dl_workshop.fitting.solver.solve` on the estimator's own arrays: ``params0`` in the
    fit's dtype; ``problem`` as it is where JAX computes on the CPU (the compiled loop reads
    NumPy arrays in place), else put on the accelerator once, with the parameters (one
    transfer, not one per chunk); the host arrays kept for the divergence advice."""
    with precision(engine.dtype):
        params = {name: np.asarray(value, dtype=engine.dtype) for name, value in params0.items()}
        data = problem
        if jax.default_backend() != "cpu":
            params, data = jax.device_put((params, problem))
        result = solve(engine, params, EngineProblem(objective, data, objective, problem))
    return warn_if_interrupted(result, engine.n_steps, stacklevel=4)


def divergence_error(exc: DivergenceError, step_size: float | None,
                     estimator: str = "GradientDescentRegressor") -> DivergenceError:
    """The engine's :class:`DivergenceError` reworded for the estimator's hyperparameters."""
    used = (
        f"learning_rate={step_size:.4g}"
        if step_size is not None
        else "the optimizer's own learning rate"
    )
    return DivergenceError(
        DIVERGED_MESSAGE.format(estimator=estimator, step=exc.step, used=used),
        step=exc.step,
        suggested_step_size=exc.suggested_step_size,
        max_stable_step_size=exc.max_stable_step_size,
        result=exc.result,
    )


def engine_tol(tol: float | None, loss_noise: float) -> float | None:
    """The engine's ``tol``: the user's, raised to ``NOISE_MARGIN`` times the loss's relative
    rounding noise where that is larger (``None`` stays ``None``: all ``max_iter`` iterations).

    Below its rounding noise the loss cannot tell a decrease of ``tol`` (NIST Filip: noise 3e-8,
    ``tol`` 1e-12): iterates there wander at the noise level, and the loss test ends the fit by
    chance or at ``max_iter``. Stopping once the decreases are within the noise and leaving the
    last digits to the refinement (:mod:`~dl_workshop.estimator.refine`) ends it at once.

    Example:
        >>> engine_tol(1e-12, 3e-8), engine_tol(1e-12, 1e-16), engine_tol(None, 3e-8)
        (3e-07, 1e-12, None)
    """
    if not tol:
        return tol
    return max(tol, NOISE_MARGIN * loss_noise)


#: How many times the loss's rounding noise a relative decrease must exceed to count (see
#: :func:`engine_tol`).
NOISE_MARGIN = 10.0


def warn_if_not_converged(result: Any, settings: Hyperparameters,
                          estimator: str = "GradientDescentRegressor") -> None:
    """A ``ConvergenceWarning`` when ``max_iter`` ran out before ``tol`` was met."""
    if result.status == "max_steps" and settings.tol is not None:
        advice = LBFGS_ADVICE if settings.optimizer == "lbfgs" else OTHER_ADVICE
        warnings.warn(
            NOT_CONVERGED_MESSAGE.format(estimator=estimator, max_iter=settings.max_iter,
                                         tol=settings.tol, advice=advice),
            ConvergenceWarning,
            stacklevel=3,
        )
