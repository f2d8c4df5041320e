"""``partial_fit``'s updates: one optimizer step per minibatch, with the state kept on the host."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dl_workshop._precision import x64
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.problem import LEAST_SQUARES, DesignData, as_dtype
from dl_workshop.estimator.solve import optimizer_for, step_size_for
from dl_workshop.fitting.optimization import DivergenceError

PARTIAL_DIVERGED_MESSAGE = (
    "partial_fit diverged at update {update}: the loss or the parameters became non-finite "
    "with learning_rate={learning_rate!r}; use a smaller learning_rate, or learning_rate='auto'"
)


class Stream(NamedTuple):
    """What ``partial_fit`` carries from one call to the next (host arrays: picklable).

    Attributes:
        params: ``{"w": (d, k), "b": (k,)}`` in scaled variables.
        opt_state: the optax state (momentum, Adam moments), or ``()`` for gradient descent.
        step: the step size (``learning_rate="auto"``: ``1/L`` of the first batch).
    """

    params: dict
    opt_state: Any
    step: float | None


def start_stream(settings: Hyperparameters, params: dict, problem: DesignData,
                 step_size: Any = "auto") -> Stream:
    """The stream before the first update: ``params``, a fresh optimizer state, the step size
    (``"auto"``: the regressor's, :func:`~dl_workshop.estimator.optimizers.step_size_for`)."""
    if isinstance(step_size, str):
        step_size = step_size_for(settings, params, problem)
    optimizer = optimizer_for(settings, step_size)
    with x64(settings.dtype == np.float64):
        opt_state = optimizer.init(as_dtype(params, settings.dtype)) if optimizer else ()
    return Stream(params, jax.device_get(opt_state), step_size)


def stream_update(
    stream: Stream, settings: Hyperparameters, problem: DesignData, *, update: int,
    learning_rate: Any, objective: Any = LEAST_SQUARES,
) -> tuple[Stream, float]:
    """One optimizer update on the minibatch ``problem``; returns the new stream and the loss.

    Args:
        stream: the state after the previous update.
        settings: the validated hyperparameters.
        problem: this minibatch's scaled problem, in the fit dtype.
        update: the number of this update (1 for the first), for the error message.
        learning_rate: the ``learning_rate`` as the user gave it, for the error message.
        objective: the engine-form objective (default: the regressor's least squares).

    Returns:
        ``(stream, loss)``, the loss being the objective (with its offset) before the update.

    Raises:
        DivergenceError: if the loss or the parameters became non-finite.
    """
    dtype = settings.dtype
    with x64(dtype == np.float64):
        params, opt_state, loss = _partial_step(
            as_dtype(stream.params, dtype),
            stream.opt_state,
            problem,
            np.asarray(stream.step or 1.0, dtype),
            optimizer=optimizer_for(settings, stream.step),
            objective=objective,
        )
        # Host copies: the estimator stays picklable and independent of JAX's x64 mode.
        params, opt_state, loss = jax.device_get((params, opt_state, loss))
    if not (np.isfinite(loss) and _all_finite(params)):
        raise DivergenceError(
            PARTIAL_DIVERGED_MESSAGE.format(update=update, learning_rate=learning_rate),
            step=update,
            suggested_step_size=None,
            max_stable_step_size=None,
            result=None,
        )
    return Stream(params, opt_state, stream.step), float(loss)


@functools.partial(jax.jit, static_argnames=("optimizer", "objective"))
def _partial_step(params, opt_state, data, step_size, *, optimizer, objective=LEAST_SQUARES):
    """One optimizer update on one minibatch (what ``partial_fit`` does per call)."""
    loss, grads = objective(params, jnp.zeros((), jnp.int32), data)
    if optimizer is None:
        updates = jax.tree_util.tree_map(lambda g: -step_size * g, grads)
    elif isinstance(optimizer, optax.GradientTransformationExtraArgs):
        updates, opt_state = optimizer.update(
            grads,
            opt_state,
            params,
            value=loss,
            grad=grads,
            value_fn=lambda p: objective(p, jnp.zeros((), jnp.int32), data)[0],
        )
    else:
        updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def _all_finite(tree: Any) -> bool:
    return all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree_util.tree_leaves(tree))
