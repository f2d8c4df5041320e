"""Minibatch SGD, in memory (``fit(..., batch_size=...)``) or streamed from files and iterators.

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

Memory when streaming is bounded by the chunk: about ``chunk_size`` rows held three times
(the window, its shuffled copy, its batches) plus what pyarrow reads at once (one record batch
or Parquet row group), whatever the size of the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dl_workshop._validation import check_int, check_positive, describe, float_dtype
from dl_workshop.optimization import DivergenceError, FitResult, FullBatchObjective, fit

__all__ = [
    "MinibatchObjective",
    "fit_stream",
    "iter_chunks",
    "shuffle_positions",
    "window_key",
]

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
    for r in range(N_ROUNDS):
        k_r = _hash2(key, _u32(r, xp), xp) % m
        partner = xp.where(k_r >= x, k_r - x, k_r + (m - x))
        round_key = _hash2(key, _u32(r | 0x80000000, xp), xp)
        bit = _hash2(round_key, xp.maximum(x, partner), xp) & xp.uint32(1)
        x = xp.where(bit == 1, partner, x)
    return x.reshape(xp.shape(positions))


def _batch_rows(t: jax.Array, seed: jax.Array, n: int, batch_size: int, window: int) -> jax.Array:
    """Row indices of step ``t``'s batch (the order defined in the module docstring)."""
    steps_per_epoch = n // batch_size
    t = t.astype(jnp.uint32)
    epoch = t // jnp.uint32(steps_per_epoch)
    q = (t % jnp.uint32(steps_per_epoch)) * jnp.uint32(batch_size) + jnp.arange(
        batch_size, dtype=jnp.uint32
    )
    win = q // jnp.uint32(window)
    size = jnp.minimum(jnp.uint32(window), jnp.uint32(n) - win * jnp.uint32(window))
    key = window_key(seed, epoch, win, xp=jnp)
    rows = win * jnp.uint32(window) + shuffle_positions(q % jnp.uint32(window), size, key, xp=jnp)
    return rows.astype(jnp.int32)


class MinibatchObjective(NamedTuple):
    """``(params, t, (x, y, seed)) -> (loss, grads)`` on step ``t``'s minibatch of ``(x, y)``.

    The batch is gathered inside the compiled loop from ``t`` and ``seed`` (see the module
    docstring for the order), so no index arrays are stored and a run can resume at any step.

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
        x, y, seed = data
        n = x.shape[0]
        window = n if self.window is None else min(self.window, n)
        rows = _batch_rows(jnp.asarray(t), jnp.asarray(seed), n, self.batch_size, window)
        xb = jnp.take(jnp.asarray(x), rows, axis=0)
        yb = jnp.take(jnp.asarray(y), rows, axis=0)
        return jax.value_and_grad(self.loss)(params, self.model, xb, yb)


def minibatch_problem(
    objective: Any, data: Any, *, batch_size: Any, seed: Any, shuffle_window: Any
) -> tuple[MinibatchObjective, tuple[Any, Any, jax.Array]]:
    """``(objective, data)`` for ``fit(..., batch_size=...)`` (validates the three options)."""
    if not isinstance(objective, FullBatchObjective):
        raise ValueError(
            "batch_size cannot be combined with a custom objective (the objective decides "
            f"which data each step uses); got objective={describe(objective)}"
        )
    x, y = data
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if batch_size > len(x):
        raise ValueError(
            f"batch_size must be at most the number of samples ({len(x)}); got {batch_size}"
        )
    seed = _check_seed(seed)
    if shuffle_window is not None:
        shuffle_window = check_int(shuffle_window, "shuffle_window", minimum=1)
    minibatch = MinibatchObjective(objective.model, objective.loss, batch_size, shuffle_window)
    return minibatch, (x, y, jnp.asarray(seed, jnp.uint32))


def _check_seed(seed: Any) -> int:
    seed = check_int(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed}")
    return seed


class _StackedObjective(NamedTuple):
    """Step ``t`` uses batch ``t - t0`` of a stack of batches (one streamed window's worth)."""

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]

    def __call__(self, params: Any, t: Any, data: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        xs, ys, t0 = data
        j = jnp.clip(t - t0, 0, xs.shape[0] - 1)
        xb = jax.lax.dynamic_index_in_dim(xs, j, keepdims=False)
        yb = jax.lax.dynamic_index_in_dim(ys, j, keepdims=False)
        return jax.value_and_grad(self.loss)(params, self.model, xb, yb)


# ---------------------------------------------------------------------------------------------
# Reading chunks


def _columns(names: str | Sequence[str] | None, what: str) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    names = list(names)
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(f"{what} must be a column name or a list of names; got {names!r}")
    return names


def _open_dataset(source: Any, file_format: str | None) -> Any:
    import pyarrow.dataset as ds

    if isinstance(source, ds.Dataset):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source file or folder not found: {str(path)!r}")
    if file_format is None:
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq") or path.is_dir():
            file_format = "parquet"
        elif suffix in (".csv", ".txt"):
            file_format = "csv"
        else:
            raise ValueError(
                f"cannot tell the format of {str(path)!r} from its suffix; pass "
                "format='parquet' or format='csv'"
            )
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"format must be 'parquet' or 'csv'; got {file_format!r}")
    return ds.dataset(str(path), format=file_format)


