"""The one pass of the sufficient statistics on JAX arrays: on a device, or split over devices.

Float64 sums of the data shifted by its first row, block by block, so that no float64 copy of
the data (nor of a device's shard of it) is ever made. Rows split over the devices of a mesh
(one host or several, see :mod:`dl_workshop.parallel`) are summed on each device, then added
across devices once. Turned into :class:`~dl_workshop.objectives.statistics.LinearMSEStats` by
:mod:`dl_workshop.objectives.statistics`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

__all__ = ["raw_moments", "raw_moments_jit", "row_split"]

# ``jax.shard_map`` from JAX 0.6 on; the experimental one before.
try:
    _shard_map = jax.shard_map
except AttributeError:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map as _shard_map

#: Rows per block when accumulating the statistics: small enough that a float32 block product
#: is accurate, large enough that the per-block overhead is noise.
_BLOCK_ROWS = 8192


def _block_sums(
    xb: jax.Array, yb: jax.Array, shift_x: jax.Array, shift_y: jax.Array
) -> tuple[jax.Array, ...]:
    """Σx', Σy', Σx'x'ᵀ, Σx'y'ᵀ, Σy'² of one block, in float64 (x' = x - shift_x, ...)."""
    f64 = jnp.float64
    # Shifted blocks in float64, as on the host path, so that every device gives the same
    # statistics to float64 rounding.
    xb = (xb - shift_x).astype(f64)
    yb = (yb - shift_y).astype(f64)
    return (
        xb.sum(0),
        yb.sum(0),
        jnp.matmul(xb.T, xb, precision="highest"),
        jnp.matmul(xb.T, yb, precision="highest"),
        (yb * yb).sum(0),
    )


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
    """Shifted sums in float64: shift, Σx', Σy', Σx'x'ᵀ, Σx'y'ᵀ, Σy'² (x' = x - x[0], ...).

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
    return (shift_x.astype(f64), shift_y.astype(f64), *sums)


raw_moments_jit = jax.jit(raw_moments, static_argnames=("blocked", "split"))
