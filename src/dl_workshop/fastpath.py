"""Fast path for the linear model with squared loss: optimize on sufficient statistics.

For ``model = linear_model`` and ``loss = mseloss`` the loss is a quadratic function of
``theta = (w, b)`` whose coefficients are fixed by a few averages of the data. With the centred
data ``xc = x - mean(x)``, ``yc = y - mean(y)``, ``S = xcᵀxc / n`` and the least-squares weights
``w* = argmin_w |xc w - yc|²``, the mean squared error of any ``(w, b)`` is exactly::

    loss(w, b) = min_loss + (tr((w - w*)ᵀ S (w - w*)) + |mean(x) w + b - mean(y)|²) / k

where ``min_loss`` is the smallest reachable loss and ``k`` the number of outputs. Every term is
non-negative, so the recorded losses do not cancel catastrophically near the optimum (the
textbook ``wᵀXᵀXw - 2wᵀXᵀy + yᵀy`` would). The statistics are computed once, in one pass over
``x`` (shifted by its first row and accumulated in float64), after which each gradient step
costs ``O(d² k)`` instead of ``O(n d k)``: the iterates and losses are those of full-batch
gradient descent on the data, to floating-point tolerance.

:func:`~dl_workshop.optimization.fit` switches to this path by itself when it applies (opt out
with ``fast_path=False``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import as_data, check_same_length, float_dtype, unpack_linear_params

__all__ = [
    "LinearMSEObjective",
    "LinearMSEStats",
    "linear_mse_loss",
    "sufficient_statistics",
]

#: Rows per block when accumulating the statistics: small enough that a float32 block product
#: is accurate, large enough that the per-block overhead is noise.
_BLOCK_ROWS = 8192

#: Rows per block on the host path, where a block is one BLAS product on a reused buffer.
_HOST_BLOCK_ROWS = 8192


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


def _raw_moments(x: jax.Array, y: jax.Array, blocked: bool) -> tuple[jax.Array, ...]:
    """Shifted sums in float64: shift, Σx', Σy', Σx'x'ᵀ, Σx'y'ᵀ, Σy'² (x' = x - x[0], ...)."""
    f64 = jnp.float64
    shift_x, shift_y = x[0], y[0]
    n, d = x.shape
    k = y.shape[1]

    def block_sums(xb: jax.Array, yb: jax.Array) -> tuple[jax.Array, ...]:
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

    zeros = (
        jnp.zeros(d, f64),
        jnp.zeros(k, f64),
        jnp.zeros((d, d), f64),
        jnp.zeros((d, k), f64),
        jnp.zeros(k, f64),
    )
    # Blocks would force a sharded x onto one device; sharded data is summed in one product.
    n_blocks = n // _BLOCK_ROWS if blocked else 0
    if n_blocks > 1:
        head = n_blocks * _BLOCK_ROWS
        xs = x[:head].reshape(n_blocks, _BLOCK_ROWS, d)
        ys = y[:head].reshape(n_blocks, _BLOCK_ROWS, k)

        def body(carry, blocks):
            parts = block_sums(*blocks)
            return tuple(c + p for c, p in zip(carry, parts, strict=True)), None

        sums, _ = jax.lax.scan(body, zeros, (xs, ys))
        if head < n:
            tail = block_sums(x[head:], y[head:])
            sums = tuple(s + t for s, t in zip(sums, tail, strict=True))
    else:
        sums = block_sums(x, y)
    return (shift_x.astype(f64), shift_y.astype(f64), *sums)


_raw_moments_jit = jax.jit(_raw_moments, static_argnames="blocked")


def _raw_moments_host(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_raw_moments` with NumPy, for data in host memory (BLAS beats XLA's CPU dots).

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


def _host_view(array: jax.Array) -> np.ndarray:
    """A read-only NumPy view of a single-device CPU array, without copying when possible."""
    try:
        return np.from_dlpack(array)
    except (TypeError, ValueError, BufferError, RuntimeError):
        return np.asarray(array)


def sufficient_statistics(x: Any, y: Any, *, dtype: Any = None) -> LinearMSEStats:
    """One pass over the data: the statistics that determine the MSE of every linear model.

    The sums are accumulated in float64 (for this call only; no global flag changes) on data
    shifted by its first row, then turned into the centred quantities of
    :class:`LinearMSEStats`. Sharded inputs (see :mod:`dl_workshop.parallel`) stay sharded: the
    sums become cross-device reductions.

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
    if target == np.dtype(np.float64) and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return sufficient_statistics(x, y, dtype=dtype)
    x_arr = x if isinstance(x, jax.Array) else as_data(x, "x", dtype=target, host=True)
    y_arr = y if isinstance(y, jax.Array) else as_data(y, "y", dtype=target, host=True)
    check_same_length(x_arr, y_arr)
    x2, y2 = _as_columns(x_arr), _as_columns(y_arr)
    devices = x2.sharding.device_set if isinstance(x2, jax.Array) else None
    if devices is None:
        parts = _raw_moments_host(x2, np.asarray(y2))
    elif all(device.platform == "cpu" for device in devices) and len(devices) == 1:
        # DLPack views the CPU buffers in place; np.asarray would copy them (0.2 s per GB).
        parts = _raw_moments_host(_host_view(x2), _host_view(y2))
    else:
        with jax.enable_x64(True):
            parts = _raw_moments_jit(x2, y2, blocked=len(devices) == 1)
            parts = [np.asarray(p, np.float64) for p in parts]
    shift_x, shift_y, sx, sy, sxx, sxy, syy = parts
    n = x2.shape[0]
    k = y2.shape[1]
    dx, dy = sx / n, sy / n  # mean minus shift
    cxx = sxx - n * np.outer(dx, dx)
    cxy = sxy - n * np.outer(dx, dy)
    syy_c = syy - n * dy * dy
    # The normal equations are tiny (d x d); lstsq copes with collinear or constant columns.
    w_star = np.linalg.lstsq(cxx, cxy, rcond=None)[0]
    ss_min = max(float(syy_c.sum() - np.sum(w_star * cxy)), 0.0)
    return LinearMSEStats(
        mean_x=jnp.asarray(shift_x + dx, target),
        mean_y=jnp.asarray(shift_y + dy, target),
        cov=jnp.asarray(cxx / n, target),
        w_star=jnp.asarray(w_star, target),
        min_loss=jnp.asarray(ss_min / (n * k), target),
        n_rows=jnp.asarray(n, target),
    )


