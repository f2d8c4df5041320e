"""The fast path's objective: ``mseloss`` of ``linear_model`` computed from sufficient statistics.

With the statistics of :mod:`dl_workshop.objectives.statistics`, the mean squared error of any
``(w, b)`` is a quadratic in ``(w, b)`` (see that module's notes); :class:`LinearMSEObjective`
evaluates it and its gradient in ``O(d² k)`` per step instead of ``O(n d k)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import unpack_linear_params
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.objectives.statistics import LinearMSEStats, statistics_of

__all__ = ["LinearMSEObjective", "linear_mse_loss"]


def _matrix_params(theta: Any, n_outputs: int) -> tuple[jax.Array, jax.Array]:
    """``(w, b)`` of any accepted form as ``w`` of shape ``(d, k)`` and ``b`` of shape ``(k,)``."""
    w, b = unpack_linear_params(theta)
    w = jnp.asarray(w)
    b = jnp.asarray(b)
    if w.ndim == 0:
        w = w.reshape(1, 1)
    elif w.ndim == 1:
        w = w[:, None]
    return w, jnp.broadcast_to(b.reshape(-1) if b.ndim else b, (n_outputs,))


def linear_mse_loss(theta: Any, stats: LinearMSEStats) -> jax.Array:
    """``mseloss(theta, linear_model, x, y)`` computed from the statistics of ``(x, y)``.

    Args:
        theta: linear-model parameters in any form :func:`~dl_workshop.linear_model` accepts
            (scalar ``w`` and ``b``; ``w`` of shape ``(d,)`` or ``(d, k)``, ``b`` a scalar or of
            shape ``(k,)``).
        stats: the :class:`LinearMSEStats` of the data.

    Returns:
        A scalar array: the mean squared error over all ``n * k`` entries.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> y = 2.0 * x + 1.0
        >>> from dl_workshop.objectives.fastpath import sufficient_statistics
        >>> stats = sufficient_statistics(x, y)
        >>> theta = {"w": 1.0, "b": 0.0}
        >>> bool(abs(linear_mse_loss(theta, stats) - mseloss(theta, linear_model, x, y)) < 1e-5)
        True
    """
    k = stats.w_star.shape[1]
    w, b = _matrix_params(theta, k)
    delta = w - stats.w_star
    offset = stats.mean_x @ w + b - stats.mean_y
    quadratic = jnp.sum(delta * (stats.cov @ delta)) + jnp.sum(offset * offset)
    return stats.min_loss + quadratic / k


class LinearMSEObjective(NamedTuple):
    """``(params, t, stats) -> (loss, grads)`` of ``mseloss`` with ``linear_model``.

    The engine's ``objective`` for the fast path; ``data`` is a :class:`LinearMSEStats`. It has
    no fields, so all instances are equal and share compiled code.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> from dl_workshop.objectives.fastpath import sufficient_statistics
        >>> stats = sufficient_statistics(x, 2.0 * x)
        >>> loss, grads = LinearMSEObjective()({"w": 2.0, "b": 0.0}, 0, stats)
        >>> round(float(loss), 6)
        0.0
    """

    def __call__(self, params: Any, t: Any, stats: LinearMSEStats) -> tuple[Any, Any]:
        del t
        k = stats.w_star.shape[1]
        # The gradient of the quadratic written out (one d x d product per step, where
        # autodiff would form C δ and δᵀ C), then mapped back onto params' structure.
        w, b = _matrix_params(params, k)
        delta = w - stats.w_star
        curvature = stats.cov @ delta
        offset = stats.mean_x @ w + b - stats.mean_y
        loss = stats.min_loss + (jnp.sum(delta * curvature) + jnp.sum(offset * offset)) / k
        grad_w = (2.0 / k) * (curvature + jnp.outer(stats.mean_x, offset))
        grad_b = (2.0 / k) * offset
        return loss, _as_params_grads(params, k, grad_w, grad_b)


def _as_params_grads(params: Any, k: int, grad_w: jax.Array, grad_b: jax.Array) -> Any:
    """The gradients w.r.t. ``(w, b)`` in matrix form, in the structure of ``params``.

    What ``jax.vjp`` of :func:`_matrix_params` gives (a reshape for ``w``; for a ``b`` broadcast
    to the ``k`` outputs, the sum over them), without tracing the vjp: it is most of the
    tracing time of the fast path's first call.
    """
    w, b = unpack_linear_params(params)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if sum(leaf is w for leaf in leaves) != 1 or sum(leaf is b for leaf in leaves) != 1:
        (_, to_params) = jax.vjp(lambda p: _matrix_params(p, k), params)
        return to_params((grad_w, grad_b))[0]
    g_w = grad_w.reshape(jnp.shape(w))
    g_b = grad_b if jnp.size(b) == k else jnp.sum(grad_b)
    g_b = g_b.reshape(jnp.shape(b))
    grads = [g_w if leaf is w else g_b if leaf is b else jnp.zeros_like(leaf) for leaf in leaves]
    return jax.tree_util.tree_unflatten(treedef, grads)


def linear_form_applies(model: Any, loss: Any, params: Any, d: int) -> bool:
    """Whether ``(model, loss, params)`` is :func:`~dl_workshop.linear_model` with
    :func:`~dl_workshop.mseloss` in its matrix form for ``d`` input columns (a scalar ``w``
    only with one input column), whose loss the statistics determine."""
    if model is not linear_model or loss is not mseloss:
        return False
    try:
        w, _ = unpack_linear_params(params)
    except (TypeError, ValueError):
        return False
    return not (jnp.ndim(w) == 0 and d != 1)  # a scalar w scales every column otherwise


def fast_path_applies(model: Any, loss: Any, params: Any, x: jax.Array) -> bool:
    """Whether ``fit`` may replace the full-batch objective by :class:`LinearMSEObjective`.

    Only for the built-in :func:`~dl_workshop.linear_model` with :func:`~dl_workshop.mseloss`
    in its matrix form (a scalar ``w`` only with one input column), and only when the ``d x d``
    statistics are no larger than the data (``d <= n``).
    """
    d = 1 if x.ndim == 1 else x.shape[1]
    return linear_form_applies(model, loss, params, d) and d <= x.shape[0]


def fast_path_problem(
    objective: Any, params: Any, data: tuple[Any, Any], dtype: np.dtype
) -> tuple[Any, Any]:
    """``(objective, data)`` for the engine: the fast path's when it applies, else unchanged."""
    x, y = data
    if not fast_path_applies(objective.model, objective.loss, params, x):
        return objective, data
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # fit has validated the data already: do not read it again to check it.
            stats = statistics_of(x, y, dtype, host_arrays=True)
    except np.linalg.LinAlgError:
        stats = None
    if stats is None or not all(np.isfinite(s).all() for s in stats):
        # Data so large that its squares overflow: the general path reports the inf loss as a
        # DivergenceError at step 0 instead of an error from inside the linear algebra.
        return objective, data
    return LinearMSEObjective(), stats
