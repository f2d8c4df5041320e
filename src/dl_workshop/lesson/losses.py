"""Mean squared error, as a function of predictions and as a loss of the parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from dl_workshop._validation import as_array, check_model

__all__ = ["dmseloss", "mse", "mseloss"]


def mse(y_true: Any, y_pred: Any) -> jax.Array:
    """Mean squared error ``mean((y_true - y_pred) ** 2)`` over every element.

    Args:
        y_true: targets, shape ``(n,)`` or ``(n, d_out)``.
        y_pred: predictions of the same shape as ``y_true``.

    Returns:
        A scalar array.

    Raises:
        ValueError: if the shapes differ (broadcasting ``(n,)`` against ``(n, 1)`` would
            silently compare every target with every prediction).

    Example:
        >>> float(mse([1.0, 2.0], [1.0, 4.0]))
        2.0
    """
    y_true = as_array(y_true, "y")
    y_pred = as_array(y_pred, "predictions")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y must have the same shape as the model's predictions; got y of shape "
            f"{y_true.shape} and predictions of shape {y_pred.shape}"
        )
    return jnp.mean((y_true - y_pred) ** 2)


def mseloss(theta: Any, model: Callable[[Any, Any], Any], x: Any, y: Any) -> jax.Array:
    """Mean squared error of ``model(theta, x)`` against ``y``; differentiable w.r.t. ``theta``.

    ``theta`` comes first so that ``jax.grad(mseloss)`` differentiates with respect to it.

    Args:
        theta: the model's parameters, any pytree the model accepts (dict, tuple, NamedTuple).
        model: a function ``model(theta, x)`` returning predictions shaped like ``y``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.

    Returns:
        A scalar array.

    Example:
        >>> from dl_workshop import linear_model
        >>> float(mseloss({"w": 2.0, "b": 0.0}, linear_model, [1.0, 2.0], [2.0, 5.0]))
        0.5
    """
    check_model(model)
    return mse(y, model(theta, x))


dmseloss = jax.grad(mseloss)
dmseloss.__doc__ = """Gradient of :func:`mseloss` with respect to ``theta`` (``jax.grad(mseloss)``).

Takes the same arguments as :func:`mseloss` and returns the gradient in the same structure as
``theta``: a dict for a dict, a tuple for a tuple, a NamedTuple for a NamedTuple.

Example:
    >>> from dl_workshop import linear_model
    >>> g = dmseloss({"w": 2.0, "b": 0.0}, linear_model, [1.0, 2.0], [2.0, 5.0])
    >>> sorted(g)
    ['b', 'w']
"""
