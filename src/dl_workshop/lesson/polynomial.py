"""The lesson before the linear model: minimizing the polynomial ``f(w) = w² + 3w − 5``.

Its derivative, worked out by hand, is ``df(w) = 2w + 3``; it is zero at ``w = -1.5``, the
minimum. Gradient descent finds it by stepping against ``df``, and ``jax.grad(f)`` computes the
same derivative without the calculus. Both functions are plain arithmetic, so they take Python
numbers, NumPy or JAX arrays (elementwise) and JAX's tracers alike.
"""

from __future__ import annotations

from typing import Any

from dl_workshop._validation import as_array

__all__ = ["df", "f"]


def _number_or_array(w: Any) -> Any:
    """``w`` itself when arithmetic works on it (numbers, arrays, tracers); lists and tuples
    as a JAX array; anything else (strings, None) raises a ``TypeError`` naming ``w``."""
    if isinstance(w, (int, float)) and not isinstance(w, bool):
        return w
    if hasattr(w, "__array__") or hasattr(w, "aval"):
        return w
    return as_array(w, "w")


def f(w: Any) -> Any:
    """The polynomial ``f(w) = w**2 + 3*w - 5``, the objective of the lesson before.

    Args:
        w: a number, or an array of any shape (evaluated elementwise).

    Returns:
        ``f(w)``: a number for a number, else an array of ``w``'s shape.

    Raises:
        TypeError: if ``w`` is not numeric.

    Example:
        >>> f(2.5)
        8.75
        >>> import jax
        >>> float(jax.grad(f)(2.5))  # the derivative, by automatic differentiation
        8.0
    """
    w = _number_or_array(w)
    return w**2 + 3 * w - 5


def df(w: Any) -> Any:
    """The derivative of :func:`f` worked out by hand: ``df(w) = 2*w + 3``.

    Zero at ``w = -1.5``, the minimum of ``f``; ``jax.grad(f)`` gives the same values.

    Args:
        w: a number, or an array of any shape (evaluated elementwise).

    Returns:
        ``df(w)``: a number for a number, else an array of ``w``'s shape.

    Raises:
        TypeError: if ``w`` is not numeric.

    Example:
        >>> df(2.5), df(-1.5)
        (8.0, 0.0)
        >>> w = 10.0
        >>> for _ in range(1000):  # gradient descent
        ...     w = w - 0.01 * df(w)
        >>> round(w, 4)
        -1.5
    """
    w = _number_or_array(w)
    return 2 * w + 3
