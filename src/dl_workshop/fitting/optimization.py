"""The engine's front doors: :func:`fit`, :func:`fit_objective`, :func:`model_optimization_loop`.

Each is a thin pipeline (see ``docs/architecture.md``)::

    validate the options (settings.takes_options: fit_settings, once, before the door's body)
      -> choose the objective (fitting.choose: full batch, minibatch or the fast path, in one
         call that returns the placed problem)
      -> solve (solver.solve: the engine's compiled loop, the result, divergence advice),
         through checkpoint.solve_with_checkpoint only when a checkpoint file is given.

Float64 is enabled for the call only (``_precision.precision``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._precision import precision
from dl_workshop._validation import as_params, check_callable
from dl_workshop.engine.divergence import DivergenceError, DivergenceWarning, estimate_curvature
from dl_workshop.engine.objective import Objective
from dl_workshop.engine.optimizers import gradient_descent
from dl_workshop.engine.result import FitResult
from dl_workshop.engine.step import EXPLODE_FACTOR as EXPLODE_FACTOR  # re-exported
from dl_workshop.fitting.checkpoint import solve_with_checkpoint
from dl_workshop.fitting.choose import Problem, choose_problem, placed_problem
from dl_workshop.fitting.settings import FIT, OBJECTIVE, FitSettings, takes_options
from dl_workshop.fitting.solver import solve, warn_if_interrupted

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "Objective",
    "estimate_curvature",
    "fit",
    "fit_objective",
    "gradient_descent",
    "model_optimization_loop",
]

#: Frames from ``_run`` up to the user's call: ``_run``, the door's body, its wrapper, the caller.
_OBJECTIVE_DEPTH = 4


def _run(settings: FitSettings, params: Any, problem: Problem, functions: tuple[Any, Any, Any],
         *, depth: int):
    """Solve, through the checkpoint file when there is one (``functions``: the run's model,
    loss and objective, which the file records); warn about Ctrl-C otherwise (``depth``: the
    user's frame, counting ``_run`` as 1, for the warnings)."""
    if settings.checkpoint is not None:
        return solve_with_checkpoint(settings, params, problem, functions=functions,
                                     stacklevel=depth + 1)
    return warn_if_interrupted(solve(settings, params, problem), settings.n_steps,
                               stacklevel=depth)


def fit_with_settings(theta: Any, model: Any, loss: Any, x: Any, y: Any,
                      settings: FitSettings) -> FitResult:
    """:func:`fit` after its options are validated: choose the problem and solve it.

    Called by the door of :func:`fit` (and of :func:`model_optimization_loop` and
    :func:`~dl_workshop.fitting.parallel.fit_sharded`), one frame below the door's body.
    """
    with precision(settings.dtype):
        params = as_params(theta, "theta", dtype=settings.dtype)
        problem = choose_problem(model, loss, params, x, y, settings)
        return _run(settings, params, problem, (model, loss, None), depth=_OBJECTIVE_DEPTH + 1)


@takes_options(FIT)
def fit(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    settings: FitSettings,
) -> FitResult:
    """Optimize ``theta`` to minimize ``loss(theta, model, x, y)``; return losses, path and status.

    The steps run compiled (``jax.jit`` over ``jax.lax.scan``), in chunks so that a progress bar
    can advance; there is no Python-level work per step. The options after ``y`` (``n_steps`` and
    ``step_size`` by position or keyword, the others by keyword) are declared, with their
    defaults and meaning, in :data:`dl_workshop.fitting.settings.OPTIONS`.

    Args:
        theta: starting parameters, any pytree (dict, tuple, list, NamedTuple) of numbers or
            arrays that ``model`` accepts. It is not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``, e.g. :func:`~dl_workshop.mseloss`.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``; integers are cast to float.
        y: targets, shape ``(n,)`` or ``(n, d_out)``, same ``n`` as ``x``.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError, TypeError: for invalid arguments, naming the argument.
        DivergenceError: when the loss or gradient becomes non-finite or explodes (with
            ``on_divergence="raise"``).

    Example:
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.lesson.data import x, make_y
        >>> result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0),
        ...              n_steps=3000, step_size=0.05, progress=False)
        >>> round(float(result.theta["w"]), 1), round(float(result.theta["b"]), 1)
        (2.0, 20.1)
    """
    return fit_with_settings(theta, model, loss, x, y, settings)


@takes_options(OBJECTIVE)
def fit_objective(
    objective: Callable[[Any, Any, Any], tuple[Any, Any]],
    theta: Any,
    data: Any,
    settings: FitSettings,
) -> FitResult:
    """Minimize your own ``objective(params, t, data) -> (loss, grads)`` with :func:`fit`'s engine.

    For problems that are not ``loss(theta, model, x, y)`` on rows of data (a penalized or
    weighted loss, precomputed statistics, a step-dependent batch): the same compiled loop,
    divergence checks, early stopping, path recording and checkpoints as :func:`fit`. Make the
    objective a module-level function or a NamedTuple so that repeated fits reuse its compiled
    code (it is a static argument of ``jax.jit``). It takes :func:`fit`'s options but those of
    its data (``batch_size``, ``seed``, ``shuffle_window``, ``fast_path``).

    Args:
        objective: ``objective(params, t, data) -> (loss, grads)``: the scalar loss at step ``t``
            and its gradient in the structure of ``params``; or an :class:`Objective` of such a
            function and ``value(params, t, data) -> loss`` (the loss alone, which line searches
            such as ``optax.lbfgs`` then evaluate instead).
        theta: starting parameters (any pytree); not modified.
        data: a pytree of arrays passed to ``objective`` unchanged.

    Returns:
        A :class:`FitResult`.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> def objective(params, t, data):
        ...     return jax.value_and_grad(lambda p: jnp.sum((p - data) ** 2))(params)
        >>> result = fit_objective(objective, jnp.zeros(2), jnp.array([1.0, -2.0]),
        ...                        n_steps=200, step_size=0.1, progress=False)
        >>> [round(float(v), 3) for v in result.theta]
        [1.0, -2.0]
    """
    check_callable(objective, "objective")
    with precision(settings.dtype):
        params = as_params(theta, "theta", dtype=settings.dtype)
        problem = placed_problem(objective, data, objective, data)
        return _run(settings, params, problem, (None, None, objective), depth=_OBJECTIVE_DEPTH)


@takes_options(FIT)
def model_optimization_loop(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    settings: FitSettings,
) -> tuple[np.ndarray, Any]:
    """The lesson's loop: optimize ``theta`` for ``n_steps`` and record the loss at every step.

    A thin wrapper of :func:`fit` that returns the lesson's ``(losses, theta)``; every keyword
    of :func:`fit` (``tol``, ``record_every``, ``dtype``, ...) is accepted.

    Args:
        theta: starting parameters (dict, tuple/list or NamedTuple); not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.

    Returns:
        ``(losses, theta)``: a NumPy array of shape ``(n_steps,)`` with the loss of each step,
        and the optimized parameters in the container type of the ``theta`` given.

    Example:
        >>> from dl_workshop import linear_model, mseloss, model_optimization_loop
        >>> from dl_workshop.lesson.data import x, make_y
        >>> losses, theta = model_optimization_loop(
        ...     {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), n_steps=3000)
        >>> losses.shape
        (3000,)
    """
    result = fit_with_settings(theta, model, loss, x, y, settings)
    return result.losses, result.theta
