"""Minibatch SGD over data streamed from files and iterators, in bounded memory.

The rows are visited in the order defined in :mod:`dl_workshop.objectives.minibatch` (the same
order ``fit(..., batch_size=B, seed=s, shuffle_window=W)`` uses in memory), so a file streamed
with ``chunk_size=W`` gives the same result as the in-memory fit on the same rows.

Memory when streaming is bounded by the chunk: about ``chunk_size`` rows held three times
(the window, its shuffled copy, its batches) plus what pyarrow reads at once (one record batch
or Parquet row group), whatever the size of the file.

``fit_stream`` is a pipeline: validate the options once (``settings.takes_options``)
-> read windows (:func:`~dl_workshop.io.chunks.iter_chunks`) -> shuffle and stack each window's
batches -> solve each window's steps with the engine, carrying the loop state across windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from dl_workshop._precision import precision
from dl_workshop._validation import as_params, check_callable, check_int, check_model
from dl_workshop.engine.divergence import DivergenceError
from dl_workshop.engine.result import FitResult
from dl_workshop.fitting.choose import placed_problem
from dl_workshop.fitting.settings import STREAM, FitSettings, takes_options
from dl_workshop.fitting.solver import solve, warn_if_interrupted
from dl_workshop.io.chunks import count_rows, is_rereadable_source, iter_chunks
from dl_workshop.objectives.minibatch import (
    MinibatchObjective,
    StackedObjective,
    shuffle_positions,
    window_key,
    window_order,
)

__all__ = [
    "MinibatchObjective",
    "fit_stream",
    "iter_chunks",
    "shuffle_positions",
    "window_key",
]

#: The message of a one-shot iterator given for several epochs.
ONE_SHOT_SOURCE = (
    "source is a one-shot iterator, which cannot be read again for n_epochs > 1; pass a list "
    "of chunks, a re-iterable object or a file"
)


class _Stream(NamedTuple):
    """The validated options of a stream (besides the engine's settings)."""

    source: Any
    batch_size: int
    n_epochs: int
    chunk_size: int
    x_columns: Any
    y_columns: Any
    format: str | None

    @property
    def max_batches(self) -> int:
        return (self.chunk_size + self.batch_size - 1) // self.batch_size


class _Window(NamedTuple):
    """One window's full batches, stacked and zero-padded to ``max_batches``."""

    xs: np.ndarray
    ys: np.ndarray
    n_full: int
    rows_read: int


@takes_options(STREAM, positional=False)
def fit_stream(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    source: Any,
    *,
    batch_size: int,
    n_epochs: int = 1,
    chunk_size: int = 65536,
    x_columns: str | Sequence[str] | None = None,
    y_columns: str | Sequence[str] | None = None,
    format: str | None = None,  # noqa: A002
    settings: FitSettings,
) -> FitResult:
    """Minibatch SGD over data streamed from a file or iterator, in bounded memory.

    The data are read ``chunk_size`` rows at a time, shuffled within each chunk and cut into
    batches in the order defined in this module's docstring, so the result equals
    ``fit(theta, model, loss, x, y, n_steps, batch_size=batch_size, seed=seed,
    shuffle_window=chunk_size)`` on the same rows held in memory. Each chunk's steps run as
    one compiled call of the engine of :func:`~dl_workshop.fit` (same divergence checks and
    early stopping). It takes the options of ``fit`` that apply to a stream (``step_size``,
    ``optimizer``, ``progress``, ``tol``, ``patience``, ``on_divergence``, ``dtype``, ``seed``:
    see :data:`dl_workshop.fitting.settings.OPTIONS`); ``tol`` compares batch losses, noisy with
    small
    batches, and the progress bar counts rows.

    Args:
        theta: starting parameters (any pytree the model accepts); not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        source: a Parquet or CSV file (or folder), a ``pyarrow.dataset.Dataset``, Dask data (a
            pair ``(x, y)`` of Dask arrays, or a Dask DataFrame with ``y_columns``: one
            partition in memory at a time, computed where Dask runs), or an iterable of
            ``(x, y)`` NumPy chunks; for ``n_epochs > 1`` it must be re-iterable (a list, or an
            object whose ``__iter__`` starts over), not a one-shot iterator.
        batch_size: rows per step, >= 1.
        n_epochs: passes over the data, >= 1.
        chunk_size: rows read and shuffled at a time (memory scales with it), >= 1.
        x_columns: input column(s) of a file or Dask DataFrame (see :func:`iter_chunks`).
        y_columns: target column(s) of a file or Dask DataFrame; required for them.
        format: ``"parquet"`` or ``"csv"``; ``None`` infers it from the suffix.

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
    stream = _check_stream(source, batch_size, n_epochs, chunk_size, x_columns, y_columns, format)
    check_model(model)
    check_callable(loss, "loss")
    with precision(settings.dtype):
        params = as_params(theta, "theta", dtype=settings.dtype)
        return _solve_stream(settings, stream, params, StackedObjective(model, loss))


def _check_stream(source, batch_size, n_epochs, chunk_size, x_columns, y_columns, file_format):
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    n_epochs = check_int(n_epochs, "n_epochs", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    if n_epochs > 1 and not is_rereadable_source(source) and iter(source) is source:
        raise TypeError(ONE_SHOT_SOURCE)
    return _Stream(source, batch_size, n_epochs, chunk_size, x_columns, y_columns, file_format)


def _windows(stream: _Stream, seed: int, dtype: np.dtype) -> Iterator[_Window]:
    """Every epoch's windows, shuffled, with leftover rows carried into the next window."""
    rows_read = 0
    for epoch in range(stream.n_epochs):
        left_x = left_y = None
        chunks = iter_chunks(
            stream.source, x_columns=stream.x_columns, y_columns=stream.y_columns,
            chunk_size=stream.chunk_size, dtype=dtype, format=stream.format,
        )
        for window, (x, y) in enumerate(chunks):
            rows_read += len(x)
            order = window_order(len(x), seed, epoch, window)
            x, y = x[order], y[order]
            if left_x is not None:
                x, y = np.concatenate([left_x, x]), np.concatenate([left_y, y])
            n_full = len(x) // stream.batch_size
            used = n_full * stream.batch_size
            left_x, left_y = x[used:], y[used:]
            xs = _padded_batches(x[:used], n_full, stream.max_batches, stream.batch_size)
            ys = _padded_batches(y[:used], n_full, stream.max_batches, stream.batch_size)
            yield _Window(xs, ys, n_full, rows_read)


class _Carry:
    """The loop state carried from one window's solve to the next (the engine's callback)."""

    def __init__(self) -> None:
        self.state: Any = None

    def __call__(self, state: Any, *_: Any) -> None:
        self.state = state


def _solve_window(settings, stream, params, objective, window, t, carry):
    window_settings = settings._replace(
        n_steps=t + window.n_full, checkpoint_every=stream.max_batches, progress=False
    )
    data = (window.xs, window.ys, jnp.asarray(t, jnp.int32))
    problem = placed_problem(objective, data, objective, data)
    start = None if carry.state is None else (carry.state, np.zeros(0), [])
    return solve(window_settings, params, problem, callback=carry, start=start)


def _solve_stream(settings: FitSettings, stream: _Stream, params: Any, objective: Any):
    source = stream.source
    # The total only sizes the progress bar: never counted (a pass over the files) without one.
    counted = settings.progress is not False and is_rereadable_source(source)
    total_rows = count_rows(source, stream.format) if counted else None
    carry, loss_parts, last, t = _Carry(), [], None, 0
    bar, started = None, time.perf_counter()
    try:
        for window in _windows(stream, settings.seed, settings.dtype):
            if window.n_full:
                goal = t + window.n_full
                last = _solve_window(settings, stream, params, objective, window, t, carry)
                loss_parts.append(np.asarray(last.losses, settings.dtype))
                t = last.n_steps
                if last.status != "max_steps":
                    result = _stream_result(last.theta, loss_parts, t, last.status, settings.dtype)
                    return warn_if_interrupted(result, goal, stacklevel=4)
            bar = _advance(
                bar, settings.progress, window.rows_read, started, total_rows, stream.n_epochs
            )
    except DivergenceError as exc:
        raise _with_all_losses(exc, loss_parts) from None
    finally:
        if bar is not None:
            bar.close()
    if last is None:
        raise ValueError(
            f"the data have fewer rows than batch_size ({stream.batch_size}); no step could be "
            "taken"
        )
    return _stream_result(last.theta, loss_parts, t, "max_steps", settings.dtype)


def _with_all_losses(exc: DivergenceError, earlier: list[np.ndarray]) -> DivergenceError:
    """The window's DivergenceError with the losses of every window before it prepended."""
    dtype = exc.result.losses.dtype
    losses = np.concatenate([*earlier, np.asarray(exc.result.losses, dtype)])
    return DivergenceError(
        str(exc),
        step=exc.step,
        suggested_step_size=exc.suggested_step_size,
        max_stable_step_size=exc.max_stable_step_size,
        result=FitResult(exc.result.theta, losses, exc.result.n_steps, "diverged"),
    )


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
