"""The fast path's one pass over ``(x, y)`` in memory: the means and centred cross-products of
``z = [x, y]`` from shifted block sums, for :func:`~dl_workshop.moments.core.moments_of`
with ``exact=False``.

One routine per kind of source, chosen once by :func:`one_pass`:

* float64 data, small data and data in host memory: float64 block products of the data shifted
  by its first row (:func:`_host_sums`: NumPy, BLAS beats XLA's CPU dots);
* float32 data in host memory with at least ``_FLOAT32_MIN_ROWS`` rows: float32 block products
  (twice the speed, no float64 copy), made accurate by shifting ``x`` towards its means and by
  regressing the residual of a first fit instead of ``y`` (see :func:`_centred_float32`); data
  whose columns are nearly collinear falls back to float64 products. The whole pass then costs
  1.5 to 2 times one ``xᵀx`` product. It gives an R factor (:func:`_fit_r`), the others the
  cross-products themselves;
* JAX arrays on accelerators or split over several devices: float64 sums of the data shifted by
  its first row, block by block, so that no float64 copy of the data (nor of a device's shard of
  it) is ever made (:func:`raw_moments`). Rows split over the devices of a mesh (one host or
  several, see :mod:`dl_workshop.fitting.parallel`) are summed on each device, then added across
  devices
  once.

These are sums of cross-products (the normal equations' accuracy), at a fifth of the cost of the
exact moments' R factors; :mod:`dl_workshop.moments.core` turns them into
:class:`~dl_workshop.moments.core.Moments`.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from dl_workshop._precision import FLOAT64, precision

__all__ = ["host_view", "one_pass", "raw_moments", "raw_moments_jit", "row_split"]

# ``jax.shard_map`` from JAX 0.6 on; the experimental one before.
try:
    _shard_map = jax.shard_map
except AttributeError:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map as _shard_map

#: Rows per block: one BLAS product on a reused buffer on the host; on a device, small enough
#: that a float32 block product is accurate, large enough that the per-block overhead is noise.
_BLOCK_ROWS = 8192

#: Float32 data with at least this many rows gets float32 block products (float64 below it,
#: where the whole pass costs a few milliseconds anyway).
_FLOAT32_MIN_ROWS = 4 * _BLOCK_ROWS

#: Largest ``(mean - shift)² / variance`` of a column accepted for float32 block products
#: (their relative error is about 1e-7 times one plus this ratio).
_MAX_OFFSET_RATIO = 4.0

#: Largest condition number of the correlation matrix of ``x`` for which float32 products keep
#: ``w*`` and the smallest loss to about 1e-7 (measured); above it the float64 pass is used.
_MAX_CONDITION = 1e4

#: If the first rows' fit leaves more than twice the smallest squared error, the float32 pass
#: is repeated from the better fit (the difference would cancel too many digits).
_REFIT_BELOW = 0.5


def host_view(array: Any) -> np.ndarray:
    """A NumPy view of a CPU array (DLPack, no copy when possible), else a copy to the host."""
    try:
        return np.from_dlpack(array)
    except (TypeError, ValueError, BufferError, RuntimeError):
        return np.asarray(array)


def one_pass(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(mean, r, cross)`` of ``z = [x, y]`` (NumPy or JAX arrays, 2-D, validated) in float64:
    the column means and either an R factor (``r``, with ``cross`` ``None``) or the centred
    cross-products ``Σ (z - mean)(z - mean)ᵀ`` (``cross``, with ``r`` ``None``).

    Arrays on one CPU device are read in place as host arrays; others are summed where they are
    (float64 enabled for that computation only).
    """
    devices = x.sharding.device_set if isinstance(x, jax.Array) else None
    n = x.shape[0]
    on_host = devices is None or (
        all(device.platform == "cpu" for device in devices) and len(devices) == 1
    )
    if on_host:
        # DLPack views CPU buffers in place; np.asarray would copy them (0.2 s per GB).
        x, y = (x, np.asarray(y)) if devices is None else map(host_view, (x, y))
        if x.dtype == y.dtype == np.float32 and n >= _FLOAT32_MIN_ROWS:
            fitted = _centred_float32(x, y)
            if fitted is not None:
                return fitted[0], fitted[1], None
        shift, sums, gram = _host_sums(x, y)
    else:
        with precision(FLOAT64):
            blocked = len(devices) == 1
            split = None if blocked else row_split(x)
            parts = raw_moments_jit(x, y, blocked=blocked, split=split)
            shift, sums, gram = (np.asarray(p, np.float64) for p in parts)
    dz = sums / n  # mean minus shift
    return shift + dz, None, gram - n * np.outer(dz, dz)