def _matrix_params(theta: Any, n_outputs: int) -> tuple[jax.Array, jax.Array]:
    """``(w, b)`` of any accepted form as ``w`` of shape ``(d, k)`` and ``b`` of shape ``(k,)``."""
    w, b = unpack_linear_params(theta)
    w = jnp.asarray(w)
    b = jnp.asarray(b)
    if w.ndim == 0:
        w = w.reshape(1, 1)
    elif w.ndim == 1:
        w = w[:, None]
    return w, jnp.broadcast_to(b.reshape(-1) if b.ndim else b, (n_outputs,))


def linear_mse_loss(theta: Any, stats: LinearMSEStats) -> jax.Array:
    """``mseloss(theta, linear_model, x, y)`` computed from the statistics of ``(x, y)``.

    Args:
        theta: linear-model parameters in any form :func:`~dl_workshop.linear_model` accepts
            (scalar ``w`` and ``b``; ``w`` of shape ``(d,)`` or ``(d, k)``, ``b`` a scalar or of
            shape ``(k,)``).
        stats: the :class:`LinearMSEStats` of the data.

    Returns:
        A scalar array: the mean squared error over all ``n * k`` entries.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> y = 2.0 * x + 1.0
        >>> stats = sufficient_statistics(x, y)
        >>> theta = {"w": 1.0, "b": 0.0}
        >>> bool(abs(linear_mse_loss(theta, stats) - mseloss(theta, linear_model, x, y)) < 1e-5)
        True
    """
    k = stats.w_star.shape[1]
    w, b = _matrix_params(theta, k)
    delta = w - stats.w_star
    offset = stats.mean_x @ w + b - stats.mean_y
    quadratic = jnp.sum(delta * (stats.cov @ delta)) + jnp.sum(offset * offset)
    return stats.min_loss + quadratic / k


class LinearMSEObjective(NamedTuple):
    """``(params, t, stats) -> (loss, grads)`` of ``mseloss`` with ``linear_model``.

    The engine's ``objective`` for the fast path; ``data`` is a :class:`LinearMSEStats`. It has
    no fields, so all instances are equal and share compiled code.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1.0, 1.0, 5)
        >>> stats = sufficient_statistics(x, 2.0 * x)
        >>> loss, grads = LinearMSEObjective()({"w": 2.0, "b": 0.0}, 0, stats)
        >>> round(float(loss), 6)
        0.0
    """

    def __call__(self, params: Any, t: Any, stats: LinearMSEStats) -> tuple[Any, Any]:
        del t
        return jax.value_and_grad(linear_mse_loss)(params, stats)


def fast_path_applies(model: Any, loss: Any, params: Any, x: jax.Array) -> bool:
    """Whether ``fit`` may replace the full-batch objective by :class:`LinearMSEObjective`.

    Only for the built-in :func:`~dl_workshop.linear_model` with :func:`~dl_workshop.mseloss`
    in its matrix form (a scalar ``w`` only with one input column), and only when the ``d x d``
    statistics are no larger than the data (``d <= n``).
    """
    from dl_workshop.losses import mseloss
    from dl_workshop.model import linear_model

    if model is not linear_model or loss is not mseloss:
        return False
    try:
        w, _ = unpack_linear_params(params)
    except (TypeError, ValueError):
        return False
    d = 1 if x.ndim == 1 else x.shape[1]
    if jnp.ndim(w) == 0 and d != 1:
        return False  # a scalar w scales every column: not the matrix form
    return d <= x.shape[0]


def fast_path_problem(
    objective: Any, params: Any, data: tuple[Any, Any], dtype: Any, *, enabled: bool = True
) -> tuple[Any, Any]:
    """``(objective, data)`` for the engine: the fast path's when it applies, else unchanged."""
    if not isinstance(enabled, bool):
        raise TypeError(f"fast_path must be True or False; got {enabled!r}")
    x, y = data
    if not enabled or not fast_path_applies(objective.model, objective.loss, params, x):
        return objective, data
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            stats = sufficient_statistics(x, y, dtype=dtype)
    except np.linalg.LinAlgError:
        stats = None
    # NumPy checks: the statistics are tiny, and jnp.isfinite would compile once per shape.
    if stats is None or not all(np.isfinite(np.asarray(s)).all() for s in stats):
        # Data so large that its squares overflow: the general path reports the inf loss as a
        # DivergenceError at step 0 instead of an error from inside the linear algebra.
        return objective, data
    return LinearMSEObjective(), stats
