"""The one moments type of the package: weighted means and R factors of centred rows, combined
exactly, from any source (NumPy blocks, JAX arrays per device, Dask partitions on the workers).

For rows ``z = [x, y]`` (``p = d + k`` columns) with weights ``w >= 0``, the :class:`Moments`
are the total weight ``W = Σ w``, the weighted means and an upper-triangular ``R`` with

    Rᵀ R = Σ_i w_i (z_i - mean)(z_i - mean)ᵀ,

the centred cross-products, in float64. Two sets of rows combine exactly (the weighted form of
Chan, Golub and LeVeque's pairwise update, carried by R factors as in TSQR)::

    W = Wa + Wb,   δ = mean_b - mean_a,   mean = mean_a + δ Wb / W,
    R = qr([Ra; Rb; sqrt(Wa Wb / W) δᵀ])

Why R and not the cross-products themselves: least squares solved from ``R`` (a triangular
``R_xx w = R_xy``) loses about ``eps`` times the condition number of the centred design, as QR
on all rows would; solved from ``RᵀR`` (the normal equations) it loses ``eps`` times its square.
On the ill-conditioned data of ``benchmarks/bench_distributed.py`` (condition number 1e3 after
centring) that is a coefficient error of 2e-10 from the cross-products and about 1e-12 from R.
Each block's R factor is a Cholesky QR done twice (:func:`block_r`: three BLAS-3 passes, as
accurate as Householder QR for blocks whose condition number is below ``CHOLESKY_QR_LIMIT``,
Householder QR above): the exact solve of ``benchmarks/bench_distributed.py`` (1M x 20 float64,
8 partitions, 2 workers) took 0.22-0.26 s warm, 0.48-0.50 s with Householder QR on blocks of
1 024 rows; the cross-products alone take 0.07-0.09 s.

Each partition is folded in blocks, one QR of ``[R; R of the w-weighted centred block; shift
row]`` per block; partitions combine with :func:`combine_moments` (on Dask's workers, by a
tree). Counts of non-finite values and negative weights, and the columns' ranges over the rows
of positive weight, travel along so that the caller can raise the messages a fit on data in
memory raises.

:func:`moments_of` dispatches on the source, decided once: NumPy arrays are folded block by
block here; a ``jax.Array`` is folded one device's rows at a time (each shard read in place on
the host, the shards combined in row order); Dask arrays are folded partition by partition on
the workers that hold them and combined there by a tree (:func:`dask_moments`), so the client
receives one ``(d + k) x (d + k)`` triangle. With ``exact=False`` NumPy and JAX data take the
fast path's one pass instead (:mod:`~dl_workshop.moments.device`: shifted block sums,
a fifth of the cost, the normal equations' accuracy), whose :class:`Moments` carry the centred
cross-products (``cross``) in place of ``r``. The estimator's compressed rows
(:mod:`~dl_workshop.estimator.compressed`), its scaling, the statistics of Dask data and the
fast path's sufficient statistics
(:func:`~dl_workshop.objectives.statistics.statistics_from_moments`) are all derived from these
:class:`Moments`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import numpy as np
from threadpoolctl import ThreadpoolController

from dl_workshop._validation import float_dtype
from dl_workshop.io.chunks import aligned_blocks, is_dask
from dl_workshop.moments.device import host_view, one_pass

__all__ = [
    "CHOLESKY_QR_LIMIT", "Moments", "block_r", "combine_moments", "dask_moments",
    "empty_moments", "moments_of",
]

#: Rows per block of a partition (its R factor is one Cholesky QR twice, see :func:`block_r`).
#: Blocks that stay in the cache: 8 192 rows of 51 float64 columns are 3.3 MB; the moments of
#: 200 000 x 51 take 0.10 s on one core, 0.155 s in blocks of 32 768 rows.
_SUB_ROWS = 1 << 13

#: Above this condition number of the scaled block (that of its first Cholesky factor), a block
#: is factored by Householder QR: CholeskyQR2's error grows with the condition number's square
#: (measured: as accurate as Householder QR up to 1e4, 100 times less at 1e7).
CHOLESKY_QR_LIMIT = 1e4


class Moments(NamedTuple):
    """Counts, total weight, weighted means and the R factor of ``z = [x, y]`` (float64).

    Attributes:
        n: number of rows.
        weight: total weight ``W`` (``n`` without weights).
        mean: weighted column means of ``z``, shape ``(p,)``.
        r: upper triangular, shape ``(p, p)``: ``rᵀr = Σ w (z - mean)(z - mean)ᵀ``.
        nonfinite: NaN or infinite values in ``x``, ``y`` and the weights, shape ``(3,)``.
        negative: number of negative weights.
        positive: number of rows of positive weight.
        low: column minima of ``z`` over the rows of positive weight, shape ``(p,)``.
        high: column maxima of ``z`` over the rows of positive weight, shape ``(p,)``.
        cross: ``None``, or for the fast path's moments (``moments_of(..., exact=False)``),
            the centred cross-products themselves, with ``r`` then ``None``.
    """

    n: int
    weight: float
    mean: np.ndarray
    r: np.ndarray
    nonfinite: np.ndarray
    negative: int
    positive: int
    low: np.ndarray
    high: np.ndarray
    cross: np.ndarray | None = None

    @property
    def m2(self) -> np.ndarray:
        """The centred cross-products ``Σ w (z - mean)(z - mean)ᵀ = rᵀr``, shape ``(p, p)``."""
        return self.cross if self.r is None else self.r.T @ self.r


def empty_moments(p: int) -> Moments:
    """The :class:`Moments` of no rows, with ``p`` columns.

    Example:
        >>> m = empty_moments(2)
        >>> m.n, m.weight, m.r.shape
        (0, 0.0, (2, 2))
    """
    return Moments(
        0, 0.0, np.zeros(p), np.zeros((p, p)), np.zeros(3, np.int64), 0, 0,
        np.full(p, np.inf), np.full(p, -np.inf),
    )


def _triangular(stacked: np.ndarray, p: int) -> np.ndarray:
    """The ``(p, p)`` R factor of ``stacked`` (zero rows appended when it has fewer rows)."""
    r = np.linalg.qr(stacked, mode="r")
    if r.shape[0] < p:
        r = np.vstack([r, np.zeros((p - r.shape[0], p))])
    return r


def _counts(a: Moments, b: Moments) -> dict[str, Any]:
    return {
        "n": a.n + b.n,
        "nonfinite": a.nonfinite + b.nonfinite,
        "negative": a.negative + b.negative,
        "positive": a.positive + b.positive,
        "low": np.minimum(a.low, b.low),
        "high": np.maximum(a.high, b.high),
    }


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
    counts = _counts(a, b)
    if a.weight == 0:
        return b._replace(**counts)
    if b.weight == 0:
        return a._replace(**counts)
    weight = a.weight + b.weight
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.weight / weight)
    shift = np.sqrt(a.weight * b.weight / weight) * delta
    if a.r is None or b.r is None:  # the fast path's cross-products: Chan et al.'s update
        cross = a.m2 + b.m2 + np.outer(shift, shift)
        return Moments(weight=weight, mean=mean, r=None, cross=cross, **counts)
    r = _triangular(np.vstack([a.r, b.r, shift[None, :]]), len(delta))
    return Moments(weight=weight, mean=mean, r=r, **counts)


def _block_counts(block: np.ndarray, w: np.ndarray, d: int) -> tuple[np.ndarray, int]:
    """Non-finite values of ``x``, ``y`` and ``w`` and negative weights in one block; the bad
    values are set to zero (and bad weights too) so that the arithmetic stays finite."""
    nonfinite = np.zeros(3, np.int64)
    if not np.isfinite(block).all():  # counted only then: the message names how many
        bad = ~np.isfinite(block)
        nonfinite[:2] = bad[:, :d].sum(), bad[:, d:].sum()
        block[bad] = 0.0
    if not np.isfinite(w).all():
        bad = ~np.isfinite(w)
        nonfinite[2] = bad.sum()
        w[bad] = 0.0
    negative = int(np.count_nonzero(w < 0))
    if negative:
        np.maximum(w, 0.0, out=w)
    return nonfinite, negative


def _fold(total: Moments, block: np.ndarray, w: np.ndarray, d: int) -> Moments:
    """``total`` with the rows ``block`` (weights ``w``) added: one QR of the stacked rows."""
    nonfinite, negative = _block_counts(block, w, d)
    positive = w > 0
    seen = block if positive.all() else block[positive]
    counts = {
        "n": total.n + len(block),
        "nonfinite": total.nonfinite + nonfinite,
        "negative": total.negative + negative,
        "positive": total.positive + len(seen),
        "low": np.minimum(total.low, seen.min(0)) if len(seen) else total.low,
        "high": np.maximum(total.high, seen.max(0)) if len(seen) else total.high,
    }
    weight = float(w.sum())
    if weight == 0:
        return total._replace(**counts)
    mean = (w @ block) / weight
    block -= mean
    correction = (w @ block) / weight  # a second, small pass: the means to full precision
    mean += correction
    block -= correction
    if not positive.all() or np.any(w != 1.0):  # unweighted rows need no scaling
        np.multiply(np.sqrt(w)[:, None], block, out=block)
    combined = weight + total.weight
    delta = mean - total.mean
    shift = np.sqrt(total.weight * weight / combined) * delta
    r = _triangular(np.vstack([total.r, block_r(block), shift[None, :]]), block.shape[1])
    return Moments(weight=combined, mean=total.mean + delta * (weight / combined), r=r, **counts)


def _householder_r(block: np.ndarray) -> np.ndarray:
    return np.linalg.qr(block, mode="r")


def block_r(block: np.ndarray) -> np.ndarray:
    """An R factor of ``block`` (``RᵀR = blockᵀblock``, ``R`` upper triangular), as accurate as
    Householder QR's, in about a quarter of its time for tall blocks.

    Cholesky QR twice (CholeskyQR2: ``R₁ = chol(BᵀB)``, ``Q = B R₁⁻¹``, ``R = chol(QᵀQ) R₁``,
    Yamamoto et al. 2015) is three BLAS-3 passes where Householder QR is a sequence of rank-1
    updates; it is backward stable like Householder QR while the block's condition number is
    below about ``eps^(-1/2)`` (1e8 in float64). Columns are first scaled by powers of two
    (exact) to equal norms; a block whose scaled Cholesky factor fails or shows a condition
    number above ``CHOLESKY_QR_LIMIT`` is factored by Householder QR instead.

    Args:
        block: shape ``(m, p)``, float64.

    Returns:
        Shape ``(min(m, p), p)``.

    Example:
        >>> import numpy as np
        >>> b = np.random.default_rng(0).normal(size=(50, 3))
        >>> r = block_r(b)
        >>> bool(np.allclose(r.T @ r, b.T @ b)), bool(np.allclose(np.tril(r, -1), 0))
        (True, True)
    """
    m, p = block.shape
    if m < 4 * p:
        return _householder_r(block)
    gram = block.T @ block
    norms = np.sqrt(np.diag(gram))
    if not np.all(norms > 0):  # a constant column: the Cholesky factor is singular
        return _householder_r(block)
    scale = np.exp2(np.round(np.log2(norms)))  # powers of two: scaling is exact
    try:
        r1 = np.linalg.cholesky(gram / np.outer(scale, scale)).T
    except np.linalg.LinAlgError:
        return _householder_r(block)
    if np.linalg.cond(r1) > CHOLESKY_QR_LIMIT:  # a (p, p) SVD: microseconds
        return _householder_r(block)
    # B R₁⁻¹ through the (small) inverse: one matrix product; the second Cholesky QR removes
    # what the inverse's rounding leaves of Q's orthogonality.
    q = block @ (np.linalg.inv(r1) / scale[:, None])
    try:
        r2 = np.linalg.cholesky(q.T @ q).T
    except np.linalg.LinAlgError:
        return _householder_r(block)
    return (r2 @ r1) * scale


def host_moments(x: Any, y: Any, dtype: Any = np.float64, weights: Any = None) -> Moments:
    """The :class:`Moments` of one partition ``(x, y)`` in host memory (optionally weighted), in
    one read of it.

    The values are first rounded to ``dtype`` (what ``fit`` does to data in memory), then
    accumulated in float64, ``_SUB_ROWS`` rows at a time.

    Args:
        x: inputs, shape ``(m,)`` or ``(m, d)``.
        y: targets, shape ``(m,)`` or ``(m, k)``.
        dtype: the fit's dtype.
        weights: sample weights, shape ``(m,)``, or ``None`` (each row weighs 1).

    Raises:
        ValueError: if ``x``, ``y`` and ``weights`` have different numbers of rows.

    Example:
        >>> import numpy as np
        >>> m = host_moments(np.array([1.0, 3.0]), np.array([0.0, 4.0]))
        >>> m.n, m.mean.tolist(), m.m2.round(12).tolist()
        (2, [2.0, 2.0], [[2.0, 4.0], [4.0, 8.0]])
    """
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    _check_rows(len(x), len(y), len(w))
    d, p = x.shape[1], x.shape[1] + y.shape[1]
    total = empty_moments(p)
    # One BLAS thread: threads cost more than they save on QRs this small (4.6x slower with 2
    # threads on a 2-core machine).
    with _blas_controller().limit(limits=1, user_api="blas"):
        for start in range(0, len(x), _SUB_ROWS):
            block = np.empty((min(_SUB_ROWS, len(x) - start), p))
            block[:, :d] = x[start : start + _SUB_ROWS]
            block[:, d:] = y[start : start + _SUB_ROWS]
            total = _fold(total, block, w[start : start + _SUB_ROWS].copy(), d)
    return total


def _check_rows(*lengths: int) -> None:
    if len(set(lengths)) > 1:
        raise ValueError(
            "the inputs, targets and weights must have the same number of rows in every "
            "partition; got {}, {} and {}".format(*lengths)
        )


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries' thread controls, looked up once (a lookup takes milliseconds)."""
    return ThreadpoolController()


