"""Dask arrays as data of ``fit``: the fast path's statistics, computed where the data are.

For ``linear_model`` + ``mseloss`` everything a fit needs from the data is in its sufficient
statistics (:mod:`dl_workshop.objectives.statistics`). On Dask data each partition's
:class:`~dl_workshop.moments.core.Moments` are computed on the worker that holds it: its row
count, the means of ``z = [x, y]`` and an R factor of the centred rows, in float64. Two
partitions combine exactly (:func:`~dl_workshop.moments.core.combine_moments`), and the
combinations run on the workers as a binary tree, so the data are read exactly once and the
client receives one ``(d + k) x (d + k)`` triangle. The result is a
:class:`~dl_workshop.objectives.statistics.LinearMSEStats` whose least-squares weights are solved
from R (about ``eps`` times the condition number of the centred ``x``, as QR on all rows, instead
of its square from the normal equations), on which the usual
:class:`~dl_workshop.objectives.linear_mse.LinearMSEObjective` runs: the iterates and losses are
those of the in-memory fit on the same rows, to floating-point tolerance.
``GradientDescentRegressor.fit`` on Dask data makes the same pass, with sample weights
(:func:`~dl_workshop.moments.core.dask_moments`, the Dask route of
:func:`~dl_workshop.moments.core.moments_of`).

Any other model, loss or option (``batch_size``, ``fast_path=False``) would need the rows at
every step: ``fit`` refuses Dask data then (:data:`DASK_NEEDS_FAST_PATH`) instead of loading
it all into the client; :func:`~dl_workshop.fitting.streaming.fit_stream` streams it a partition at
a
time. Dask is imported only when Dask data is seen.
"""

from __future__ import annotations

import math
from typing import Any

import jax

from dl_workshop._validation import float_dtype
from dl_workshop.engine.shapecheck import check_structure
from dl_workshop.io.chunks import as_dask_array, is_dask, shared_arrays
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.moments.core import Moments, combine_moments, dask_moments, moments_of
from dl_workshop.objectives.full_batch import FullBatchObjective
from dl_workshop.objectives.linear_mse import linear_form_applies
from dl_workshop.objectives.statistics import LinearMSEStats, statistics_from_moments

__all__ = [
    "DASK_NEEDS_FAST_PATH",
    "Moments",
    "check_moments",
    "combine_moments",
    "dask_moments",
    "dask_statistics",
    "is_dask",
    "moments_of",
]

#: Why ``fit`` refuses Dask data ({what}: the model, loss or option that needs the rows).
DASK_NEEDS_FAST_PATH = (
    "fit on Dask data computes only the one-pass statistics of linear_model with mseloss "
    "(full batch, fast_path=True); {what} needs the rows at every step, which would load all "
    "the data into this process. Stream the partitions instead: "
    "fit_stream(theta, model, loss, (x, y), batch_size=...) from dl_workshop.fitting.streaming"
)


def check_moments(total: Moments, x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> None:
    """The checks ``fit`` makes on data in memory (not empty, finite), made on the moments.

    Example:
        >>> import numpy as np
        >>> check_moments(moments_of(np.array([1.0, np.nan]), np.zeros(2)), np.zeros(2),
        ...               np.zeros(2))
        Traceback (most recent call last):
        ...
        ValueError: x must be finite; got 1 NaN or infinite value(s) in an array of shape (2,)
    """
    if total.n == 0:
        raise ValueError(f"{names[0]} must not be empty; got shape {(0, *x.shape[1:])}")
    for name, bad, array in zip(names, total.nonfinite[:2], (x, y), strict=True):
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
        NumPy statistics (``(d,)``, ``(k,)``, ``(d, d)``, ``(d, k)``, ``()``, ``()``); the
        least-squares weights ``w_star`` and ``min_loss`` are solved from the R factor.

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
    shared = shared_arrays(x, y)
    x, y = as_dask_array(x, "x"), as_dask_array(y, "y")
    d = 1 if x.ndim == 1 else x.shape[1]
    if shared is not None:  # one read of the partitions that x and y come from
        x, y = (a if b.ndim == 2 else a[:, 0] for a, b in zip(shared, (x, y), strict=True))
    total = moments_of(x, y, target)
    check_moments(total, x, y)
    return statistics_from_moments(total, d, target, host_arrays=True)


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
