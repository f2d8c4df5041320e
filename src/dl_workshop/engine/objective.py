"""What the loop minimizes, as one explicit type: :class:`Objective`.

The engine evaluates ``objective.value_and_grad(params, t, data) -> (loss, grads)`` at every
step; line searches (``optax.lbfgs``) evaluate ``objective.value(params, t, data) -> loss`` along
their direction when it is given (the value alone traces and differentiates in about a third of
the time of the value with its gradient), else the first of ``value_and_grad``'s results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Objective(NamedTuple):
    """An objective of the engine: a loss and its gradient, and optionally the loss alone.

    Both functions take ``(params, t, data)``: the parameters (a pytree), the step number (a
    traced integer, for minibatch schedules) and the data the loop was given. An ``Objective``
    is hashable, and two built from the same functions are equal, so they share compiled code.
    Calling it calls ``value_and_grad``.

    Attributes:
        value_and_grad: ``(params, t, data) -> (loss, grads)``, ``grads`` shaped like
            ``params``.
        value: ``(params, t, data) -> loss``, or ``None`` (line searches then use
            ``value_and_grad``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> def value(p, t, data):
        ...     return jnp.sum((p - data) ** 2)
        >>> objective = Objective(lambda p, t, data: jax.value_and_grad(value)(p, t, data), value)
        >>> loss, grads = objective.value_and_grad(jnp.zeros(2), 0, jnp.ones(2))
        >>> float(loss), grads.tolist()
        (2.0, [-2.0, -2.0])
    """

    value_and_grad: Callable[..., tuple[Any, Any]]
    value: Callable[..., Any] | None = None

    def __call__(self, params: Any, t: Any, data: Any) -> tuple[Any, Any]:
        """``value_and_grad(params, t, data)``."""
        return self.value_and_grad(params, t, data)


def as_objective(objective: Any) -> Objective:
    """``objective`` as an :class:`Objective`: one already is; a function
    ``(params, t, data) -> (loss, grads)`` becomes its ``value_and_grad``.

    Example:
        >>> def f(p, t, data):
        ...     return p * p, 2 * p
        >>> as_objective(f) == Objective(f) and as_objective(Objective(f)) == Objective(f)
        True
    """
    return objective if isinstance(objective, Objective) else Objective(objective)