def _host_sums(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The shifted sums of :func:`raw_moments` with NumPy, for data in host memory (BLAS beats
    XLA's CPU dots): the shift ``z[0]``, ``Σz'`` and ``Σz'z'ᵀ`` of ``z' = [x, y] - z[0]``.

    Each block of shifted rows ``[x - x[0], y - y[0]]`` is written into one reused buffer, so a
    block costs one subtraction pass and two BLAS calls (``aᵀa`` gives Σx'x'ᵀ, Σx'y'ᵀ and Σy'²
    at once; ``1ᵀa`` the column sums), accumulated across blocks in float64.
    """
    f64 = np.float64
    shift_x, shift_y = x[0].copy(), y[0].copy()
    n, d = x.shape
    k = y.shape[1]
    rows = min(_BLOCK_ROWS, n)
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
    return np.concatenate([shift_x, shift_y]).astype(f64), sums, gram



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
    return int(min(4 * _BLOCK_ROWS, max(256, block_bytes // (4 * width))))



class _ResidualSums(NamedTuple):
    """One float32 pass over ``x' = x - shift`` and ``t = y - x' w0 - c`` (float64 sums)."""

    xx: np.ndarray  # Σx'x'ᵀ, (d, d)
    x: np.ndarray  # Σx', (d,)
    xt: np.ndarray  # Σx'tᵀ, (d, k)
    t: np.ndarray  # Σt, (k,)
    tt: np.ndarray  # Σttᵀ, (k, k)


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
    tt = np.einsum("ij,ik->jk", t, t, dtype=f64)
    return _ResidualSums(xx, sx, xt, st, tt)



def _head_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Means, variances and least-squares weights of the first rows, in float64."""
    d, k = x.shape[1], y.shape[1]
    rows = max(min(_BLOCK_ROWS, 2**21 // (d + k)), 2 * (d + k))
    head = np.concatenate([x[:rows], y[:rows]], axis=1).astype(np.float64)
    mean = head.mean(0)
    centred = head - mean
    gram = centred.T @ centred
    if np.isfinite(gram).all():
        w0 = np.linalg.lstsq(gram[:d, :d], gram[:d, d:], rcond=None)[0]
    else:  # non-finite data, reported after the pass
        w0 = np.zeros((d, k))
    return mean[:d], mean[d:], np.diag(gram)[:d] / len(head), w0



def _centred_float32(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The means and R factor of large float32 data at 1.5 to 2 times the cost of one ``xᵀx``.

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
        ``(mean, r)`` of ``z = [x, y]`` (see :func:`_fit_r`), or ``None`` when the columns are
        so nearly collinear (or constant) that float32 products would lose ``w*``.
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
        ett = sums.tt - n * np.outer(dt, dt)
        return dx, cxx, cxt, ett

    dx, cxx, cxt, ett = one_pass(shift, w0)
    if not (np.isfinite(cxx).all() and np.isfinite(cxt).all() and np.isfinite(ett).all()):
        # Non-finite data (or squares beyond float32): moments that say so, without handing
        # NaN to LAPACK (which prints to stderr).
        p = d + y.shape[1]
        return np.concatenate([shift + dx, mean_y]), np.full((p, p), np.nan)
    variance = np.maximum(np.diag(cxx) / n, np.finfo(np.float64).tiny)
    if np.max(dx * dx / variance) > _MAX_OFFSET_RATIO:
        shift = (shift + dx).astype(np.float32).astype(np.float64)
        dx, cxx, cxt, ett = one_pass(shift, w0)
    scale = np.sqrt(np.diag(cxx))
    if not np.all(scale > 0) or np.linalg.cond(cxx / np.outer(scale, scale)) > _MAX_CONDITION:
        return None  # constant or nearly collinear columns: float32 products are not enough
    # The pass regressed t on x with the float32-rounded w0.
    w0 = w0.astype(np.float32).astype(np.float64)
    v = np.linalg.lstsq(cxx, cxt, rcond=None)[0]
    if np.trace(ett) - float(np.sum(v * cxt)) < _REFIT_BELOW * np.trace(ett):
        # The first rows' fit was poor: most of |t_c|² is explained, so start from w*.
        w0 = (w0 + v).astype(np.float32).astype(np.float64)
        dx, cxx, cxt, ett = one_pass(shift, w0)
        v = np.linalg.lstsq(cxx, cxt, rcond=None)[0]
    return np.concatenate([shift + dx, mean_y]), _fit_r(cxx, w0 + v, ett - cxt.T @ v)



def _fit_r(cxx: np.ndarray, w: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The R factor of centred ``[x, y]`` from ``xcᵀxc``, the least-squares weights ``w`` and
    the residuals' cross-products ``(yc - xc w)ᵀ(yc - xc w)``.

    ``R = [[Rx, Rx w], [0, Re]]`` with ``RxᵀRx = xcᵀxc`` (Cholesky: the caller checked that
    ``x``'s correlations are well conditioned) and ``ReᵀRe`` the residuals' cross-products
    (from their eigenvalues, negative rounding set to zero), so that ``RᵀR`` is the centred
    cross-products of ``[x, y]`` and the statistics solved from ``R`` find ``w`` and the
    smallest squared error again, without cancellation.
    """
    d, k = w.shape
    rx = np.linalg.cholesky(cxx).T
    values, vectors = np.linalg.eigh((residual + residual.T) / 2)
    root = np.sqrt(np.maximum(values, 0.0))[:, None] * vectors.T
    r = np.zeros((d + k, d + k))
    r[:d, :d], r[:d, d:] = rx, rx @ w
    r[d:, d:] = np.linalg.qr(root, mode="r") if k > 1 else root
    return r


def _block_sums(
    xb: jax.Array, yb: jax.Array, shift_x: jax.Array, shift_y: jax.Array
) -> tuple[jax.Array, ...]:
    """Σz' and Σz'z'ᵀ of one block, in float64 (``z' = [x - shift_x, y - shift_y]``)."""
    f64 = jnp.float64
    # Shifted blocks in float64, as on the host path, so that every device gives the same
    # moments to float64 rounding.
    zb = jnp.concatenate([(xb - shift_x).astype(f64), (yb - shift_y).astype(f64)], axis=1)
    return zb.sum(0), jnp.matmul(zb.T, zb, precision="highest")


def _blocked_sums(
    x: jax.Array, y: jax.Array, shift_x: jax.Array, shift_y: jax.Array
) -> tuple[jax.Array, ...]:
    """:func:`_block_sums` of all rows, ``_BLOCK_ROWS`` at a time, added up in float64.

    A block is a dynamic slice of the data, so that no float64 copy (nor any copy) of the whole
    array is made: memory stays at one block beyond the data.
    """
    n = x.shape[0]
    n_blocks = n // _BLOCK_ROWS
    if n_blocks <= 1:
        return _block_sums(x, y, shift_x, shift_y)

    def body(i, carry):
        start = i * _BLOCK_ROWS
        xb = jax.lax.dynamic_slice_in_dim(x, start, _BLOCK_ROWS)
        yb = jax.lax.dynamic_slice_in_dim(y, start, _BLOCK_ROWS)
        parts = _block_sums(xb, yb, shift_x, shift_y)
        return tuple(c + p for c, p in zip(carry, parts, strict=True))

    # The first block starts the sums (not zeros: inside shard_map the carry must vary over
    # devices as the block sums do), which adds the same numbers in the same order.
    first = _block_sums(x[:_BLOCK_ROWS], y[:_BLOCK_ROWS], shift_x, shift_y)
    sums = jax.lax.fori_loop(1, n_blocks, body, first)
    head = n_blocks * _BLOCK_ROWS
    if head < n:
        tail = _block_sums(x[head:], y[head:], shift_x, shift_y)
        sums = tuple(s + t for s, t in zip(sums, tail, strict=True))
    return sums


def row_split(x: Any) -> tuple[Any, Any] | None:
    """``(mesh, mesh axes)`` splitting the rows of ``x`` when only its rows are split, else
    ``None`` (read before ``jit``: a traced array has no sharding)."""
    sharding = getattr(x, "sharding", None)
    if not isinstance(sharding, NamedSharding) or x.ndim != 2:
        return None
    spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
    if spec[0] is None or any(axis is not None for axis in spec[1:]):
        return None
    return sharding.mesh, spec[0]


def _sharded_sums(
    x: jax.Array, y: jax.Array, shift_x: jax.Array, shift_y: jax.Array, split: tuple[Any, Any]
) -> tuple[jax.Array, ...]:
    """:func:`_blocked_sums` on each device's own rows, then one cross-device sum (``psum``).

    Each device reads its shard block by block, so memory per device (and per process) stays
    near the one-device figure instead of holding a float64 copy of the shard.
    """
    mesh, rows = split
    rows_spec, replicated = PartitionSpec(rows, None), PartitionSpec()

    def local(xl, yl, sx, sy):
        return tuple(jax.lax.psum(s, rows) for s in _blocked_sums(xl, yl, sx, sy))

    mapped = _shard_map(
        local,
        mesh=mesh,
        in_specs=(rows_spec, rows_spec, replicated, replicated),
        out_specs=replicated,
    )
    return mapped(x, y, shift_x, shift_y)


def raw_moments(
    x: jax.Array, y: jax.Array, blocked: bool, split: tuple[Any, Any] | None = None
) -> tuple[jax.Array, ...]:
    """Shifted sums in float64: the shift ``z[0]``, ``Σz'`` and ``Σz'z'ᵀ`` (``z' = z - z[0]``,
    ``z = [x, y]``, both 2-D).

    One device: block by block (``blocked``). Rows split over devices (``split`` from
    :func:`row_split`): block by block on each device, then one cross-device sum. Other
    shardings: one product, as XLA partitions it.
    """
    f64 = jnp.float64
    shift_x, shift_y = x[0], y[0]
    if blocked:
        sums = _blocked_sums(x, y, shift_x, shift_y)
    elif split is not None:
        sums = _sharded_sums(x, y, shift_x, shift_y, split)
    else:
        sums = _block_sums(x, y, shift_x, shift_y)
    return (jnp.concatenate([shift_x, shift_y]).astype(f64), *sums)


raw_moments_jit = jax.jit(raw_moments, static_argnames=("blocked", "split"))
