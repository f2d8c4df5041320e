"""The one place where the estimator calls the engine, and what it says when a fit goes wrong."""

from __future__ import annotations

import warnings
from typing import Any

import optax
from sklearn.exceptions import ConvergenceWarning

from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.problem import Problem, objective_for
from dl_workshop.optimization import DivergenceError, fit_objective

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
UNCERTIFIED_MESSAGE = (
    "{estimator} stopped after {n_iter} iterations where the loss's rounding noise "
    "exceeds tol={tol:g} and the gradient is not yet rounding noise: the coefficients may be "
    "inaccurate (the data are ill-conditioned; see rank_ and condition_number_); increase "
    "max_iter, or standardize"
)
LBFGS_ADVICE = "increase max_iter or tol"
OTHER_ADVICE = "increase max_iter or tol, or use optimizer='lbfgs' with standardize=True"


def run_engine(
    problem: Problem,
    params0: dict,
    settings: Hyperparameters,
    *,
    step_size: float | None,
    optimizer: optax.GradientTransformation | None,
    objective: Any = None,
    estimator: str = "GradientDescentRegressor",
) -> Any:
    """Minimize the estimator's objective on ``problem`` from ``params0`` in the engine.

    Args:
        problem: the scaled, padded problem (:func:`~dl_workshop.estimator.problem.build_problem`).
        params0: starting parameters ``{"w": (d, k), "b": (k,)}`` in the padded shape.
        settings: the validated hyperparameters (iterations, ``tol``, dtype, checkpoints).
        step_size: the step size of the built-in gradient descent (``None``: the optimizer's).
        optimizer: the optax optimizer, or ``None`` for the engine's gradient descent.
        objective: the engine's objective (``None``: the least-squares one of ``problem``,
            :func:`~dl_workshop.estimator.problem.objective_for`).
        estimator: the class named in the error message.

    Returns:
        The engine's ``FitResult`` (``theta``, ``losses``, ``n_steps``, ``status``).

    Raises:
        DivergenceError: with the estimator's advice (see :func:`divergence_error`).
    """
    try:
        return fit_objective(
            objective if objective is not None else objective_for(problem),
            params0,
            problem,
            n_steps=settings.max_iter,
            step_size=step_size if step_size is not None else 1.0,
            optimizer=optimizer,
            progress=None if settings.verbose else False,
            tol=settings.tol,
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
        )
    except DivergenceError as exc:
        raise divergence_error(exc, step_size, estimator) from exc


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


def warn_if_not_converged(result: Any, settings: Hyperparameters,
                          estimator: str = "GradientDescentRegressor") -> None:
    """A ``ConvergenceWarning`` when ``max_iter`` ran out before ``tol`` was met, or when the
    fit stopped where neither the loss nor the certificate can vouch for it (status
    ``"uncertified"``, see :mod:`~dl_workshop.estimator.finish`)."""
    if result.status == "uncertified":
        warnings.warn(
            UNCERTIFIED_MESSAGE.format(estimator=estimator, n_iter=int(result.n_steps),
                                       tol=settings.tol),
            ConvergenceWarning,
            stacklevel=3,
        )
    if result.status == "max_steps" and settings.tol is not None:
        advice = LBFGS_ADVICE if settings.optimizer == "lbfgs" else OTHER_ADVICE
        warnings.warn(
            NOT_CONVERGED_MESSAGE.format(estimator=estimator, max_iter=settings.max_iter,
                                         tol=settings.tol, advice=advice),
            ConvergenceWarning,
            stacklevel=3,
        )
