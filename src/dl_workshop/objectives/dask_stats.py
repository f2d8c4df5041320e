"""Dask arrays as data of ``fit``: the fast path's statistics, computed where the data are.

For ``linear_model`` + ``mseloss`` everything a fit needs from the data is in its sufficient
statistics (:mod:`dl_workshop.objectives.statistics`). On Dask data each partition's statistics
are computed on the worker that holds it: its row count ``n``, the means of ``z = [x, y]`` and
the centred cross-products ``M = Σ (z - mean)(z - mean)ᵀ``, in float64. Two partitions combine
exactly (Chan, Golub and LeVeque's pairwise update)::

    n = na + nb,   δ = mean_b - mean_a,   mean = mean_a + δ nb / n,
    M = Ma + Mb + (na nb / n) δ δᵀ

and the combinations run on the workers as a binary tree, so the data are read exactly once and
the client receives one ``(d + k) x (d + k)`` matrix. The result is a
:class:`~dl_workshop.objectives.statistics.LinearMSEStats`, on which the usual
:class:`~dl_workshop.objectives.linear_mse.LinearMSEObjective` runs: the iterates and losses are
those of the in-memory fit on the same rows, to floating-point tolerance.

Any other model, loss or option (``batch_size``, ``fast_path=False``) would need the rows at
every step: ``fit`` refuses Dask data then (:data:`DASK_NEEDS_FAST_PATH`) instead of loading
it all into the client; :func:`~dl_workshop.streaming.fit_stream` streams it a partition at a
time. Dask is imported only when Dask data is seen.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import numpy as np

from dl_workshop._validation import float_dtype
from dl_workshop.chunks import aligned_blocks, as_dask_array, is_dask
from dl_workshop.engine.shapecheck import check_structure
from dl_workshop.losses import mseloss
from dl_workshop.model import linear_model
from dl_workshop.objectives.full_batch import FullBatchObjective
from dl_workshop.objectives.linear_mse import linear_form_applies
from dl_workshop.objectives.statistics import LinearMSEStats, centred_statistics

__all__ = [
    "DASK_NEEDS_FAST_PATH",
    "Moments",
    "combine_moments",
    "dask_statistics",
    "is_dask",
    "moments_of",
]

#: Why ``fit`` refuses Dask data ({what}: the model, loss or option that needs the rows).
DASK_NEEDS_FAST_PATH = (
    "fit on Dask data computes only the one-pass statistics of linear_model with mseloss "
    "(full batch, fast_path=True); {what} needs the rows at every step, which would load all "
    "the data into this process. Stream the partitions instead: "
    "fit_stream(theta, model, loss, (x, y), batch_size=...) from dl_workshop.streaming"
)

#: Rows per sub-block of a partition (one float64 buffer of this many rows is reused).
_SUB_ROWS = 8192


class Moments(NamedTuple):
    """Row count, means and centred cross-products of ``z = [x, y]`` (float64).

    Attributes:
        n: number of rows.
        mean: column means of ``z``, shape ``(d + k,)``.
        m2: ``Σ (z - mean)(z - mean)ᵀ``, shape ``(d + k, d + k)``.
        nonfinite: NaN or infinite values in ``x`` and in ``y``, shape ``(2,)``.
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray
    nonfinite: np.ndarray


def combine_moments(a: Moments, b: Moments) -> Moments:
    """The :class:`Moments` of the rows of ``a`` and ``b`` together (exact, any split).

    Example:
        >>> import numpy as np
        >>> z = np.arange(12.0).reshape(6, 2)
        >>> both = combine_moments(moments_of(z[:2, :1], z[:2, 1]), moments_of(z[2:, :1], z[2:, 1]))
        >>> whole = moments_of(z[:, :1], z[:, 1])
        >>> bool(np.allclose(both.m2, whole.m2)), both.n
        (True, 6)
    """
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + (a.n * b.n / n) * np.outer(delta, delta)
    return Moments(n, mean, m2, a.nonfinite + b.nonfinite)


def moments_of(x: Any, y: Any, dtype: Any = np.float64) -> Moments:
    """The :class:`Moments` of one partition ``(x, y)``, in one read of it.

    The values are first rounded to ``dtype`` (what ``fit`` does to data in memory), then
    accumulated in float64, ``_SUB_ROWS`` rows at a time: each sub-block's exact centred
    products are combined with :func:`combine_moments`.

    Args:
        x: inputs, shape ``(m,)`` or ``(m, d)``.
        y: targets, shape ``(m,)`` or ``(m, k)``.
        dtype: the fit's dtype.

    Raises:
        ValueError: if ``x`` and ``y`` have different numbers of rows.

    Example:
        >>> import numpy as np
        >>> m = moments_of(np.array([1.0, 3.0]), np.array([0.0, 4.0]))
        >>> m.n, m.mean.tolist(), m.m2.tolist()
        (2, [2.0, 2.0], [[2.0, 4.0], [4.0, 8.0]])
    """
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if len(x) != len(y):
        raise ValueError(
            f"x and y must have the same number of rows in every partition; got {len(x)} "
            f"and {len(y)}"
        )
    d, p = x.shape[1], x.shape[1] + y.shape[1]
    total = Moments(0, np.zeros(p), np.zeros((p, p)), np.zeros(2, np.int64))
    buffer = np.empty((min(_SUB_ROWS, len(x)), p))
    for start in range(0, len(x), _SUB_ROWS):
        block = buffer[: min(_SUB_ROWS, len(x) - start)]
        block[:, :d] = x[start : start + _SUB_ROWS]
        block[:, d:] = y[start : start + _SUB_ROWS]
        nonfinite = np.zeros(2, np.int64)
        if not np.isfinite(block).all():  # counted only then: the message names how many
            bad = ~np.isfinite(block)
            nonfinite = np.array([bad[:, :d].sum(), bad[:, d:].sum()])
        mean = block.mean(0)
        block -= mean
        total = combine_moments(total, Moments(len(block), mean, block.T @ block, nonfinite))
    return total


