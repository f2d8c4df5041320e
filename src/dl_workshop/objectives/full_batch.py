"""The full-batch objective: ``value_and_grad`` of the user's ``loss(params, model, x, y)``.

With the built-in :func:`~dl_workshop.mseloss` (a mean over rows) and a model that computes each
row's prediction from that row alone (:func:`~dl_workshop.engine.jaxpr.rowwise.rows_separate`), the
rows are padded to a shared bucket (:mod:`~dl_workshop.engine.shapecheck`) and masked
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

from dl_workshop.engine.jaxpr import masked_loss_value, plan_holds, row_mean_plan, rows_separate
from dl_workshop.engine.shapecheck import bucket_of
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.objectives.linear_mse import fast_path_problem

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


def pad_rows(array: Any, rows: int) -> np.ndarray:
    """``array`` (NumPy, or a CPU JAX array) with copies of its first row appended up to ``rows``
    (a bucket of :func:`~dl_workshop.engine.shapecheck.bucket_rows`).

    Example:
        >>> pad_rows(np.array([1.0, 2.0, 3.0]), 5).tolist()
        [1.0, 2.0, 3.0, 1.0, 1.0]
    """
    host = np.asarray(array)
    extra = rows - host.shape[0]
    if extra <= 0:
        return host
    filler = np.broadcast_to(host[:1], (extra, *host.shape[1:]))
    return np.concatenate([host, filler])


def padded_data(
    objective: FullBatchObjective, params: Any, data: tuple[Any, Any], shortcut: str
) -> tuple[Any, Any, np.int32] | None:
    """The shape check of ``objective`` on ``data``, then ``(x, y, n)``: the data padded to its
    bucket of rows and its real number of rows; ``None`` when it must stay as it is (see
    :func:`~dl_workshop.engine.shapecheck.bucket_of`, which reads the ``shortcut``'s switch).

    For a padding that is exact whatever the loss (minibatches drawn from the first ``n`` rows).
    """
    rows = bucket_of(objective, params, data, shortcut)
    if rows is None:
        return None
    x, y = data
    return pad_rows(x, rows), pad_rows(y, rows), np.int32(len(x))


def _masked(objective: FullBatchObjective, params: Any, data: tuple[Any, Any], rows: int) -> Any:
    """The masked objective exact on ``data`` padded to ``rows`` rows, or ``None``.

    Exact for :func:`~dl_workshop.mseloss` with a model whose predictions keep rows apart
    (:func:`~dl_workshop.engine.jaxpr.rowwise.rows_separate`), and for any loss whose traced
    program is a mean over rows (:func:`~dl_workshop.engine.jaxpr.rowmean.plan_holds`).
    """
    x, y = data
    if objective.loss is mseloss:
        x_rows = jax.ShapeDtypeStruct((rows, *np.shape(x)[1:]), x.dtype)
        if rows_separate(objective.model, params, x_rows):
            return MaskedMSEObjective(objective.model)
    if plan_holds(objective.loss, objective.model, params, x, y, rows):
        # Any other loss, or mseloss of a model that meets other rows only in means over them.
        return MaskedLossObjective(objective.model, objective.loss)
    return None


def full_batch_problem(
    objective: FullBatchObjective, params: Any, data: tuple[Any, Any], settings: Any
) -> tuple[Any, Any]:
    """``(objective, data)`` for a full-batch fit, after the shape check of ``objective``.

    ``settings`` is the validated :class:`~dl_workshop.fitting.settings.FitSettings` (read:
    ``fast_path``, ``dtype``). With ``fast_path``, :func:`~dl_workshop.linear_model` and
    :func:`~dl_workshop.mseloss`, the fast path's objective on the data's
    statistics when it applies (:func:`~dl_workshop.objectives.linear_mse.fast_path_problem`);
    else the data padded to its bucket of rows and masked when that is exact (:func:`_masked`;
    the padding rows are copies of the first row, so the model sees only values it sees
    anyway); else ``objective`` on the data as it is.
    """
    mse = objective.loss is mseloss
    rows = bucket_of(objective, params, data, "pad-mse" if mse else "pad-loss")
    if settings.fast_path and mse and objective.model is linear_model:
        fast, stats = fast_path_problem(objective, params, data, settings.dtype)
        if fast is not objective:
            return fast, stats
    masked = None if rows is None else _masked(objective, params, data, rows)
    if masked is None:
        return objective, data
    x, y = data
    return masked, (pad_rows(x, rows), pad_rows(y, rows), np.int32(len(x)))