def _dataset_chunks(
    dataset: Any, x_columns: Any, y_columns: Any, dtype: np.dtype, chunk_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    y_names = _columns(y_columns, "y_columns")
    if y_names is None:
        raise ValueError("y_columns is required when reading a file: name the target column(s)")
    x_names = _columns(x_columns, "x_columns")
    if x_names is None:
        x_names = [name for name in dataset.schema.names if name not in y_names]
    missing = [c for c in x_names + y_names if c not in dataset.schema.names]
    if missing:
        raise ValueError(
            f"columns {missing} are not in the data; its columns are {dataset.schema.names}"
        )
    batches = _record_batches(dataset, x_names + y_names, min(max(chunk_size, 1024), 1 << 17))
    for batch in batches:
        if batch.num_rows == 0:
            continue
        cols = [
            np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype)
            for i in range(batch.num_columns)
        ]
        x = np.column_stack(cols[: len(x_names)])
        y = np.column_stack(cols[len(x_names) :])
        yield (
            x[:, 0] if isinstance(x_columns, str) else x,
            y[:, 0] if isinstance(y_columns, str) else y,
        )


def _record_batches(dataset: Any, columns: list[str], batch_size: int) -> Iterator[Any]:
    """The record batches of ``dataset``, read synchronously, one Parquet row group at a time."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not (
        isinstance(dataset, ds.FileSystemDataset)
        and isinstance(dataset.format, ds.ParquetFileFormat)
    ):
        # CSV (or an in-memory dataset): the scanner with the least read-ahead it allows.
        yield from dataset.to_batches(
            columns=columns, batch_size=batch_size, batch_readahead=1, fragment_readahead=1
        )
        return
    # Not ``dataset.to_batches``: its scanner reads row groups ahead in the background without
    # bound while the consumer is busy (measured: ~0.45 GB of a 0.79 GB file buffered during the
    # first compile). And not Parquet's ``pre_buffer`` (pyarrow's default), which caches the
    # column chunks of every row group of a file up front until the reader closes, so memory
    # grows with the file (measured: 0.8 GB held by Arrow for a 0.79 GB file).
    for path in dataset.files:
        with pq.ParquetFile(path, pre_buffer=False, filesystem=dataset.filesystem) as reader:
            yield from reader.iter_batches(batch_size=batch_size, columns=columns)


def iter_chunks(
    source: Any,
    *,
    x_columns: str | Sequence[str] | None = None,
    y_columns: str | Sequence[str] | None = None,
    chunk_size: int = 65536,
    dtype: Any = None,
    format: str | None = None,  # noqa: A002 - the name users know from pyarrow
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Read ``(x, y)`` from a file or an iterable, in windows of exactly ``chunk_size`` rows.

    Only one window (plus one record batch of the file) is in memory at a time.

    Args:
        source: a Parquet or CSV file (or folder of them), a ``pyarrow.dataset.Dataset``, or an
            iterable of ``(x, y)`` chunks (NumPy arrays with the same number of rows).
        x_columns: input column(s) of a file: a name gives ``x`` of shape ``(rows,)``, a list
            gives ``(rows, d)``; ``None`` means every column not in ``y_columns``.
        y_columns: target column(s) of a file: a name gives ``y`` of shape ``(rows,)``, a list
            gives ``(rows, k)``. Required for files.
        chunk_size: rows per window, >= 1 (the last window may be shorter).
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default float.
        format: ``"parquet"`` or ``"csv"``; ``None`` infers it from the file suffix.

    Yields:
        ``(x, y)`` NumPy arrays with ``chunk_size`` rows (fewer for the last).

    Raises:
        ValueError, TypeError: for missing columns, non-finite values or mismatched chunks.

    Example:
        >>> import numpy as np
        >>> chunks = [(np.arange(5.0), np.arange(5.0)), (np.arange(3.0), np.arange(3.0))]
        >>> [len(x) for x, _ in iter_chunks(chunks, chunk_size=3)]
        [3, 3, 2]
    """
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    target = float_dtype(dtype)
    if isinstance(source, (str, os.PathLike)) or type(source).__module__.startswith("pyarrow"):
        raw: Iterable[Any] = _dataset_chunks(
            _open_dataset(source, format), x_columns, y_columns, target, chunk_size
        )
    elif isinstance(source, Iterable):
        raw = source
    else:
        raise TypeError(
            "source must be a file path, a pyarrow dataset or an iterable of (x, y) chunks; got "
            f"{describe(source)}"
        )
    pending_x: list[np.ndarray] = []
    pending_y: list[np.ndarray] = []
    held = 0
    row = 0
    for item in raw:
        try:
            x, y = item
        except (TypeError, ValueError) as exc:
            raise TypeError(f"each chunk must be a pair (x, y); got {describe(item)}") from exc
        x = np.asarray(x, target)
        y = np.asarray(y, target)
        if len(x) != len(y):
            raise ValueError(
                f"x and y must have the same number of rows in every chunk; got {len(x)} and "
                f"{len(y)} in the chunk starting at row {row}"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"x and y must be finite; the chunk starting at row {row} has NaN/inf")
        row += len(x)
        pending_x.append(x)
        pending_y.append(y)
        held += len(x)
        while held >= chunk_size:
            x_all, y_all = np.concatenate(pending_x), np.concatenate(pending_y)
            yield x_all[:chunk_size], y_all[:chunk_size]
            pending_x, pending_y = [x_all[chunk_size:]], [y_all[chunk_size:]]
            held -= chunk_size
    if held:
        yield np.concatenate(pending_x), np.concatenate(pending_y)


