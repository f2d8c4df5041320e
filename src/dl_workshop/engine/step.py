"""One step of the loop: loss and gradient, divergence and convergence checks, the update.

Steps after the loop has stopped (diverged, converged, or past ``n_steps``) leave the state as
it is, so every chunk of steps has the same length and compiles once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu

from dl_workshop.engine.objective import Objective
from dl_workshop.engine.state import CONVERGED, DIVERGED, RUNNING, Hyper, LoopState

#: A loss this many times larger than ``max(first loss, 1)`` counts as divergence. The floor of 1
#: keeps a start at the exact solution (first loss ~1e-15) from flagging any later movement, e.g.
#: Adam's first step of about the learning rate; tiny-scale losses that truly diverge still end in
#: inf/NaN, which is caught.
EXPLODE_FACTOR = 1e8


def all_finite(tree: Any) -> jax.Array:
    """Whether every leaf of ``tree`` is finite (a traced boolean)."""
    finite = jnp.asarray(True)
    for leaf in jax.tree_util.tree_leaves(tree):
        finite = finite & jnp.all(jnp.isfinite(leaf))
    return finite


def optimizer_update(
    optimizer: Any, grads: Any, opt_state: Any, params: Any, *, step_size: Any, loss: Any,
    value_fn: Any,
) -> tuple[Any, Any]:
    """``(updates, opt_state)``: plain gradient descent when ``optimizer`` is ``None``.

    Line-search methods (``optax.lbfgs``) re-evaluate the objective along their direction
    (``value_fn``); transforms that take no extra arguments ignore them.
    """
    if optimizer is None:
        return jax.tree_util.tree_map(lambda g: -step_size * g, grads), opt_state
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return optimizer.update(
            grads, opt_state, params, value=loss, grad=grads, value_fn=value_fn
        )
    return optimizer.update(grads, opt_state, params)


def value_function(objective: Objective, t: Any, data: Any) -> Any:
    """``params -> loss`` for line searches: the objective's ``value`` when it has one (its
    value alone, cheaper to trace and differentiate than value and gradient), else the first of
    ``value_and_grad``'s results."""
    if objective.value is not None:
        return lambda p: objective.value(p, t, data)
    return lambda p: objective.value_and_grad(p, t, data)[0]


def step(state: LoopState, data: Any, hyper: Hyper, objective: Objective, optimizer: Any):
    """Advance ``state`` by one step; returns ``(new_state, loss before the update)``."""
    loss, grads = objective.value_and_grad(state.params, state.t, data)
    active = (state.status == RUNNING) & (state.t < hyper.n_steps)
    first_loss = jnp.where(state.t == 0, loss, state.first_loss)
    exploded = (state.t > 0) & (loss > EXPLODE_FACTOR * jnp.maximum(first_loss, 1.0))
    bad = ~jnp.isfinite(loss) | ~all_finite(grads) | exploded
    updates, opt_state = optimizer_update(
        optimizer, grads, state.opt_state, state.params, step_size=hyper.step_size, loss=loss,
        value_fn=value_function(objective, state.t, data),
    )
    params = optax.apply_updates(state.params, updates)
    # Relative improvement for early stopping (tol <= 0 disables it).
    scale = jnp.maximum(jnp.abs(state.prev_loss), jnp.finfo(loss.dtype).tiny)
    small = (state.t > 0) & (hyper.tol > 0) & ((state.prev_loss - loss) / scale < hyper.tol)
    n_small = jnp.where(small, state.n_small + 1, 0)
    go = active & ~bad
    status = jnp.where(
        active & bad, DIVERGED, jnp.where(go & (n_small >= hyper.patience), CONVERGED, state.status)
    )
    new_state = LoopState(
        params=otu.tree_where(go, params, state.params),
        opt_state=otu.tree_where(go, opt_state, state.opt_state),
        last_good=otu.tree_where(go, state.params, state.last_good),
        t=jnp.where(go, state.t + 1, state.t),
        status=status,
        first_loss=jnp.where(active, first_loss, state.first_loss),
        prev_loss=jnp.where(go, loss, state.prev_loss),
        n_small=jnp.where(go, n_small, state.n_small),
    )
    return new_state, loss
