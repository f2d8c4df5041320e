"""Logistic regression: the linear model squashed into a probability, and its loss.

``logistic_model(theta, x) = logistic(linear_model(theta, x))`` predicts the probability that a
point's label is 1. The loss is the negative log-likelihood of the 0/1 labels,
``-sum(y log p + (1 - y) log(1 - p))``, summed over the points (not averaged) as in the
workshop, so that its step sizes (0.0001 for 5 000 steps) work as written.

In float32 a probability saturates: ``logistic(20.0)`` is exactly 1, and ``log(1 - 1)`` is
``-inf``. Two things keep the loss and its gradient finite: for :func:`logistic_model` the loss
is computed from the logits ``z`` with ``log(logistic(z)) = -softplus(-z)``, exactly, however
large ``z`` is; for any other model (a neural network ending in :func:`logistic`, say) the
probabilities are clipped to ``[eps, 1 - eps]`` (``eps`` the float's machine epsilon, 1.2e-7 in
float32) with the gradient passed through the clip unchanged, so a saturated, wrong prediction
costs at most ``-log(eps)`` (about 15.9) and still says which way to move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from dl_workshop._validation import as_array, check_model
from dl_workshop.lesson.model import linear_model

__all__ = [
    "binary_cross_entropy",
    "dlogistic_loss",
    "logistic",
    "logistic_loss",
    "logistic_model",
]

#: The message for labels and probabilities of different shapes (``(n,)`` against ``(n, 1)``
#: would broadcast to ``(n, n)`` and silently compare every label with every prediction).
SHAPES_DIFFER = (
    "y must have the same shape as the model's predictions; got y of shape {y} and predictions "
    "of shape {p}"
)


def logistic(z: Any) -> jax.Array:
    """The logistic (sigmoid) function ``1 / (1 + exp(-z))``, elementwise.

    Computed stably (``jax.nn.sigmoid``): no overflow for large ``|z|``, and its derivative
    ``p (1 - p)`` stays finite.

    Args:
        z: a number or an array of any shape.

    Returns:
        Values in ``[0, 1]``, an array of ``z``'s shape.

    Example:
        >>> logistic(0.0)
        Array(0.5, dtype=float32)
        >>> [round(float(v), 4) for v in logistic([-2.0, 2.0])]
        [0.1192, 0.8808]
    """
    return jax.nn.sigmoid(as_array(z, "z"))


def logistic_model(theta: Any, x: Any) -> jax.Array:
    """Logistic regression: ``logistic(linear_model(theta, x))``, the probability of label 1.

    Args:
        theta: the parameters ``(w, b)`` in any form :func:`~dl_workshop.linear_model` takes
            (dict, tuple, NamedTuple); scalar form with ``x`` of shape ``(n,)``, or matrix form
            with ``w`` of shape ``(d_in,)`` or ``(d_in, d_out)``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.

    Returns:
        Probabilities in ``[0, 1]`` of shape ``(n,)`` or ``(n, d_out)``.

    Example:
        >>> logistic_model({"w": 2.0, "b": 1.0}, [-0.5, 0.0])
        Array([0.5      , 0.7310586], dtype=float32)
    """
    return logistic(linear_model(theta, x))


def _checked(y_true: Any, y_pred: Any) -> tuple[jax.Array, jax.Array]:
    """Labels and predictions as arrays, after checking that their shapes agree."""
    y_true = as_array(y_true, "y")
    y_pred = as_array(y_pred, "predictions")
    if y_true.shape != y_pred.shape:
        raise ValueError(SHAPES_DIFFER.format(y=y_true.shape, p=y_pred.shape))
    return y_true, y_pred


def _clipped(p: jax.Array) -> jax.Array:
    """``p`` clipped to ``[eps, 1 - eps]``, with the gradient of the identity ("straight
    through"): the clip keeps ``log`` finite, and saturated points keep a gradient."""
    p = p.astype(jnp.result_type(p.dtype, float))
    eps = jnp.finfo(p.dtype).eps
    return p + jax.lax.stop_gradient(jnp.clip(p, eps, 1 - eps) - p)


def binary_cross_entropy(y_true: Any, y_pred: Any) -> jax.Array:
    """The log-likelihood of 0/1 labels under predicted probabilities, summed over every element.

    ``sum(y log p + (1 - y) log(1 - p))``: zero for certain, correct predictions and more
    negative the worse they are; the logistic loss is its negative. Probabilities are clipped
    to ``[eps, 1 - eps]`` (``eps`` the machine epsilon of their float type) so that saturated
    predictions (exactly 0 or 1 in float32) give a finite value and gradient.

    Args:
        y_true: labels 0 or 1 (integers or floats), shape ``(n,)`` or ``(n, d_out)``.
        y_pred: predicted probabilities of label 1, the shape of ``y_true``.

    Returns:
        A scalar array (at most 0).

    Raises:
        ValueError: if the shapes differ.

    Example:
        >>> round(float(binary_cross_entropy([1, 0], [0.9, 0.2])), 4)  # log 0.9 + log 0.8
        -0.3285
        >>> float(binary_cross_entropy([1], [0.0]))  # saturated, wrong: finite
        -15.9423...
    """
    y_true, y_pred = _checked(y_true, y_pred)
    p = _clipped(y_pred)
    return jnp.sum(y_true * jnp.log(p) + (1 - y_true) * jnp.log1p(-p))


def _from_logits(theta: Any, x: Any, y: Any) -> jax.Array:
    """The negative log-likelihood of ``logistic_model`` from its logits ``z``: with
    ``log p = -softplus(-z)`` and ``log(1 - p) = -softplus(z)``, exact for any ``z``."""
    z = linear_model(theta, x)
    y, z = _checked(y, z)
    return jnp.sum(y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z))