def _count_rows(source: Any, file_format: str | None) -> int | None:
    """Rows in a Parquet source from its metadata (cheap); ``None`` when unknown."""
    try:
        dataset = _open_dataset(source, file_format)
        if dataset.format.default_extname == "parquet":
            return int(dataset.count_rows())
    except Exception:  # the count is for the progress bar only
        return None
    return None


def fit_stream(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    source: Any,
    *,
    batch_size: int,
    n_epochs: int = 1,
    step_size: float = 0.001,
    seed: int = 0,
    chunk_size: int = 65536,
    x_columns: str | Sequence[str] | None = None,
    y_columns: str | Sequence[str] | None = None,
    format: str | None = None,  # noqa: A002
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    patience: int = 1,
    on_divergence: str = "raise",
    dtype: Any = None,
    progress: bool | None = None,
) -> FitResult:
    """Minibatch SGD over data streamed from a file or iterator, in bounded memory.

    The data are read ``chunk_size`` rows at a time, shuffled within each chunk and cut into
    batches in the order defined in this module's docstring, so the result equals
    ``fit(theta, model, loss, x, y, n_steps, batch_size=batch_size, seed=seed,
    shuffle_window=chunk_size)`` on the same rows held in memory. Each chunk's steps run as
    one compiled call of the engine of :func:`~dl_workshop.fit` (same divergence checks and
    early stopping).

    Args:
        theta: starting parameters (any pytree the model accepts); not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        source: a Parquet or CSV file (or folder), a ``pyarrow.dataset.Dataset``, or an iterable
            of ``(x, y)`` NumPy chunks; for ``n_epochs > 1`` it must be re-iterable (a list, or
            an object whose ``__iter__`` starts over), not a one-shot iterator.
        batch_size: rows per step, >= 1.
        n_epochs: passes over the data, >= 1.
        step_size: learning rate of plain SGD, > 0 (ignored when ``optimizer`` is given).
        seed: shuffling seed, an integer in ``[0, 2**32)``.
        chunk_size: rows read and shuffled at a time (memory scales with it), >= 1.
        x_columns: input column(s) of a file (see :func:`iter_chunks`).
        y_columns: target column(s) of a file; required for files.
        format: ``"parquet"`` or ``"csv"``; ``None`` infers it from the suffix.
        optimizer: an optax optimizer instead of plain SGD.
        tol: stop when the relative improvement of the batch loss stays below ``tol`` for
            ``patience`` steps (noisy with small batches); ``None`` runs every epoch.
        patience: consecutive steps below ``tol`` needed to stop, >= 1.
        on_divergence: ``"raise"`` or ``"warn"``, as in :func:`~dl_workshop.fit`.
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default float.
        progress: a tqdm bar over the rows read: ``True``, ``False``, or ``None`` (shown when
            the run is estimated to take more than two seconds).

    Returns:
        A :class:`~dl_workshop.FitResult`; ``losses`` holds each step's batch loss.

    Raises:
        ValueError, TypeError: for invalid arguments or data, naming the argument.
        DivergenceError: when the loss diverges (with ``on_divergence="raise"``).

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=1000).astype(np.float32)
        >>> chunks = [(x[i:i + 250], 2 * x[i:i + 250] + 1) for i in range(0, 1000, 250)]
        >>> result = fit_stream({"w": 0.0, "b": 0.0}, linear_model, mseloss, chunks,
        ...                     batch_size=50, n_epochs=5, step_size=0.1, progress=False)
        >>> round(float(result.theta["w"]), 2), round(float(result.theta["b"]), 2)
        (2.0, 1.0)
    """
    arguments = dict(locals())
    target = float_dtype(dtype)
    if target == np.dtype(np.float64) and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return fit_stream(**arguments)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    n_epochs = check_int(n_epochs, "n_epochs", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    check_positive(step_size, "step_size")
    seed = _check_seed(seed)
    if progress not in (None, True, False):
        raise TypeError(f"progress must be True, False or None; got {describe(progress)}")
    is_file = isinstance(source, (str, os.PathLike)) or type(source).__module__.startswith(
        "pyarrow"
    )
    if not is_file and n_epochs > 1 and iter(source) is source:
        raise TypeError(
            "source is a one-shot iterator, which cannot be read again for n_epochs > 1; pass a "
            "list of chunks, a re-iterable object or a file"
        )
    total_rows = _count_rows(source, format) if is_file else None

    max_batches = (chunk_size + batch_size - 1) // batch_size
    objective = _StackedObjective(model, loss)
    state = last = None
    loss_parts: list[np.ndarray] = []
    status = "max_steps"
    t = 0
    bar = None
    started = time.perf_counter()
    rows_read = 0

    def keep_state(new_state: Any, *_: Any) -> None:
        nonlocal state
        state = new_state

    try:
        for epoch in range(n_epochs):
            left_x = left_y = None
            for window, (x, y) in enumerate(
                iter_chunks(
                    source,
                    x_columns=x_columns,
                    y_columns=y_columns,
                    chunk_size=chunk_size,
                    dtype=target,
                    format=format,
                )
            ):
                rows_read += len(x)
                order = shuffle_positions(
                    np.arange(len(x)), len(x), window_key(seed, epoch, window)
                )
                x, y = x[order], y[order]
                if left_x is not None:
                    x, y = np.concatenate([left_x, x]), np.concatenate([left_y, y])
                n_full = len(x) // batch_size
                used = n_full * batch_size
                left_x, left_y = x[used:], y[used:]
                if n_full:
                    xs = _padded_batches(x[:used], n_full, max_batches, batch_size)
                    ys = _padded_batches(y[:used], n_full, max_batches, batch_size)
                    del x, y
                    result = fit(
                        theta,
                        model,
                        loss,
                        None,
                        None,
                        t + n_full,
                        step_size,
                        optimizer=optimizer,
                        progress=False,
                        tol=tol,
                        patience=patience,
                        on_divergence=on_divergence,
                        dtype=target,
                        objective=objective,
                        data=(xs, ys, jnp.asarray(t, jnp.int32)),
                        callback=keep_state,
                        checkpoint_every=max_batches,
                        initial_state=None if state is None else (state, np.zeros(0), []),
                    )
                    loss_parts.append(np.asarray(result.losses, target))
                    t = result.n_steps
                    last = result
                    if result.status != "max_steps":
                        return _stream_result(result.theta, loss_parts, t, result.status, target)
                bar = _advance(bar, progress, rows_read, started, total_rows, n_epochs)
    except DivergenceError as exc:
        losses = np.concatenate([*loss_parts, np.asarray(exc.result.losses, target)])
        theta_good = exc.result.theta
        raise DivergenceError(
            str(exc),
            step=exc.step,
            suggested_step_size=exc.suggested_step_size,
            max_stable_step_size=exc.max_stable_step_size,
            result=FitResult(theta_good, losses, exc.result.n_steps, "diverged"),
        ) from None
    finally:
        if bar is not None:
            bar.close()
    if last is None:
        raise ValueError(
            f"the data have fewer rows than batch_size ({batch_size}); no step could be taken"
        )
    return _stream_result(last.theta, loss_parts, t, status, target)


def _stream_result(theta: Any, loss_parts: list[np.ndarray], t: int, status: str, dtype: Any):
    losses = np.concatenate(loss_parts) if loss_parts else np.zeros(0, dtype)
    return FitResult(theta, losses, t, status)


def _padded_batches(a: np.ndarray, n_full: int, max_batches: int, batch_size: int) -> np.ndarray:
    """``a`` as ``(max_batches, batch_size, ...)``, zero-padded so every window compiles once."""
    out = np.zeros((max_batches, batch_size, *a.shape[1:]), a.dtype)
    out[:n_full] = a.reshape(n_full, batch_size, *a.shape[1:])
    return out


def _advance(bar, progress, rows_read, started, total_rows, n_epochs):
    """Move the progress bar over rows; with ``progress=None`` open it for long runs only."""
    if bar is None and progress is not False:
        elapsed = time.perf_counter() - started
        total = total_rows * n_epochs if total_rows else None
        long_run = total is not None and elapsed / rows_read * (total - rows_read) > 2.0
        if progress or long_run:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="row", unit_scale=True, leave=False)
    if bar is not None:
        bar.update(rows_read - bar.n)
    return bar
