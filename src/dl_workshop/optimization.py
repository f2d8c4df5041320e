"""The engine's front doors: :func:`fit`, :func:`fit_objective`, :func:`model_optimization_loop`.

Each is a thin pipeline (see ``docs/architecture.md``)::

    validate the options (settings.fit_settings)
      -> choose the objective (objectives.choose: full batch, minibatch or the fast path)
      -> solve (solver.solve: the engine's compiled loop, the result, divergence advice),
         through checkpoint.solve_with_checkpoint when a checkpoint file is given.

Float64 is enabled for the call only (``_precision.precision``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import optax

from dl_workshop._precision import precision
from dl_workshop._validation import as_params, check_callable
from dl_workshop.checkpoint import run_names, solve_with_checkpoint
from dl_workshop.engine.divergence import DivergenceError, DivergenceWarning, estimate_curvature
from dl_workshop.engine.optimizers import gradient_descent
from dl_workshop.engine.result import FitResult
from dl_workshop.engine.step import EXPLODE_FACTOR as EXPLODE_FACTOR  # re-exported
from dl_workshop.objectives.choose import Problem, choose_problem, placed_problem
from dl_workshop.settings import FitSettings, fit_settings
from dl_workshop.solver import solve, warn_if_interrupted

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "estimate_curvature",
    "fit",
    "fit_objective",
    "gradient_descent",
    "model_optimization_loop",
]

def _run(settings: FitSettings, params: Any, problem: Problem, names: dict[str, Any]):
    """Solve, through the checkpoint file when there is one; warn about Ctrl-C otherwise."""
    if settings.checkpoint is not None:
        return solve_with_checkpoint(settings, params, problem, names=names)
    return warn_if_interrupted(solve(settings, params, problem), settings.n_steps, stacklevel=3)


def fit(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    n_steps: int = 3000,
    step_size: float = 0.001,
    *,
    optimizer: optax.GradientTransformation | None = None,
    progress: bool | None = None,
    record_every: int = 0,
    tol: float | None = None,
    patience: int = 1,
    on_divergence: str = "raise",
    dtype: Any = None,
    checkpoint_every: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int | None = None,
    seed: int = 0,
    shuffle_window: int | None = None,
    fast_path: bool = True,
) -> FitResult:
    """Optimize ``theta`` to minimize ``loss(theta, model, x, y)``; return losses, path and status.

    The steps run compiled (``jax.jit`` over ``jax.lax.scan``), in chunks so that a progress bar
    can advance; there is no Python-level work per step.

    Args:
        theta: starting parameters, any pytree (dict, tuple, list, NamedTuple) of numbers or
            arrays that ``model`` accepts. It is not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``, e.g. :func:`~dl_workshop.mseloss`.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``; integers are cast to float.
        y: targets, shape ``(n,)`` or ``(n, d_out)``, same ``n`` as ``x``.
        n_steps: maximum number of steps, >= 1.
        step_size: learning rate of the built-in gradient descent, > 0 (ignored when
            ``optimizer`` is given: the optax optimizer carries its own).
        optimizer: any ``optax.GradientTransformation`` (e.g. ``optax.adam(0.1)``); ``None`` means
            plain gradient descent with ``step_size``.
        progress: ``True`` always shows a tqdm progress bar, ``False`` never, ``None`` only when
            the run is estimated to take more than two seconds.
        record_every: record the parameters every this many steps into ``FitResult.path``
            (``0``: do not record; ``1``: every step).
        tol: stop when the relative improvement ``(prev - loss) / |prev|`` stays below ``tol``
            for ``patience`` consecutive steps; ``None`` runs all ``n_steps``.
        patience: consecutive steps below ``tol`` needed to stop, >= 1.
        on_divergence: ``"raise"`` a :class:`DivergenceError`, or ``"warn"`` and return the
            result up to the last good step.
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default (float32 unless
            x64 is enabled). float64 is enabled for this call only.
        checkpoint_every: write the checkpoint every this many steps (default: about 20
            checkpoints per run); without ``checkpoint``, the chunk length, so that callbacks
            fall on multiples of it.
        checkpoint: path of a checkpoint file (``.npz``), written atomically every
            ``checkpoint_every`` steps and when the run is interrupted (Ctrl-C); see
            :mod:`dl_workshop.checkpoint`. A file already there must be a checkpoint of this
            library (anything else is refused with ``ValueError`` before the fit, and left
            alone); one written by another run needs ``overwrite=True``.
        resume: with ``checkpoint``, continue from that file if it exists (it must come from the
            same problem and settings, else ``ValueError``); a resumed run gives the same
            parameters and losses as an uninterrupted one. ``False`` starts over.
        overwrite: with ``checkpoint``, replace a checkpoint written by another run (another
            problem or other settings) instead of refusing it.
        batch_size: minibatch SGD: each step uses ``batch_size`` rows (``None``: all rows).
            Rows are reshuffled every epoch from ``seed``; the batch of step ``t`` is picked
            inside the compiled loop, so runs are deterministic and resumable. The order is
            defined in :mod:`dl_workshop.streaming` (``fit_stream`` reproduces it from files).
        seed: seed of the minibatch shuffling, an integer >= 0.
        shuffle_window: shuffle within consecutive windows of this many rows instead of across
            all rows (what streaming from a file with ``chunk_size=shuffle_window`` does).
        fast_path: with ``model=linear_model`` and ``loss=mseloss`` (full batch), optimize on
            the data's sufficient statistics (:mod:`dl_workshop.fastpath`): the same iterates
            and losses to float tolerance, each step ``O(d²)`` instead of ``O(n d)``. ``False``
            always runs the general path.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError, TypeError: for invalid arguments, naming the argument.
        DivergenceError: when the loss or gradient becomes non-finite or explodes (with
            ``on_divergence="raise"``).

    Example:
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.data import x, make_y
        >>> result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0),
        ...              n_steps=3000, step_size=0.05, progress=False)
        >>> round(float(result.theta["w"]), 1), round(float(result.theta["b"]), 1)
        (2.0, 20.1)
    """
    settings = fit_settings(
        n_steps=n_steps, step_size=step_size, optimizer=optimizer, progress=progress,
        record_every=record_every, tol=tol, patience=patience, on_divergence=on_divergence,
        dtype=dtype, checkpoint_every=checkpoint_every, checkpoint=checkpoint, resume=resume,
        overwrite=overwrite,
        batch_size=batch_size, seed=seed, shuffle_window=shuffle_window, fast_path=fast_path,
    )
    with precision(settings.dtype):
        params = as_params(theta, "theta", dtype=settings.dtype)
        problem = choose_problem(model, loss, params, x, y, settings)
        return _run(settings, params, problem, run_names(model, loss, None))


def fit_objective(
    objective: Callable[[Any, Any, Any], tuple[Any, Any]],
    theta: Any,
    data: Any,
    n_steps: int = 3000,
    step_size: float = 0.001,
    *,
    optimizer: optax.GradientTransformation | None = None,
    progress: bool | None = None,
    record_every: int = 0,
    tol: float | None = None,
    patience: int = 1,
    on_divergence: str = "raise",
    dtype: Any = None,
    checkpoint_every: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> FitResult:
    """Minimize your own ``objective(params, t, data) -> (loss, grads)`` with :func:`fit`'s engine.

    For problems that are not ``loss(theta, model, x, y)`` on rows of data (a penalized or
    weighted loss, precomputed statistics, a step-dependent batch): the same compiled loop,
    divergence checks, early stopping, path recording and checkpoints as :func:`fit`. Make the
    objective a module-level function or a NamedTuple so that repeated fits reuse its compiled
    code (it is a static argument of ``jax.jit``).

    Args:
        objective: ``objective(params, t, data) -> (loss, grads)``: the scalar loss at step ``t``
            and its gradient in the structure of ``params``.
        theta: starting parameters (any pytree); not modified.
        data: a pytree of arrays passed to ``objective`` unchanged.
        n_steps: maximum number of steps, >= 1.
        step_size: step size of the built-in gradient descent, > 0.
        optimizer: an optax optimizer, or ``None`` for plain gradient descent.
        progress: progress bar: ``True``, ``False`` or ``None`` (only for long runs).
        record_every: record the parameters every this many steps (``0``: never).
        tol: relative-improvement threshold for early stopping; ``None`` runs all steps.
        patience: consecutive steps below ``tol`` needed to stop, >= 1.
        on_divergence: ``"raise"`` or ``"warn"``, as in :func:`fit`.
        dtype: ``"float32"`` or ``"float64"`` (enabled for this call only); ``None``: JAX's default.
        checkpoint_every: steps per compiled call, and between checkpoints.
        checkpoint: a checkpoint file, as in :func:`fit`.
        resume: continue from ``checkpoint`` if it exists.
        overwrite: replace a checkpoint of another run, as in :func:`fit`.

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
    settings = fit_settings(
        n_steps=n_steps, step_size=step_size, optimizer=optimizer, progress=progress,
        record_every=record_every, tol=tol, patience=patience, on_divergence=on_divergence,
        dtype=dtype, checkpoint_every=checkpoint_every, checkpoint=checkpoint, resume=resume,
        overwrite=overwrite,
    )
    with precision(settings.dtype):
        params = as_params(theta, "theta", dtype=settings.dtype)
        problem = placed_problem(objective, data, objective, data)
        return _run(settings, params, problem, run_names(None, None, objective))


def model_optimization_loop(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    n_steps: int = 3000,
    step_size: float = 0.001,
    *,
    optimizer: optax.GradientTransformation | None = None,
    progress: bool | None = None,
    **options: Any,
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
        n_steps: number of steps, >= 1.
        step_size: gradient-descent step size, > 0.
        optimizer: an optax optimizer to use instead of plain gradient descent.
        progress: progress bar: ``True``, ``False`` or ``None`` (only for long runs).
        **options: further keyword arguments of :func:`fit`.

    Returns:
        ``(losses, theta)``: a NumPy array of shape ``(n_steps,)`` with the loss of each step,
        and the optimized parameters in the container type of the ``theta`` given.

    Example:
        >>> from dl_workshop import linear_model, mseloss, model_optimization_loop
        >>> from dl_workshop.data import x, make_y
        >>> losses, theta = model_optimization_loop(
        ...     {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), n_steps=3000)
        >>> losses.shape
        (3000,)
    """
    result = fit(
        theta,
        model,
        loss,
        x,
        y,
        n_steps,
        step_size,
        optimizer=optimizer,
        progress=progress,
        **options,
    )
    return result.losses, result.theta