def moments_of(
    x: Any, y: Any, dtype: Any = np.float64, weights: Any = None, *, exact: bool = True
) -> Moments:
    """The :class:`Moments` of ``(x, y)`` (optionally weighted), in one read, wherever they are.

    Dispatches on the source, decided once: Dask arrays (any of ``x``, ``y``, ``weights``) go to
    :func:`dask_moments` (per partition on the workers, tree-combined there); a ``jax.Array`` is
    read one device's rows at a time (:func:`_device_moments`); anything else is read as NumPy
    blocks (:func:`host_moments`). The values are rounded to ``dtype`` first, then accumulated in
    float64; every route gives the same moments to rounding (:func:`combine_moments` is exact).

    With ``exact=False`` (the fast path's statistics), unweighted NumPy and JAX data are read by
    :func:`~dl_workshop.moments.device.one_pass` instead: shifted block sums, at about
    a fifth of the cost of the R factors and with the normal equations' accuracy, on the devices
    that hold a ``jax.Array`` (across processes too). The data are taken as they are (already
    validated, in the fit's dtype); nothing is counted (``nonfinite``, ``negative`` zero) and the
    ranges are unknown (``low`` -inf, ``high`` +inf).

    Args:
        x: inputs, shape ``(n,)`` or ``(n, d)``.
        y: targets, shape ``(n,)`` or ``(n, k)``.
        dtype: the fit's dtype.
        weights: sample weights, shape ``(n,)``, or ``None`` (each row weighs 1).
        exact: the R factors (``True``), or the fast path's one pass (``False``).

    Raises:
        ValueError: if ``x``, ``y`` and ``weights`` have different numbers of rows.

    Example:
        >>> import jax.numpy as jnp
        >>> import numpy as np
        >>> a, b = moments_of(np.arange(4.0), np.ones(4)), moments_of(jnp.arange(4.0), jnp.ones(4))
        >>> a.n == b.n, bool(np.allclose(a.r, b.r)), a.mean.tolist()
        (True, True, [1.5, 1.0])
    """
    # Only an object with a Dask graph can be Dask data: NumPy and JAX arrays are told apart
    # here without a call into chunks.
    if any(is_dask(a) for a in (x, y, weights) if hasattr(a, "__dask_graph__")):
        return dask_moments(x, y, dtype, weights)
    if not exact and weights is None:
        return _fast_moments(x, y)
    if isinstance(x, jax.Array):
        return _device_moments(x, y, dtype, weights)
    return host_moments(x, y, dtype, weights)


