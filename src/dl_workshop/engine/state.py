"""The loop's state and hyperparameters, carried through the compiled ``lax.scan``.

Both are built from NumPy values: converting Python numbers with ``jax.numpy`` would compile and
run a small program for each of them (about 15 ms each in a fresh process), where the compiled
loop takes NumPy arguments as they are.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
import optax.tree_utils as otu

from dl_workshop._precision import x64_enabled
from dl_workshop.engine.shapecheck import abstract_tree

# Status codes carried through the compiled loop.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2
STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged"}


class LoopState(NamedTuple):
    """Everything one step reads and writes (also what a checkpoint saves)."""

    params: Any
    opt_state: Any
    last_good: Any
    t: jax.Array  # steps completed (updates applied)
    status: jax.Array
    first_loss: jax.Array
    prev_loss: jax.Array
    n_small: jax.Array  # consecutive steps whose relative improvement was below tol


class Hyper(NamedTuple):
    """Traced hyperparameters: changing them never recompiles the loop."""

    step_size: jax.Array
    n_steps: jax.Array
    tol: jax.Array
    patience: jax.Array


def optimizer_state(optimizer: Any, params: Any) -> Any:
    """Zeros shaped like ``optimizer.init(params)`` (``optax.EmptyState()`` for ``None``).

    A placeholder: the compiled chunk computes ``optimizer.init`` itself at step 0 (see
    :func:`fresh_optimizer_state`), so that the optimizer's initialization is not a program of
    its own to trace, compile and load (about 45 ms in a fresh process for an L-BFGS state).
    Only its shapes are traced here, without running or compiling anything.

    Example:
        >>> import numpy as np, optax
        >>> state = optimizer_state(optax.adam(0.1), {"w": np.ones(3, np.float32)})
        >>> state[0].mu["w"].shape, state[0].count.dtype
        ((3,), dtype('int32'))
    """
    if optimizer is None:
        return optax.EmptyState()
    try:
        shapes = _state_shapes(optimizer, *abstract_tree(params), x64_enabled())
    except TypeError:  # an unhashable optimizer: traced every time
        shapes = jax.eval_shape(optimizer.init, params)
    return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)


@functools.lru_cache(maxsize=64)
def _state_shapes(optimizer: Any, treedef: Any, leaves: tuple, x64: bool) -> Any:
    """The shapes of ``optimizer.init`` on parameters of these shapes, traced once per process
    (a trace costs about 0.15 ms of every fit; ``x64`` is part of the key: it sets dtypes)."""
    del x64
    return jax.eval_shape(optimizer.init, jax.tree_util.tree_unflatten(treedef, leaves))


def fresh_optimizer_state(state: LoopState, optimizer: Any) -> LoopState:
    """``state`` with ``optimizer.init(params)`` as its optimizer state at step 0 (traced).

    Before step 0 the state holds :func:`optimizer_state`'s placeholder; a run resumed from a
    checkpoint (``t > 0``) keeps the state it saved.
    """
    if optimizer is None:
        return state
    fresh = optimizer.init(state.params)
    return state._replace(opt_state=otu.tree_where(state.t == 0, fresh, state.opt_state))


def initial_state(params: Any, optimizer: Any, dtype: Any) -> LoopState:
    """The loop state before step 0 (also the template a checkpoint is restored into)."""
    zero = np.zeros((), dtype)
    return LoopState(
        params=params,
        opt_state=optimizer_state(optimizer, params),
        last_good=params,
        t=np.zeros((), np.int32),
        status=np.asarray(RUNNING, np.int32),
        first_loss=zero,
        prev_loss=zero,
        n_small=np.zeros((), np.int32),
    )


#: ``(state, losses so far, recorded path parts)``: where a resumed run starts.
Start = tuple[LoopState, np.ndarray, list[Any]]


def loop_start(
    params: Any, settings: Any, start: Start | None = None
) -> tuple[LoopState, Hyper, tuple[list[np.ndarray], list[Any]]]:
    """The loop's state, its traced hyperparameters in the loop's dtype, and the losses and
    path recorded before that state (none for a fresh run).

    Args:
        params: the starting parameters (used when ``start`` is ``None``).
        settings: the fit's options (a :class:`~dl_workshop.fitting.settings.FitSettings`; read:
            ``step_size``, ``n_steps``, ``tol``, ``patience``, ``dtype``, ``optimizer``).
        start: where a resumed run starts, or ``None``.
    """
    dtype = settings.dtype
    hyper = Hyper(
        step_size=np.asarray(settings.step_size, dtype),
        n_steps=np.asarray(settings.n_steps, np.int32),
        tol=np.asarray(0.0 if settings.tol is None else settings.tol, dtype),
        patience=np.asarray(settings.patience, np.int32),
    )
    if start is None:
        return initial_state(params, settings.optimizer, dtype), hyper, ([], [])
    state, losses, path = start
    return state, hyper, ([np.asarray(losses)], list(path))
