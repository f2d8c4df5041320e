"""Sufficient statistics of ``(x, y)`` for the linear model with squared loss, in one pass.

For ``model = linear_model`` and ``loss = mseloss`` the loss is a quadratic function of
``theta = (w, b)`` whose coefficients are fixed by a few averages of the data. With the centred
data ``xc = x - mean(x)``, ``yc = y - mean(y)``, ``S = xcᵀxc / n`` and the least-squares weights
``w* = argmin_w |xc w - yc|²``, the mean squared error of any ``(w, b)`` is exactly::

    loss(w, b) = min_loss + (tr((w - w*)ᵀ S (w - w*)) + |mean(x) w + b - mean(y)|²) / k

where ``min_loss`` is the smallest reachable loss and ``k`` the number of outputs. Every term is
non-negative, so the recorded losses do not cancel catastrophically near the optimum (the
textbook ``wᵀXᵀXw - 2wᵀXᵀy + yᵀy`` would). The statistics are computed once, in one pass over
``x``, after which each gradient step costs ``O(d² k)`` instead of ``O(n d k)``: the iterates and
losses are those of full-batch gradient descent on the data, to floating-point tolerance.

The pass is the package's moments (:func:`~dl_workshop.moments.core.moments_of` with
``exact=False``: shifted block sums in float64, float32 block products for large float32 data,
on each device's own rows for JAX arrays, see :mod:`dl_workshop.moments.device`);
the statistics are derived from those :class:`~dl_workshop.moments.core.Moments` by
:func:`statistics_from_moments`, as those of Dask data are from its exact moments.

:func:`~dl_workshop.fitting.optimization.fit` switches to this path by itself when it applies (opt
out
with ``fast_path=False``); the objective on these statistics is in
:mod:`dl_workshop.objectives.linear_mse`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._precision import precision
from dl_workshop._validation import as_data, check_same_length, float_dtype
from dl_workshop.moments.core import Moments, moments_of

__all__ = ["LinearMSEStats", "statistics_from_moments", "sufficient_statistics"]

class LinearMSEStats(NamedTuple):
    """Sufficient statistics of ``(x, y)`` for the mean squared error of a linear model.

    Attributes:
        mean_x: column means of ``x``, shape ``(d,)``.
        mean_y: column means of ``y``, shape ``(k,)``.
        cov: ``xcᵀxc / n``, shape ``(d, d)`` (``xc`` is ``x`` minus its column means).
        w_star: least-squares weights of the centred problem, shape ``(d, k)``.
        min_loss: the smallest mean squared error any ``(w, b)`` reaches (a scalar).
        n_rows: number of rows ``n`` (a scalar).
    """

    mean_x: jax.Array
    mean_y: jax.Array
    cov: jax.Array
    w_star: jax.Array
    min_loss: jax.Array
    n_rows: jax.Array


def sufficient_statistics(x: Any, y: Any, *, dtype: Any = None) -> LinearMSEStats:
    """One pass over the data: the statistics that determine the MSE of every linear model.

    The sums are accumulated in float64 (for this call only; no global flag changes) on data
    shifted towards its means (float32 block products for large float32 data, see the module
    notes), then turned into the centred quantities of :class:`LinearMSEStats`. Sharded inputs
    (see :mod:`dl_workshop.fitting.parallel`) stay sharded: the sums become cross-device reductions.

    Args:
        x: inputs, shape ``(n,)`` (one feature) or ``(n, d)``.
        y: targets, shape ``(n,)`` or ``(n, k)``.
        dtype: dtype of the returned statistics, ``"float32"`` or ``"float64"``; ``None`` uses
            JAX's default float.

    Returns:
        A :class:`LinearMSEStats` with arrays of shapes ``(d,)``, ``(k,)``, ``(d, d)``,
        ``(d, k)``, ``()`` and ``()``.

    Raises:
        ValueError, TypeError: for empty, non-numeric or non-finite data, or different lengths.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> stats = sufficient_statistics(x, 2.0 * x + 1.0)
        >>> round(float(stats.w_star[0, 0]), 4), round(float(stats.min_loss), 6)
        (2.0, 0.0)
    """
    target = float_dtype(dtype)
    with precision(target):
        x_arr = x if isinstance(x, jax.Array) else as_data(x, "x", dtype=target, host=True)
        y_arr = y if isinstance(y, jax.Array) else as_data(y, "y", dtype=target, host=True)
        check_same_length(x_arr, y_arr)
        return statistics_of(x_arr, y_arr, target)


def statistics_of(
    x_arr: Any, y_arr: Any, target: np.dtype, *, host_arrays: bool = False
) -> LinearMSEStats:
    """:func:`sufficient_statistics` of data already validated (NumPy or JAX arrays).

    With ``host_arrays`` the statistics are NumPy arrays, so that the caller puts them on the
    device of its choice in one transfer. Float64 is enabled for the call when ``target`` is
    float64.
    """
    with precision(target):
        moments = moments_of(x_arr, y_arr, target, exact=False)
        d = 1 if x_arr.ndim == 1 else x_arr.shape[1]
        return statistics_from_moments(moments, d, target, host_arrays=host_arrays)


def statistics_from_moments(
    moments: Moments, d: int, target: np.dtype, *, host_arrays: bool = False
) -> LinearMSEStats:
    """The :class:`LinearMSEStats` of the (unweighted) rows whose
    :class:`~dl_workshop.moments.core.Moments` are ``moments``, ``x`` their first ``d``
    columns.

    Solved from the R factor when the moments have one (:func:`statistics_from_r`), else from
    the centred cross-products (the fast path's one pass: ``lstsq`` of the ``d x d`` normal
    equations, which copes with collinear or constant columns).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.moments.core import moments_of
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> m = moments_of(x, 3.0 * x, exact=False)
        >>> s = statistics_from_moments(m, 1, np.dtype(np.float64), host_arrays=True)
        >>> round(float(s.w_star[0, 0]), 12), round(float(s.min_loss), 12)
        (3.0, 0.0)
    """
    n, mean = moments.n, moments.mean
    if moments.r is not None:
        return statistics_from_r(n, mean, moments.r, d, target, host_arrays=host_arrays)
    cross = moments.cross
    cxx, cxy = cross[:d, :d], cross[:d, d:]
    if np.isfinite(cxx).all() and np.isfinite(cxy).all():
        # The normal equations are tiny (d x d); lstsq copes with collinear or constant
        # columns.
        w_star = np.linalg.lstsq(cxx, cxy, rcond=None)[0]
        ss_min = max(float(np.diag(cross)[d:].sum() - np.sum(w_star * cxy)), 0.0)
    else:  # non-finite statistics, kept so (LAPACK would print to stderr)
        w_star, ss_min = np.full(cxy.shape, np.nan), np.nan
    k = cxy.shape[1]
    return _packed(n, k, mean[:d], mean[d:], cxx, w_star, ss_min, target, host_arrays)


def statistics_from_r(
    n: float, mean: np.ndarray, r: np.ndarray, d: int, target: np.dtype, *,
    host_arrays: bool = False,
) -> LinearMSEStats:
    """The :class:`LinearMSEStats` of ``n`` rows from the R factor of their centred ``[x, y]``.

    ``w_star`` is solved from the triangle (``lstsq(R_xx, R_xy)``: about ``eps`` times the
    condition number of the centred ``x``, not its square as from ``xcᵀxc``), and the smallest
    squared error is the squared norm of what ``R`` leaves unexplained, without cancellation.

    Args:
        n: number of rows.
        mean: column means of ``[x, y]``, shape ``(d + k,)``.
        r: upper triangular, shape ``(d + k, d + k)``, with ``rᵀr`` the centred cross-products
            (see :mod:`dl_workshop.moments.core`).
        d: number of columns of ``x``.
        target: dtype of the statistics.
        host_arrays: NumPy arrays instead of JAX arrays.

    Example:
        >>> import numpy as np
        >>> z = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
        >>> r = np.linalg.qr(z - z.mean(0), mode="r")
        >>> s = statistics_from_r(3, z.mean(0), r, 1, np.dtype(np.float64), host_arrays=True)
        >>> round(float(s.w_star[0, 0]), 12), round(float(s.min_loss), 12)
        (2.0, 0.0)
    """
    rx, ry = r[:, :d], r[:, d:]
    if np.isfinite(r).all():
        w_star = np.linalg.lstsq(rx[:d], ry[:d], rcond=None)[0]
        ss_min = float(np.sum((rx @ w_star - ry) ** 2))
    else:  # non-finite statistics, kept so (LAPACK would print to stderr)
        w_star, ss_min = np.full(ry.shape, np.nan), np.nan
    k = ry.shape[1]
    return _packed(n, k, mean[:d], mean[d:], rx.T @ rx, w_star, ss_min, target, host_arrays)


def _packed(n, k, mean_x, mean_y, cxx, w_star, ss_min, target, host_arrays) -> LinearMSEStats:
    array = np.asarray if host_arrays else jnp.asarray
    return LinearMSEStats(
        mean_x=array(mean_x, target),
        mean_y=array(mean_y, target),
        cov=array(cxx / n, target),
        w_star=array(w_star, target),
        min_loss=array(ss_min / (n * k), target),
        n_rows=array(n, target),
    )