def _fast_moments(x: Any, y: Any) -> Moments:
    """:func:`~dl_workshop.moments.device.one_pass` as :class:`Moments`."""
    x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
    mean, r, cross = one_pass(x, y)
    n, p = x.shape[0], len(mean)
    return Moments(
        n, float(n), mean, r, np.zeros(3, np.int64), 0, n, np.full(p, -np.inf),
        np.full(p, np.inf), cross,
    )


def _device_moments(x: jax.Array, y: Any, dtype: Any, weights: Any) -> Moments:
    """:func:`host_moments` of each device's rows of ``x`` (its shards, read where they are on a
    CPU, copied one shard at a time otherwise), combined in row order; replicated shards count
    once. ``y`` and ``weights`` (``1/d``-th of the data) are read whole."""
    if not x.is_fully_addressable:
        raise ValueError(
            "moments_of needs every row of x in this process; got a jax.Array spread over "
            "several processes (gather it first, or use the fast path's statistics)"
        )
    y_host = host_view(y) if isinstance(y, jax.Array) else np.asarray(y)
    w_host = None if weights is None else np.asarray(weights, np.float64).reshape(-1)
    n = x.shape[0]
    _check_rows(n, len(y_host), n if w_host is None else len(w_host))
    shards: dict[tuple[int, int], Any] = {}
    for shard in x.addressable_shards:
        if shard.data.shape[1:] != x.shape[1:]:  # columns split over devices: all rows at once
            return host_moments(np.asarray(x), y_host, dtype, w_host)
        start, stop, _ = shard.index[0].indices(n)
        shards.setdefault((start, stop), shard.data)
    total = None
    for (start, stop), data in sorted(shards.items()):
        w = None if w_host is None else w_host[start:stop]
        part = host_moments(host_view(data), y_host[start:stop], dtype, w)
        total = part if total is None else combine_moments(total, part)
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