def logistic_loss(theta: Any, model: Callable[[Any, Any], Any], x: Any, y: Any) -> jax.Array:
    """The logistic loss: the negative :func:`binary_cross_entropy` of ``model(theta, x)``.

    Summed over the points, not averaged. ``theta`` comes first so that ``jax.grad``
    differentiates with respect to it; ``model`` is any function returning probabilities
    shaped like ``y`` (logistic regression, or a neural network ending in :func:`logistic`).
    For :func:`logistic_model` itself the loss is computed from the logits, exactly even where
    the probabilities saturate; otherwise from clipped probabilities (see the module).

    Args:
        theta: the model's parameters, any pytree the model accepts.
        model: ``model(theta, x)`` returning probabilities in ``[0, 1]`` shaped like ``y``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: labels 0 or 1, integers or floats, shape ``(n,)`` or ``(n, d_out)``.

    Returns:
        A scalar array, at least 0.

    Raises:
        ValueError: if the predictions' shape differs from ``y``'s.
        TypeError: if ``model`` is not callable.

    Example:
        >>> import numpy as np
        >>> x = np.array([-2.0, -1.0, 1.0, 2.0])
        >>> y = np.array([0, 0, 1, 1])
        >>> round(float(logistic_loss({"w": 2.0, "b": 0.0}, logistic_model, x, y)), 4)
        0.2902
    """
    check_model(model)
    if model is logistic_model:
        return _from_logits(theta, x, y)
    return -binary_cross_entropy(y, model(theta, x))


dlogistic_loss = jax.grad(logistic_loss)
dlogistic_loss.__doc__ = """Gradient of :func:`logistic_loss` with respect to ``theta``.

It is ``jax.grad(logistic_loss)``: it takes the same arguments as :func:`logistic_loss` and
returns the gradient in the structure of ``theta``, finite even where the model's
probabilities saturate.

Example:
    >>> import numpy as np
    >>> x, y = np.array([-1.0, 1.0]), np.array([0, 1])
    >>> g = dlogistic_loss({"w": 0.0, "b": 0.0}, logistic_model, x, y)
    >>> {k: round(float(v), 3) for k, v in sorted(g.items())}
    {'b': 0.0, 'w': -1.0}
"""
