"""The full-batch objective: ``value_and_grad`` of the user's ``loss(params, model, x, y)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class FullBatchObjective(NamedTuple):
    """``(params, t, data) -> (loss, grads)`` for ``loss(params, model, x, y)`` on all the data.

    A NamedTuple so that two objectives built from the same model and loss compare equal, and a
    second fit reuses the first one's compiled code.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> loss, grads = FullBatchObjective(linear_model, mseloss)((2.0, 1.0), 0, (x, 2 * x + 1))
        >>> round(float(loss), 6)
        0.0
    """

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]

    def __call__(self, params: Any, t: jax.Array, data: tuple[Any, Any]) -> tuple[Any, Any]:
        x, y = data
        return jax.value_and_grad(self.loss)(params, self.model, x, y)
