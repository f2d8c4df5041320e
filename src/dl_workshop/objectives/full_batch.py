"""The full-batch objective: ``value_and_grad`` of the user's ``loss(params, model, x, y)``.

With the built-in :func:`~dl_workshop.mseloss` (a mean over rows) and a model that computes each
row's prediction from that row alone (:func:`~dl_workshop.engine.jaxpr.rowwise.rows_separate`), the
rows are padded to a shared bucket (:mod:`~dl_workshop.engine.buckets`) and masked
(:class:`MaskedMSEObjective`), so that fits of different numbers of rows share compiled code.
A loss of the user's own is padded the same way when its traced program shows it is a mean
over rows (:class:`MaskedLossObjective`, :mod:`~dl_workshop.engine.jaxpr.rowmean`); any other loss
sees the data as it is, and compiles once per number of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop.engine.buckets import bucket_rows, pad_rows, paddable
from dl_workshop.engine.jaxpr import masked_loss_value, plan_holds, row_mean_plan, rows_separate
from dl_workshop.engine.shapecheck import check_structure, check_structure_padded
from dl_workshop.engine.shortcuts import enabled
from dl_workshop.losses import mseloss

NO_PLAN_MESSAGE = (
    "internal error: the loss was planned for padded rows but cannot be planned for the "
    "parameters' shapes and dtypes in the compiled loop; please report it"
)


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


def masked_mse(params: Any, model: Callable[[Any, Any], Any], x: Any, y: Any, n_rows: Any):
    """``mseloss(params, model, x[:n_rows], y[:n_rows])`` on rows padded beyond ``n_rows``.

    The padded rows' residuals are replaced by zeros before squaring (so neither they nor their
    gradients count, whatever the model predicts there), and the sum is divided by the real
    number of entries: the same mean as :func:`~dl_workshop.mseloss` on the first ``n_rows``
    rows, up to the order of float additions.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model
        >>> x = np.array([0.0, 1.0, 9.0])  # the last row is padding
        >>> float(masked_mse({"w": 1.0, "b": 0.0}, linear_model, x, np.array([0.0, 2.0, 0.0]), 2))
        0.5
    """
    prediction = model(params, x)
    real = jnp.arange(y.shape[0]) < n_rows
    residual = jnp.where(real.reshape((-1,) + (1,) * (jnp.ndim(y) - 1)), y - prediction, 0)
    per_row = int(np.prod(jnp.shape(y)[1:]))
    count = jnp.asarray(n_rows).astype(residual.dtype) * per_row
    return jnp.sum(residual * residual) / count


class MaskedMSEObjective(NamedTuple):
    """:func:`~dl_workshop.mseloss` of ``model`` on the first ``n`` of padded rows.

    ``data`` is ``(x, y, n)``: ``x`` and ``y`` padded to a bucket of rows, ``n`` the number of
    real rows (a traced integer, so every ``n`` of a bucket shares compiled code).

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model
        >>> data = (np.array([0.0, 1.0, 1.0]), np.array([1.0, 3.0, 3.0]), np.int32(2))
        >>> loss, grads = MaskedMSEObjective(linear_model)({"w": 2.0, "b": 1.0}, 0, data)
        >>> float(loss)
        0.0
    """

    model: Callable[[Any, Any], Any]

    def __call__(self, params: Any, t: jax.Array, data: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        x, y, n_rows = data
        return jax.value_and_grad(masked_mse)(params, self.model, x, y, n_rows)


class MaskedLossObjective(NamedTuple):
    """The user's ``loss(params, model, x, y)``, a mean over rows, on the first ``n`` of padded
    rows: its traced program with the padding rows left out of every sum and the number of rows
    taken from ``n`` (:mod:`~dl_workshop.engine.jaxpr.rowmean`).

    ``data`` is ``(x, y, n)`` as for :class:`MaskedMSEObjective`.

    Example:
        >>> import jax.numpy as jnp
        >>> import numpy as np
        >>> from dl_workshop import linear_model
        >>> mae = lambda p, m, x, y: jnp.mean(jnp.abs(y - m(p, x)))
        >>> x = np.concatenate([[0.0, 1.0], np.zeros(14)])  # two real rows, then padding
        >>> data = (x, np.concatenate([[1.0, 4.0], np.ones(14)]), np.int32(2))
        >>> loss, grads = MaskedLossObjective(linear_model, mae)({"w": 2.0, "b": 1.0}, 0, data)
        >>> float(loss)  # |1 - 1| and |4 - 3|, averaged over the two real rows
        0.5
    """

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]

    def __call__(self, params: Any, t: jax.Array, data: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        x, y, n_rows = data
        plan = row_mean_plan(self.loss, self.model, params, x, y)
        if plan is None:  # planned for these shapes when the data was padded
            raise RuntimeError(NO_PLAN_MESSAGE)
        return jax.value_and_grad(lambda p: masked_loss_value(plan, p, x, y, n_rows))(params)


def padded_rows(objective: FullBatchObjective, params: Any, data: tuple[Any, Any]) -> int | None:
    """Check that ``objective`` evaluates on ``data`` (one clear error if not); return the
    bucket of rows the data may be padded to, or ``None`` when it must stay as it is.

    The check is traced for the bucket's shapes (remembered per bucket, so a fit with another
    number of rows in the same bucket traces nothing); if it fails there, it is repeated for
    the data's own shapes, which raises the error the user should see (or shows that the
    objective depends on the number of rows, e.g. one parameter per row).
    """
    x, y = data
    rows = bucket_rows(len(x))
    wanted = enabled("pad-mse") or enabled("pad-loss") or enabled("pad-minibatch")
    if not (wanted and paddable(x, y)):
        check_structure(objective, params, data)
        return None
    return rows if check_structure_padded(objective, params, data, rows) else None


def masked_problem(
    objective: FullBatchObjective, params: Any, data: tuple[Any, Any], rows: int | None
) -> tuple[Any, Any]:
    """``(objective, data)`` padded to ``rows`` rows and masked when that is exact, else as given.

    Exact for :func:`~dl_workshop.mseloss` with a model whose predictions keep rows apart
    (:func:`~dl_workshop.engine.jaxpr.rowwise.rows_separate`), and for any loss whose traced program
    is a mean over rows (:func:`~dl_workshop.engine.jaxpr.rowmean.plan_holds`); the padding rows are
    copies of the first row, so the model sees only values it sees anyway.
    """
    if rows is None:
        return objective, data
    x, y = data
    x_rows = jax.ShapeDtypeStruct((rows, *np.shape(x)[1:]), x.dtype)
    mse = objective.loss is mseloss
    if not enabled("pad-mse" if mse else "pad-loss"):
        return objective, data
    if mse and rows_separate(objective.model, params, x_rows):
        masked = MaskedMSEObjective(objective.model)
    elif plan_holds(objective.loss, objective.model, params, x, y, rows):
        # Any other loss, or mseloss of a model that meets other rows only in means over them.
        masked = MaskedLossObjective(objective.model, objective.loss)
    else:
        return objective, data
    return masked, (pad_rows(x, rows), pad_rows(y, rows), np.int32(len(x)))
