"""Minibatch objectives: the batch of step ``t`` picked inside the compiled loop.

Batch order
-----------
Both paths visit the rows in the same order, so that a file streamed with ``chunk_size=W``
gives the same result as ``fit(x, y, batch_size=B, seed=s, shuffle_window=W)`` on the same rows
in memory:

1. The rows are cut into *windows* of ``W`` consecutive rows (the last may be shorter). In
   memory ``W`` is ``shuffle_window`` (default: all rows, a global shuffle); when streaming it is
   ``chunk_size``.
2. In epoch ``e`` the ``m`` rows of window ``j`` are reordered by the permutation
   :func:`shuffle_positions` ``(m, window_key(seed, e, j))``, a keyed *swap-or-not* shuffle
   computed with the same ``uint32`` arithmetic in NumPy (streaming) and JAX (in memory), so
   any position maps to its row without materializing a permutation.
3. The reordered windows are concatenated; consecutive runs of ``B`` rows are the batches. An
   epoch has ``n // B`` steps: its last, incomplete batch is dropped (its rows are used in other
   epochs, which shuffle differently).
4. Step ``t`` uses batch ``t % (n // B)`` of epoch ``t // (n // B)``.

The recorded loss of a step is the loss on that step's batch.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop.objectives.full_batch import FullBatchObjective, padded_data

__all__ = ["MinibatchObjective", "shuffle_positions", "window_key"]


#: Rounds of the swap-or-not shuffle; each round is a keyed involution of the window.
N_ROUNDS = 16

_GOLDEN = 0x9E3779B9


def _mix(h: Any, xp: Any) -> Any:
    """MurmurHash3's 32-bit finalizer on ``uint32`` arrays (wrap-around arithmetic)."""
    h = h ^ (h >> xp.uint32(16))
    h = h * xp.uint32(0x85EBCA6B)
    h = h ^ (h >> xp.uint32(13))
    h = h * xp.uint32(0xC2B2AE35)
    return h ^ (h >> xp.uint32(16))


def _hash2(a: Any, b: Any, xp: Any) -> Any:
    return _mix(a ^ _mix(b + xp.uint32(_GOLDEN), xp), xp)


def _u32(value: Any, xp: Any) -> Any:
    # At least 1-D: NumPy warns when *scalars* wrap around, never arrays.
    if isinstance(value, int):
        return xp.atleast_1d(xp.asarray(xp.uint32(value)))
    return xp.atleast_1d(xp.asarray(value).astype(xp.uint32))


def window_key(seed: int, epoch: Any, window: Any, xp: Any = np) -> Any:
    """The ``uint32`` key of window ``window`` in epoch ``epoch`` for shuffling seed ``seed``.

    Args:
        seed: the shuffling seed, an integer in ``[0, 2**32)``.
        epoch: epoch index (int or array).
        window: window index (int or array, broadcast with ``epoch``).
        xp: ``numpy`` or ``jax.numpy``.

    Returns:
        A ``uint32`` array (shape of ``epoch``/``window`` broadcast, at least 1-D for NumPy).

    Example:
        >>> int(window_key(0, 0, 0)[0]) == int(window_key(0, 0, 0)[0])
        True
    """
    return _hash2(_hash2(_u32(seed, xp), _u32(epoch, xp), xp), _u32(window, xp), xp)


def shuffle_positions(positions: Any, size: Any, key: Any, xp: Any = np) -> Any:
    """Rows that ``positions`` of a shuffled window of ``size`` rows map to (a bijection).

    A swap-or-not shuffle (Hoang, Morris and Rogaway, 2012): each round ``r`` pairs ``x`` with
    ``(K_r - x) mod size`` and swaps the pair when a keyed hash of the pair says so. It is a
    permutation of ``range(size)`` for any ``size``, computable for any subset of positions.

    Args:
        positions: integer array of positions in ``[0, size)``.
        size: window size ``m`` (int or array broadcast with ``positions``), ``1 <= m < 2**31``.
        key: ``uint32`` key from :func:`window_key` (broadcast with ``positions``).
        xp: ``numpy`` or ``jax.numpy``; both give identical results.

    Returns:
        ``uint32`` array of rows, shaped like ``positions``.

    Example:
        >>> import numpy as np
        >>> rows = shuffle_positions(np.arange(10), 10, window_key(0, 0, 0))
        >>> sorted(rows.tolist()) == list(range(10))
        True
    """
    x = _u32(positions, xp)
    m = _u32(size, xp)
    key = _u32(key, xp)
    if xp is jnp:
        # One compiled round, looped: the same arithmetic as sixteen copies of it, in a
        # sixteenth of the program (the minibatch loop compiled in 1.4 s, most of it here).
        x = jax.lax.fori_loop(
            0, N_ROUNDS, lambda r, x: _swap_round(x, m, key, _u32(r, jnp), jnp), x
        )
    else:
        for r in range(N_ROUNDS):
            x = _swap_round(x, m, key, _u32(r, xp), xp)
    return x.reshape(xp.shape(positions))