def _tree(parts: list[Any]) -> Any:
    """One delayed :class:`Moments` combining ``parts`` pairwise, level by level."""
    import dask

    # Fresh keys on every call (pure=False): a scheduler still holding the previous call's
    # result under the same key would hand it back, stale if the data changed underneath.
    combine = dask.delayed(combine_moments, pure=False)
    while len(parts) > 1:
        pairs = [combine(*parts[i : i + 2]) for i in range(0, len(parts) - 1, 2)]
        parts = pairs + parts[len(pairs) * 2 :]
    return parts[0]


def dask_moments(x: Any, y: Any, dtype: Any = None) -> Moments:
    """The :class:`Moments` of Dask ``(x, y)``: one pass, on the workers, tree-reduced.

    Runs on Dask's current scheduler (a ``distributed.Client`` when one is active); only the
    final ``(d + k) x (d + k)`` result reaches this process.
    """
    import dask

    target = float_dtype(dtype)
    moments = dask.delayed(moments_of, pure=False)
    parts = [moments(xb, yb, target) for xb, yb in aligned_blocks(x, y)]
    (total,) = dask.compute(_tree(parts))
    return total


def _check_data(total: Moments, x: Any, y: Any) -> None:
    """The checks ``fit`` makes on data in memory (not empty, finite), made on the moments."""
    if total.n == 0:
        raise ValueError(f"x must not be empty; got shape {(0, *x.shape[1:])}")
    for name, bad, array in (("x", total.nonfinite[0], x), ("y", total.nonfinite[1], y)):
        if bad:
            shape = (total.n, *array.shape[1:])
            raise ValueError(
                f"{name} must be finite; got {bad} NaN or infinite value(s) in an array of shape "
                f"{shape}"
            )


def dask_statistics(x: Any, y: Any, *, dtype: Any = None) -> LinearMSEStats:
    """The :class:`~dl_workshop.objectives.statistics.LinearMSEStats` of Dask data, in one pass.

    Args:
        x: inputs, a Dask array of shape ``(n,)`` or ``(n, d)`` (or a Dask DataFrame/Series).
        y: targets, a Dask array of shape ``(n,)`` or ``(n, k)`` (or a Dask DataFrame/Series).
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default float.

    Returns:
        NumPy statistics (``(d,)``, ``(k,)``, ``(d, d)``, ``(d, k)``, ``()``, ``()``).

    Raises:
        ValueError, TypeError: for non-numeric, non-finite or mismatched data.

    Example:
        >>> import dask.array as da
        >>> x = da.linspace(-1.0, 1.0, 10, chunks=3)
        >>> stats = dask_statistics(x, 2.0 * x + 1.0, dtype="float64")
        >>> round(float(stats.w_star[0, 0]), 6), round(float(stats.mean_y[0]), 6)
        (2.0, 1.0)
    """
    target = float_dtype(dtype)
    x, y = as_dask_array(x, "x"), as_dask_array(y, "y")
    d = 1 if x.ndim == 1 else x.shape[1]
    total = dask_moments(x, y, target)
    _check_data(total, x, y)
    m2 = total.m2
    return centred_statistics(
        total.n, total.mean[:d], total.mean[d:], m2[:d, :d], m2[:d, d:], np.diag(m2)[d:].copy(),
        target, host_arrays=True,
    )


def _refusal(model: Any, loss: Any, params: Any, d: int, settings: Any) -> str | None:
    """What keeps a fit on Dask data from the one-pass statistics, or ``None``."""
    if settings.batch_size is not None:
        return "batch_size"
    if not settings.fast_path:
        return "fast_path=False"
    if linear_form_applies(model, loss, params, d):
        return None
    if model is linear_model and loss is mseloss:
        return f"a scalar w with {d} input columns (give w the shape ({d},))"
    name = getattr(model, "__name__", type(model).__name__)
    return f"the model {name!r} with the loss {getattr(loss, '__name__', type(loss).__name__)!r}"


def dask_fit_statistics(
    model: Any, loss: Any, params: Any, x: Any, y: Any, settings: Any
) -> LinearMSEStats:
    """The statistics that ``fit(params, model, loss, x, y)`` optimizes on, for Dask data.

    Checks the model, loss and options first (``ValueError`` with :data:`DASK_NEEDS_FAST_PATH`
    for anything but the one-pass fast path) and the shapes of ``theta`` against the data
    (abstractly, without reading it), then makes the one pass.
    """
    x, y = as_dask_array(x, "x"), as_dask_array(y, "y")
    d = 1 if x.ndim == 1 else x.shape[1]
    what = _refusal(model, loss, params, d, settings)
    if what is not None:
        raise ValueError(DASK_NEEDS_FAST_PATH.format(what=what))
    rows = x.shape[0] if not math.isnan(x.shape[0]) else 1
    abstract = tuple(jax.ShapeDtypeStruct((rows, *a.shape[1:]), settings.dtype) for a in (x, y))
    check_structure(FullBatchObjective(model, loss), params, abstract)
    return dask_statistics(x, y, dtype=settings.dtype)
