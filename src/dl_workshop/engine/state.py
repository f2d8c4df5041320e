"""The loop's state and hyperparameters, carried through the compiled ``lax.scan``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

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


def initial_state(params: Any, optimizer: Any, dtype: Any) -> LoopState:
    """The loop state before step 0 (also the template a checkpoint is restored into)."""
    opt_state = optimizer.init(params) if optimizer is not None else optax.EmptyState()
    zero = jnp.zeros((), dtype)
    return LoopState(
        params=params,
        opt_state=opt_state,
        last_good=params,
        t=jnp.zeros((), jnp.int32),
        status=jnp.asarray(RUNNING, jnp.int32),
        first_loss=zero,
        prev_loss=zero,
        n_small=jnp.zeros((), jnp.int32),
    )


def hyper(step_size: float, n_steps: int, tol: float, patience: int, dtype: Any) -> Hyper:
    """The traced hyperparameters in the loop's dtype."""
    return Hyper(
        step_size=jnp.asarray(step_size, dtype),
        n_steps=jnp.asarray(n_steps, jnp.int32),
        tol=jnp.asarray(tol, dtype),
        patience=jnp.asarray(patience, jnp.int32),
    )