def window_order(size: int, seed: int, epoch: int, window: int) -> np.ndarray:
    """The order of the ``size`` rows of window ``window`` of epoch ``epoch`` (NumPy):
    :func:`shuffle_positions` of every row, keyed by :func:`window_key`.

    Example:
        >>> sorted(window_order(10, 0, 0, 0).tolist()) == list(range(10))
        True
    """
    return shuffle_positions(np.arange(size), size, window_key(seed, epoch, window))

def _swap_round(x: Any, m: Any, key: Any, r: Any, xp: Any) -> Any:
    """Round ``r`` (a ``uint32`` array) of the swap-or-not shuffle of positions ``x``."""
    k_r = _hash2(key, r, xp) % m
    partner = xp.where(k_r >= x, k_r - x, k_r + (m - x))
    round_key = _hash2(key, r | xp.uint32(0x80000000), xp)
    bit = _hash2(round_key, xp.maximum(x, partner), xp) & xp.uint32(1)
    return xp.where(bit == 1, partner, x)


def _batch_rows(t: jax.Array, seed: jax.Array, n: Any, batch_size: int, window: Any) -> jax.Array:
    """Row indices of step ``t``'s batch (the order defined in the module docstring).

    ``n`` and ``window`` may be traced (padded data): the same ``uint32`` arithmetic either way.
    """
    u32 = jnp.uint32
    n, window = jnp.asarray(n).astype(u32), jnp.asarray(window).astype(u32)
    steps_per_epoch = n // u32(batch_size)
    t = t.astype(u32)
    epoch = t // steps_per_epoch
    q = (t % steps_per_epoch) * u32(batch_size) + jnp.arange(batch_size, dtype=u32)
    win = q // window
    size = jnp.minimum(window, n - win * window)
    key = window_key(seed, epoch, win, xp=jnp)
    rows = win * window + shuffle_positions(q % window, size, key, xp=jnp)
    return rows.astype(jnp.int32)


class MinibatchObjective(NamedTuple):
    """``(params, t, (x, y, seed)) -> (loss, grads)`` on step ``t``'s minibatch of ``(x, y)``.

    The batch is gathered inside the compiled loop from ``t`` and ``seed`` (see the module
    docstring for the order), so no index arrays are stored and a run can resume at any step.
    ``data`` may also be ``(x, y, seed, n)``: rows padded beyond the first ``n`` (a traced
    integer), which no batch ever reads, so every ``n`` of a bucket of rows shares compiled code.

    Attributes:
        model: ``model(theta, x)``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        batch_size: rows per step ``B``.
        window: shuffle window ``W`` in rows (``None``: all rows).

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
        >>> objective = MinibatchObjective(linear_model, mseloss, 4, None)
        >>> loss, grads = objective({"w": 0.0, "b": 0.0}, 0, (x, 2 * x, np.uint32(0)))
        >>> sorted(grads)
        ['b', 'w']
    """

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]
    batch_size: int
    window: int | None

    def __call__(self, params: Any, t: Any, data: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        x, y, seed = data[:3]
        n = data[3] if len(data) > 3 else x.shape[0]
        window = n if self.window is None else jnp.minimum(self.window, n)
        rows = _batch_rows(jnp.asarray(t), jnp.asarray(seed), n, self.batch_size, window)
        xb = jnp.take(jnp.asarray(x), rows, axis=0)
        yb = jnp.take(jnp.asarray(y), rows, axis=0)
        return jax.value_and_grad(self.loss)(params, self.model, xb, yb)


def minibatch_problem(
    objective: FullBatchObjective, params: Any, data: Any, settings: Any
) -> tuple[MinibatchObjective, tuple[Any, ...]]:
    """``(objective, data)`` for ``fit(..., batch_size=...)``, after the shape check of the
    full-batch ``objective`` on ``data`` (``settings``: the validated
    :class:`~dl_workshop.fitting.settings.FitSettings`; read: ``batch_size``, ``seed``,
    ``shuffle_window``).

    When the rows may be padded (:func:`~dl_workshop.objectives.full_batch.padded_data`, the
    ``pad-minibatch`` shortcut) the data is padded to its bucket of rows and the real number of
    rows travels with it.
    """
    padded = padded_data(objective, params, data, "pad-minibatch")
    x, y = data
    if settings.batch_size > len(x):
        raise ValueError(
            f"batch_size must be at most the number of samples ({len(x)}); "
            f"got {settings.batch_size}"
        )
    minibatch = MinibatchObjective(
        objective.model, objective.loss, settings.batch_size, settings.shuffle_window
    )
    seed_array = np.asarray(settings.seed, np.uint32)
    if padded is None:
        return minibatch, (x, y, seed_array)
    x_padded, y_padded, n_rows = padded
    return minibatch, (x_padded, y_padded, seed_array, n_rows)


class StackedObjective(NamedTuple):
    """Step ``t`` uses batch ``t - t0`` of a stack of batches (one streamed window's worth)."""

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]

    def __call__(self, params: Any, t: Any, data: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        xs, ys, t0 = data
        j = jnp.clip(t - t0, 0, xs.shape[0] - 1)
        xb = jax.lax.dynamic_index_in_dim(xs, j, keepdims=False)
        yb = jax.lax.dynamic_index_in_dim(ys, j, keepdims=False)
        return jax.value_and_grad(self.loss)(params, self.model, xb, yb)
