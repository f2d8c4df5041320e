"""The functions a checker hands to learner code, and takes gradients through, besides the
lesson's own (:func:`~dl_workshop.linear_model`, :func:`~dl_workshop.mseloss`, ...).

They are module-level functions with fixed constants, never lambdas, closures or partials: a
grader that runs the learner's code in another process can name each of them by module and
qualified name and call it there. Each one differs from the lesson's function it stands in
for, so that learner code which ignores its argument and calls the notebook's function
instead gives a different answer, which the checker can name.

Example:
    >>> import numpy as np
    >>> from dl_workshop.teaching.checks.probe_functions import scaled_model
    >>> np.asarray(scaled_model({"w": 2.0, "b": 1.0}, np.array([1.0, 3.0]))).tolist()
    [3.0, 5.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BOWLS",
    "HUBER_DELTA",
    "SCALE_B",
    "SCALE_W",
    "bowl_gradient_a",
    "bowl_gradient_b",
    "bowl_gradient_c",
    "bowl_gradient_d",
    "line_loss_and_grad",
    "named_line_model",
    "projected_output",
    "pseudo_huber_loss",
    "scaled_model",
    "sine_logistic_model",
    "sine_model",
]

#: :func:`scaled_model` predicts ``SCALE_W * w * x + SCALE_B * b``: both factors far from 1,
#: and from each other, so that its gradient differs from the lesson's line in every entry.
SCALE_W = 0.5
SCALE_B = 2.0

#: :func:`pseudo_huber_loss`'s width: residuals much larger than this count linearly, not
#: squared, so its gradient differs from the mean squared error's in size and direction.
HUBER_DELTA = 1.0


def _w_and_b(theta: Any) -> tuple[Any, Any]:
    """``(w, b)`` of a dict ``{"w": w, "b": b}`` or a pair ``(w, b)``."""
    if isinstance(theta, Mapping):
        return theta["w"], theta["b"]
    w, b = theta
    return w, b


def sine_model(theta: Any, x: Any) -> Any:
    """``w * sin(x) + b``: a model that is not ``linear_model``, with the same parameters."""
    w, b = _w_and_b(theta)
    return w * jnp.sin(x) + b


def named_line_model(theta: Any, x: Any) -> Any:
    """``slope * x + intercept`` with ``theta = {"slope": ..., "intercept": ...}``: parameters
    that no ``linear_model`` of the lesson can read."""
    return theta["slope"] * x + theta["intercept"]


def scaled_model(theta: Any, x: Any) -> Any:
    """``SCALE_W * w * x + SCALE_B * b``: a line whose gradient is not the lesson's."""
    w, b = _w_and_b(theta)
    return SCALE_W * w * x + SCALE_B * b


def pseudo_huber_loss(theta: Any, model: Any, x: Any, y: Any) -> Any:
    """The mean pseudo-Huber loss ``delta**2 * (sqrt(1 + (r / delta)**2) - 1)`` of the
    residuals ``r = y - model(theta, x)``: a loss whose gradient is not the mean squared
    error's (large residuals pull with a force of about ``delta``, not ``2 r``)."""
    residual = (y - model(theta, x)) / HUBER_DELTA
    return jnp.mean(HUBER_DELTA**2 * (jnp.sqrt(1.0 + residual**2) - 1.0))


def projected_output(theta: Any, model: Any, x: Any, weights: Any) -> Any:
    """``sum(weights * model(theta, x))``: a number whose gradient with respect to ``theta`` is
    the model's vector-Jacobian product with ``weights`` (how a checker differentiates a model
    with many outputs)."""
    return jnp.vdot(jnp.asarray(weights), jnp.asarray(model(theta, x)))


def sine_logistic_model(theta: Any, x: Any) -> Any:
    """``sigmoid(w * sin(x) + b)``: a model that is not ``logistic_model``."""
    return jax.nn.sigmoid(theta["w"] * jnp.sin(x) + theta["b"])


# Bowls a (w - c)**2 for the gradient-descent exercise ``descend(df, w, step_size, n_steps)``:
# each gradient function is its own module-level function. None is the lesson's bowl
# w**2 + 3 w - 5 (a = 1, c = -1.5), so that a loop calling the notebook's df is caught.


def bowl_gradient_a(w: Any) -> Any:
    """The slope of ``0.6 (w - 2.1)**2``."""
    return 1.2 * (w - 2.1)


def bowl_gradient_b(w: Any) -> Any:
    """The slope of ``1.7 (w + 0.8)**2``."""
    return 3.4 * (w + 0.8)


def bowl_gradient_c(w: Any) -> Any:
    """The slope of ``1.25 (w - 0.9)**2``."""
    return 2.5 * (w - 0.9)


def bowl_gradient_d(w: Any) -> Any:
    """The slope of ``0.8 (w + 2.6)**2``."""
    return 1.6 * (w + 2.6)


#: ``(a, c, gradient function)`` of each bowl ``a (w - c)**2``.
BOWLS = (
    (0.6, 2.1, bowl_gradient_a),
    (1.7, -0.8, bowl_gradient_b),
    (1.25, 0.9, bowl_gradient_c),
    (0.8, -2.6, bowl_gradient_d),
)


def line_loss_and_grad(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, *, scaled: bool = False, huber: bool = False
) -> tuple[float, np.ndarray]:
    """NumPy float64 reference: the loss of the line ``params = [w, b]`` and its gradient.

    ``scaled`` predicts with :func:`scaled_model` instead of ``w * x + b``; ``huber`` takes
    :func:`pseudo_huber_loss` instead of the mean squared error.

    Example:
        >>> import numpy as np
        >>> loss, grad = line_loss_and_grad(np.array([1.0, 0.0]), np.array([1.0]), np.array([3.0]))
        >>> loss, grad.tolist()
        (4.0, [-4.0, -4.0])
    """
    factor_w, factor_b = (SCALE_W, SCALE_B) if scaled else (1.0, 1.0)
    residual = y - (factor_w * params[0] * x + factor_b * params[1])
    if huber:
        root = np.sqrt(1.0 + (residual / HUBER_DELTA) ** 2)
        loss = float(np.mean(HUBER_DELTA**2 * (root - 1.0)))
        upstream = -(residual / root) / residual.size
    else:
        loss = float(np.mean(residual**2))
        upstream = -2.0 * residual / residual.size
    grad = np.array([factor_w * np.sum(upstream * x), factor_b * np.sum(upstream)])
    return loss, grad
