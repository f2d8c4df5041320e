"""Plain gradient descent as an optax ``(init, update)`` pair, so any optax optimizer drops in."""

from __future__ import annotations

from typing import Any

import jax
import optax

from dl_workshop._validation import check_positive


def gradient_descent(learning_rate: float) -> optax.GradientTransformation:
    """Plain gradient descent, ``theta <- theta - learning_rate * grad``, as an optax optimizer.

    Args:
        learning_rate: the step size, a number > 0.

    Returns:
        An ``optax.GradientTransformation`` with ``init`` and ``update``; ``update`` returns
        ``-learning_rate * grads`` in the structure of ``grads``.

    Example:
        >>> import optax
        >>> opt = gradient_descent(0.1)
        >>> state = opt.init({"w": 1.0})
        >>> updates, state = opt.update({"w": 2.0}, state)
        >>> round(float(optax.apply_updates({"w": 1.0}, updates)["w"]), 6)
        0.8
    """
    rate = check_positive(learning_rate, "learning_rate")

    def init(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        del params
        return jax.tree_util.tree_map(lambda g: -rate * g, grads), state

    return optax.GradientTransformation(init, update)
