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

How the pass is made:

* float64 data, small data and data on accelerators: block products of the data shifted by its
  first row, in float64 (on JAX arrays: :mod:`dl_workshop.objectives.device_moments`, block by
  block on each device's own rows when they are split over devices);
* float32 data in host memory with at least ``_FLOAT32_MIN_ROWS`` rows: float32 block products
  (twice the speed, no float64 copy), made accurate by shifting ``x`` towards its means and by
  regressing the residual of a first fit instead of ``y`` (see :func:`_centred_float32`); data
  whose columns are nearly collinear falls back to float64 products. The whole pass then costs
  1.5 to 2 times one ``xᵀx`` product.

:func:`~dl_workshop.optimization.fit` switches to this path by itself when it applies (opt out
with ``fast_path=False``); the objective on these statistics is in
:mod:`dl_workshop.objectives.linear_mse`.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._precision import FLOAT64, precision
from dl_workshop._validation import as_data, check_same_length, float_dtype
from dl_workshop.objectives.device_moments import raw_moments_jit, row_split

__all__ = ["LinearMSEStats", "sufficient_statistics"]

#: Rows per block on the host path, where a block is one BLAS product on a reused buffer.
_HOST_BLOCK_ROWS = 8192

#: Float32 data with at least this many rows gets float32 block products (float64 below it,
#: where the whole pass costs a few milliseconds anyway).
_FLOAT32_MIN_ROWS = 4 * _HOST_BLOCK_ROWS

#: Largest ``(mean - shift)² / variance`` of a column accepted for float32 block products
#: (their relative error is about 1e-7 times one plus this ratio).
_MAX_OFFSET_RATIO = 4.0

#: Largest condition number of the correlation matrix of ``x`` for which float32 products keep
#: ``w*`` and the smallest loss to about 1e-7 (measured); above it the float64 pass is used.
_MAX_CONDITION = 1e4

#: If the first rows' fit leaves more than twice the smallest squared error, the float32 pass
#: is repeated from the better fit (the difference would cancel too many digits).
_REFIT_BELOW = 0.5


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


def _as_columns(a: jax.Array) -> jax.Array:
    return a[:, None] if a.ndim == 1 else a


def _raw_moments_host(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The shifted sums of :func:`~dl_workshop.objectives.device_moments.raw_moments` with
    NumPy, for data in host memory (BLAS beats XLA's CPU dots).

    Each block of shifted rows ``[x - x[0], y - y[0]]`` is written into one reused buffer, so a
    block costs one subtraction pass and two BLAS calls (``aᵀa`` gives Σx'x'ᵀ, Σx'y'ᵀ and Σy'²
    at once; ``1ᵀa`` the column sums), accumulated across blocks in float64.
    """
    f64 = np.float64
    shift_x, shift_y = x[0].copy(), y[0].copy()
    n, d = x.shape
    k = y.shape[1]
    rows = min(_HOST_BLOCK_ROWS, n)
    buffer = np.empty((rows, d + k), dtype=f64)
    ones = np.ones(rows, dtype=buffer.dtype)
    gram = np.zeros((d + k, d + k), f64)
    sums = np.zeros(d + k, f64)
    for start in range(0, n, rows):
        block = buffer[: min(rows, n - start)]
        np.subtract(x[start : start + rows], shift_x, out=block[:, :d])
        np.subtract(y[start : start + rows], shift_y, out=block[:, d:])
        gram += block.T @ block
        sums += ones[: len(block)] @ block
    return (
        shift_x.astype(f64),
        shift_y.astype(f64),
        sums[:d],
        sums[d:],
        gram[:d, :d],
        gram[:d, d:],
        np.diag(gram)[d:].copy(),
    )


def _float32_block_rows(width: int) -> int:
    """Rows per float32 block of ``width`` columns.

    About 1 MB per block on a machine with few cores, so that a block stays in cache while
    the products of the pass read it again (fastest on a 2-core AMD EPYC: 8192 rows of 33
    columns); up to 4 MB with many cores, whose BLAS threads need longer blocks to pay for
    starting (on 16 cores 32768 rows ran 20% faster than 8192).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    block_bytes = 2**20 * min(4, max(1, cores // 4))
    return int(min(4 * _HOST_BLOCK_ROWS, max(256, block_bytes // (4 * width))))


class _ResidualSums(NamedTuple):
    """One float32 pass over ``x' = x - shift`` and ``t = y - x' w0 - c`` (float64 sums)."""

    xx: np.ndarray  # Σx'x'ᵀ, (d, d)
    x: np.ndarray  # Σx', (d,)
    xt: np.ndarray  # Σx'tᵀ, (d, k)
    t: np.ndarray  # Σt, (k,)
    tt: np.ndarray  # Σt², (k,)


def _float32_residual_sums(
    x: np.ndarray, y: np.ndarray, shift: np.ndarray, w0: np.ndarray, c: np.ndarray
) -> _ResidualSums:
    """Float32 products block by block (BLAS ``syrk``/``gemv`` on a block that stays in cache),
    accumulated across blocks in float64. The ``x`` blocks are views of the data when ``shift``
    is zero, else one reused buffer."""
    f64 = np.float64
    n, d = x.shape
    k = y.shape[1]
    rows = _float32_block_rows(d + k + 1)
    shift32, w32 = shift.astype(np.float32), w0.astype(np.float32)
    buffer = np.empty((rows, d), np.float32) if np.any(shift32) else None
    ones = np.ones(rows, np.float32)
    # All residuals, t = (y - c) - x' w0: n * k floats, a 1/d-th of x.
    t = np.subtract(y, c.astype(np.float32), dtype=np.float32)
    xx, sx, xt = np.zeros((d, d), f64), np.zeros(d, f64), np.zeros((d, k), f64)
    for start in range(0, n, rows):
        xb = x[start : start + rows]
        m = len(xb)
        if buffer is not None:
            xb = np.subtract(xb, shift32, out=buffer[:m])
        xx += xb.T @ xb
        sx += ones[:m] @ xb
        tb = t[start : start + m]
        tb -= xb @ w32
        xt += xb.T @ tb
    # The residuals need not have mean zero (w0 and c come from the first rows): their few sums
    # are taken in float64 so that centring them does not cancel float32 rounding.
    st = t.sum(0, dtype=f64)
    tt = np.einsum("ij,ij->j", t, t, dtype=f64)
    return _ResidualSums(xx, sx, xt, st, tt)


def _head_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Means, variances and least-squares weights of the first rows, in float64."""
    d, k = x.shape[1], y.shape[1]
    rows = max(min(_HOST_BLOCK_ROWS, 2**21 // (d + k)), 2 * (d + k))
    head = np.concatenate([x[:rows], y[:rows]], axis=1).astype(np.float64)
    mean = head.mean(0)
    centred = head - mean
    gram = centred.T @ centred
    if np.isfinite(gram).all():
        w0 = np.linalg.lstsq(gram[:d, :d], gram[:d, d:], rcond=None)[0]
    else:  # non-finite data, reported after the pass
        w0 = np.zeros((d, k))
    return mean[:d], mean[d:], np.diag(gram)[:d] / len(head), w0


def _centred_float32(x: np.ndarray, y: np.ndarray) -> tuple[Any, ...] | None:
    """Centred statistics of large float32 data at 1.5 to 2 times the cost of one ``xᵀx``.

    Float32 block products run at twice the speed of float64 ones and need no float64 copy of
    the data; two things keep them accurate:

    * their rounding errors grow with ``(mean / std)²`` of a column, so ``x`` is shifted towards
      its means: not at all when the first rows say the columns are already about centred (the
      blocks are then views of the data), else by the first rows' means, and the pass is
      repeated with the exact means if the whole data is far off that shift (sorted data);
    * ``y`` enters as the residual ``t = y - x' w0 - c`` of a least-squares fit ``(w0, c)`` on
      the first rows, so ``w* = w0 + argmin |t_c - x_c v|`` and the smallest squared error
      ``|t_c|² - ...`` no longer cancel the way ``|y_c|² - w*ᵀ x_cᵀ y_c`` does when the fit
      explains most of ``y``; if ``w0`` was poor, one more pass repeats this with ``w0 = w*``.

    Returns:
        ``(mean_x, mean_y, xcᵀxc, w*, smallest squared error)``, or ``None`` when the columns
        are so nearly collinear (or constant) that float32 products would lose ``w*``.
    """
    n, d = x.shape
    head_mean_x, _, head_var_x, w0 = _head_fit(x, y)
    centred = bool(np.all(head_mean_x * head_mean_x <= head_var_x))
    shift = np.zeros(d) if centred else head_mean_x.astype(np.float32).astype(np.float64)
    mean_y = np.sum(y, axis=0, dtype=np.float64) / n

    def one_pass(shift: np.ndarray, w0: np.ndarray) -> tuple[np.ndarray, ...]:
        c = mean_y - (head_mean_x - shift) @ w0  # so that the residuals have about mean 0
        sums = _float32_residual_sums(x, y, shift, w0, c)
        dx, dt = sums.x / n, sums.t / n  # mean minus shift, mean residual
        cxx = sums.xx - n * np.outer(dx, dx)
        cxt = sums.xt - n * np.outer(dx, dt)
        ctt = float(np.sum(sums.tt - n * dt * dt))
        return dx, cxx, cxt, ctt

    dx, cxx, cxt, ctt = one_pass(shift, w0)
    if not (np.isfinite(cxx).all() and np.isfinite(cxt).all() and np.isfinite(ctt)):
        # Non-finite data (or squares beyond float32): statistics that say so, without
        # handing NaN to LAPACK (which prints to stderr).
        return shift + dx, mean_y, cxx, np.full(cxt.shape, np.nan), np.nan
    variance = np.maximum(np.diag(cxx) / n, np.finfo(np.float64).tiny)
    if np.max(dx * dx / variance) > _MAX_OFFSET_RATIO:
        shift = (shift + dx).astype(np.float32).astype(np.float64)
        dx, cxx, cxt, ctt = one_pass(shift, w0)
    scale = np.sqrt(np.diag(cxx))
    if not np.all(scale > 0) or np.linalg.cond(cxx / np.outer(scale, scale)) > _MAX_CONDITION:
        return None  # constant or nearly collinear columns: float32 products are not enough
    # The pass regressed t on x with the float32-rounded w0.
    w0 = w0.astype(np.float32).astype(np.float64)
    v = np.linalg.lstsq(cxx, cxt, rcond=None)[0]
    ss_min = ctt - float(np.sum(v * cxt))
    if ss_min < _REFIT_BELOW * ctt:
        # The first rows' fit was poor: most of |t_c|² is explained, so start from w*.
        w0 = (w0 + v).astype(np.float32).astype(np.float64)
        dx, cxx, cxt, ctt = one_pass(shift, w0)
        v = np.linalg.lstsq(cxx, cxt, rcond=None)[0]
        ss_min = ctt - float(np.sum(v * cxt))
    return shift + dx, mean_y, cxx, w0 + v, max(ss_min, 0.0)


def _host_view(array: jax.Array) -> np.ndarray:
    """A read-only NumPy view of a single-device CPU array, without copying when possible."""
    try:
        return np.from_dlpack(array)
    except (TypeError, ValueError, BufferError, RuntimeError):
        return np.asarray(array)


def sufficient_statistics(x: Any, y: Any, *, dtype: Any = None) -> LinearMSEStats:
    """One pass over the data: the statistics that determine the MSE of every linear model.

    The sums are accumulated in float64 (for this call only; no global flag changes) on data
    shifted towards its means (float32 block products for large float32 data, see the module
    notes), then turned into the centred quantities of :class:`LinearMSEStats`. Sharded inputs
    (see :mod:`dl_workshop.parallel`) stay sharded: the sums become cross-device reductions.

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
        return _statistics_in_scope(x_arr, y_arr, target, host_arrays)


def _statistics_in_scope(
    x_arr: Any, y_arr: Any, target: np.dtype, host_arrays: bool
) -> LinearMSEStats:
    x2, y2 = _as_columns(x_arr), _as_columns(y_arr)
    devices = x2.sharding.device_set if isinstance(x2, jax.Array) else None
    n = x2.shape[0]
    on_host = devices is None or (
        all(device.platform == "cpu" for device in devices) and len(devices) == 1
    )
    if on_host:
        # DLPack views CPU buffers in place; np.asarray would copy them (0.2 s per GB).
        host_x, host_y = (x2, np.asarray(y2)) if devices is None else map(_host_view, (x2, y2))
    centred = None
    if on_host and host_x.dtype == host_y.dtype == np.float32 and n >= _FLOAT32_MIN_ROWS:
        centred = _centred_float32(host_x, host_y)
    k = y2.shape[1]
    if centred is not None:
        mean_x, mean_y, cxx, w_star, ss_min = centred
        return _packed(n, k, mean_x, mean_y, cxx, w_star, ss_min, target, host_arrays)
    if on_host:
        parts = _raw_moments_host(host_x, host_y)
    else:
        with precision(FLOAT64):
            blocked = len(devices) == 1
            split = None if blocked else row_split(x2)
            parts = raw_moments_jit(x2, y2, blocked=blocked, split=split)
            parts = [np.asarray(p, np.float64) for p in parts]
    shift_x, shift_y, sx, sy, sxx, sxy, syy = parts
    dx, dy = sx / n, sy / n  # mean minus shift
    cxx = sxx - n * np.outer(dx, dx)
    cxy = sxy - n * np.outer(dx, dy)
    syy_c = syy - n * dy * dy
    return centred_statistics(
        n, shift_x + dx, shift_y + dy, cxx, cxy, syy_c, target, host_arrays=host_arrays
    )


def centred_statistics(
    n: float,
    mean_x: np.ndarray,
    mean_y: np.ndarray,
    cxx: np.ndarray,
    cxy: np.ndarray,
    syy_c: np.ndarray,
    target: np.dtype,
    *,
    host_arrays: bool = False,
) -> LinearMSEStats:
    """The :class:`LinearMSEStats` of data with ``n`` rows from its centred sums (float64).

    Args:
        n: number of rows.
        mean_x, mean_y: column means, shapes ``(d,)`` and ``(k,)``.
        cxx: ``xcᵀxc``, shape ``(d, d)``; ``cxy``: ``xcᵀyc``, shape ``(d, k)``.
        syy_c: ``Σ yc²`` per column of ``y``, shape ``(k,)``.
        target: dtype of the statistics.
        host_arrays: NumPy arrays instead of JAX arrays.
    """
    if np.isfinite(cxx).all() and np.isfinite(cxy).all():
        # The normal equations are tiny (d x d); lstsq copes with collinear or constant
        # columns.
        w_star = np.linalg.lstsq(cxx, cxy, rcond=None)[0]
        ss_min = max(float(syy_c.sum() - np.sum(w_star * cxy)), 0.0)
    else:  # non-finite statistics, kept so (LAPACK would print to stderr)
        w_star, ss_min = np.full(cxy.shape, np.nan), np.nan
    k = cxy.shape[1]
    return _packed(n, k, mean_x, mean_y, cxx, w_star, ss_min, target, host_arrays)


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
            (see :mod:`dl_workshop.objectives.moments`).
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
