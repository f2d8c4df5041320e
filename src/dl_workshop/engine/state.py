"""The loop's state and hyperparameters, carried through the compiled ``lax.scan``.

Both are built from NumPy values: converting Python numbers with ``jax.numpy`` would compile and
run a small program for each of them (about 15 ms each in a fresh process), where the compiled
loop takes NumPy arguments as they are.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from dl_workshop._executables import cached_call
from dl_workshop.engine.options import RUN_ONCE_OPTIONS, call_small

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


def _init(params: Any, optimizer: Any) -> Any:
    return optimizer.init(params)


_compiled_init = jax.jit(_init, static_argnames="optimizer")
_compiled_init_small = jax.jit(
    _init, static_argnames="optimizer", compiler_options=RUN_ONCE_OPTIONS
)


def clear_compiled_inits() -> None:
    """Drop the compiled optimizer initializations (the runner bounds compiled programs)."""
    _compiled_init.clear_cache()
    _compiled_init_small.clear_cache()


def optimizer_state(optimizer: Any, params: Any) -> Any:
    """``optimizer.init(params)`` as one compiled program (``optax.EmptyState()`` for ``None``).

    Optimizers build their state from many small arrays (``zeros_like`` of each parameter, step
    counts): one program for all of them instead of one per shape. An optimizer that cannot be
    a static argument of ``jax.jit`` is initialized as it is.
    """
    if optimizer is None:
        return optax.EmptyState()
    try:
        if jax.default_backend() != "cpu":
            return _compiled_init(params, optimizer=optimizer)
        # Parameters are small: fast to compile matters, and the library's own optimizers
        # come from the executable cache in a second process.
        with contextlib.suppress(jax.errors.JaxRuntimeError):  # e.g. refused small options
            return cached_call(
                _compiled_init_small, f"{__name__}._init(small=True)", (params,),
                {"optimizer": optimizer},
            )
        return call_small(_compiled_init_small, _compiled_init, params, optimizer=optimizer)
    except (TypeError, ValueError):  # not hashable
        return optimizer.init(params)


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


def hyper(step_size: float, n_steps: int, tol: float, patience: int, dtype: Any) -> Hyper:
    """The traced hyperparameters in the loop's dtype."""
    return Hyper(
        step_size=np.asarray(step_size, dtype),
        n_steps=np.asarray(n_steps, np.int32),
        tol=np.asarray(tol, dtype),
        patience=np.asarray(patience, np.int32),
    )