def dask_moments(x: Any, y: Any, dtype: Any = None, weights: Any = None) -> Moments:
    """The :class:`Moments` of Dask ``(x, y)``: one pass, on the workers, tree-reduced.

    Runs on Dask's current scheduler (a ``distributed.Client`` when one is active); only the
    final ``(d + k) x (d + k)`` result reaches this process.

    Args:
        x: inputs, a Dask array of shape ``(n,)`` or ``(n, d)`` (rows in one column chunk, see
            :func:`~dl_workshop.io.chunks.as_dask_array`).
        y: targets, a Dask array of shape ``(n,)`` or ``(n, k)``, likewise.
        dtype: the fit's dtype (values are rounded to it first); ``None``: JAX's default float.
        weights: sample weights, a Dask array of shape ``(n,)``, or ``None``.

    Example:
        >>> import dask.array as da
        >>> x = da.arange(6.0, chunks=4)
        >>> m = dask_moments(x, 2 * x, "float64", weights=da.ones(6, chunks=4))
        >>> m.n, m.weight, m.mean.tolist()
        (6, 6.0, [2.5, 5.0])
    """
    import dask

    target = float_dtype(dtype)
    moments = dask.delayed(host_moments, pure=False)
    arrays = (x, y) if weights is None else (x, y, weights)
    parts = [moments(b[0], b[1], target, *b[2:]) for b in aligned_blocks(*arrays)]
    (total,) = dask.compute(_tree(parts))
    return total
