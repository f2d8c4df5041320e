"""Reading ``(x, y)`` in fixed windows of rows from Parquet/CSV files, datasets, Dask data or
iterables.

Only one window (plus one record batch of a file, or one partition of Dask data) is in memory
at a time; streaming (:func:`~dl_workshop.fitting.streaming.fit_stream`) steps over the windows one
by
one. Dask is imported only when Dask data is given.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop._validation import check_int, check_same_length, describe, float_dtype

__all__ = ["iter_chunks"]


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


def _resolve_columns(
    names: list[str], x_columns: Any, y_columns: Any, what: str = "a file"
) -> tuple[list, list]:
    """The x and y column names among ``names`` (x: every other column when not given)."""
    y_names = _columns(y_columns, "y_columns")
    if y_names is None:
        raise ValueError(f"y_columns is required when reading {what}: name the target column(s)")
    x_names = _columns(x_columns, "x_columns")
    if x_names is None:
        x_names = [name for name in names if name not in y_names]
    missing = [c for c in x_names + y_names if c not in names]
    if missing:
        raise ValueError(f"columns {missing} are not in the data; its columns are {names}")
    return x_names, y_names


def _split(values: np.ndarray, n_x: int, x_columns: Any, y_columns: Any) -> tuple[Any, Any]:
    """Rows of ``[x | y]`` as ``(x, y)``, 1-D where a single column name was given."""
    x, y = values[:, :n_x], values[:, n_x:]
    return (
        x[:, 0] if isinstance(x_columns, str) else x,
        y[:, 0] if isinstance(y_columns, str) else y,
    )


def _dataset_chunks(
    dataset: Any, x_columns: Any, y_columns: Any, dtype: np.dtype, chunk_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    x_names, y_names = _resolve_columns(dataset.schema.names, x_columns, y_columns)
    batches = _record_batches(dataset, x_names + y_names, min(max(chunk_size, 1024), 1 << 17))
    for batch in batches:
        if batch.num_rows == 0:
            continue
        cols = [
            np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype)
            for i in range(batch.num_columns)
        ]
        yield _split(np.column_stack(cols), len(x_names), x_columns, y_columns)


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


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask collection (array, DataFrame, Series); never imports Dask."""
    if "dask" not in sys.modules:  # no Dask object can exist before Dask is imported
        return False
    import dask

    return dask.is_dask_collection(value)


def as_dask_array(value: Any, name: str) -> Any:
    """A Dask array of ``value`` (a Dask array, DataFrame or Series, or data in memory that is
    paired with Dask data), its rows in one column chunk.

    Raises ``TypeError`` for non-numeric data and ``ValueError`` for data neither 1-D nor 2-D,
    as ``fit`` does for data in memory.
    """
    import dask.array as da

    if isinstance(value, da.Array):
        array = value
    elif is_dask(value):
        array = value.to_dask_array()  # a DataFrame or Series: partitions of unknown lengths
    else:
        array = da.asarray(value)
    kind = np.dtype(array.dtype).kind
    if kind == "b":
        raise TypeError(f"{name} must be numeric, not boolean; got a Dask array of {array.dtype}")
    if kind not in "iuf":
        raise TypeError(f"{name} must be numeric (int or float); got dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {tuple(array.shape)}")
    if array.ndim == 2 and array.numblocks[1] > 1:
        array = array.rechunk({1: -1})  # part of the same graph: still one read of each block
    return array


def shared_arrays(*frames: Any) -> list[Any] | None:
    """Dask DataFrames and Series as column slices of one Dask array (2-D each), or ``None``
    unless all of ``frames`` are DataFrames or Series with as many partitions.

    Separate arrays of ``X = frame[features]`` and ``y = frame[target]`` would each compute the
    partitions they come from (a file read twice: Dask fuses each one's tasks with the read);
    slices of one array share them, so that every partition is read once.

    Example:
        >>> import dask.dataframe as dd, pandas as pd
        >>> frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "y": [3.0, 4.0]}), npartitions=1)
        >>> x, y = shared_arrays(frame[["a"]], frame["y"])
        >>> x.compute().tolist(), y.compute().tolist()
        ([[1.0], [2.0]], [[3.0], [4.0]])
    """
    import warnings

    import dask.dataframe as dd

    if not all(isinstance(f, (dd.DataFrame, dd.Series)) for f in frames):
        return None
    if len({f.npartitions for f in frames}) > 1:
        return None
    renamed = []
    for i, frame in enumerate(frames):
        if isinstance(frame, dd.Series):
            frame = frame.to_frame(name=f"_{i}_0")
        renamed.append(frame.rename(columns={c: f"_{i}_{j}" for j, c in enumerate(frame.columns)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown divisions: joined partition by partition
        z = dd.concat(renamed, axis=1, ignore_unknown_divisions=True).to_dask_array()
    widths = np.cumsum([0] + [len(f.columns) for f in renamed])
    return [z[:, a:b] for a, b in zip(widths[:-1], widths[1:], strict=True)]


def aligned_blocks(x: Any, *others: Any) -> list[tuple[Any, ...]]:
    """Dask arrays as a list of delayed ``(x_block, *other_blocks)`` with the same rows.

    The others (``y``; sample weights) are rechunked to ``x``'s row chunks when all are known;
    with unknown chunk sizes (from a DataFrame) the blocks pair up by position, and their
    lengths are checked on the workers.
    """
    known = not any(math.isnan(c) for a in (x, *others) for c in a.chunks[0])
    aligned = []
    for other in others:
        if known:
            check_same_length(x, other)
            if other.chunks[0] != x.chunks[0]:
                other = other.rechunk({0: x.chunks[0]})
        elif x.numblocks[0] != other.numblocks[0]:
            raise ValueError(
                "x and y of unknown lengths must have the same number of partitions; got "
                f"{x.numblocks[0]} and {other.numblocks[0]}"
            )
        aligned.append(other)
    # Unoptimized: each array's own optimization would fuse the tasks that x and y share (one
    # array sliced into both, or one DataFrame) into separate tasks, computing them twice.
    blocks = [a.to_delayed(optimize_graph=False).reshape(-1) for a in (x, *aligned)]
    return list(zip(*blocks, strict=True))


def is_dask_source(source: Any) -> bool:
    """Whether ``source`` is Dask data for :func:`iter_chunks`: a Dask DataFrame, or a pair
    ``(x, y)`` of which at least one is a Dask collection."""
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return any(is_dask(part) for part in source)
    return is_dask(source) and hasattr(source, "columns")


def _dask_pair_chunks(source: Any, dtype: np.dtype) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The partitions of Dask ``(x, y)``, computed one at a time (x's and y's together)."""
    import dask

    x, y = as_dask_array(source[0], "x"), as_dask_array(source[1], "y")
    for x_block, y_block in aligned_blocks(x, y):
        x_part, y_part = dask.compute(x_block, y_block)
        yield np.asarray(x_part, dtype), np.asarray(y_part, dtype)


def _dask_frame_chunks(
    frame: Any, x_columns: Any, y_columns: Any, dtype: np.dtype
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The partitions of a Dask DataFrame (only the columns used), computed one at a time."""
    names = list(frame.columns)
    x_names, y_names = _resolve_columns(names, x_columns, y_columns, "a Dask DataFrame")
    used = frame[x_names + y_names]
    for i in range(used.npartitions):
        values = used.get_partition(i).compute().to_numpy(dtype)
        if len(values):
            yield _split(values, len(x_names), x_columns, y_columns)


def _dask_rows(source: Any) -> int | None:
    """Rows of Dask data when its chunks say so (a pair of arrays of known shape), else None."""
    first = source[0] if isinstance(source, (tuple, list)) else source
    rows = getattr(first, "shape", (math.nan,))[0]
    return None if not isinstance(rows, int) else rows


def is_file_source(source: Any) -> bool:
    """Whether ``source`` is read as a file (a path or a pyarrow dataset), not as an iterable."""
    return isinstance(source, (str, os.PathLike)) or type(source).__module__.startswith("pyarrow")


def is_rereadable_source(source: Any) -> bool:
    """Whether :func:`iter_chunks` reads ``source`` itself, afresh on every call (files and
    Dask data), rather than iterating over it."""
    return is_file_source(source) or is_dask_source(source)


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
        source: a Parquet or CSV file (or folder of them), a ``pyarrow.dataset.Dataset``, a
            pair ``(x, y)`` of Dask arrays (or DataFrame and Series), a Dask DataFrame (with
            ``y_columns``; read one partition at a time), or an iterable of ``(x, y)`` chunks
            (NumPy arrays with the same number of rows).
        x_columns: input column(s) of a file or Dask DataFrame: a name gives ``x`` of shape
            ``(rows,)``, a list gives ``(rows, d)``; ``None`` means every column not in
            ``y_columns``.
        y_columns: target column(s) of a file or Dask DataFrame: a name gives ``y`` of shape
            ``(rows,)``, a list gives ``(rows, k)``. Required for files and DataFrames.
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
    # A generator, so that every error surfaces when the first window is read, as it always has.
    raw = _raw_chunks(source, x_columns, y_columns, chunk_size, target, format)
    yield from _windows_of_rows(raw, chunk_size, target)


def _raw_chunks(source, x_columns, y_columns, chunk_size, target, file_format) -> Iterable[Any]:
    """The chunks of ``source`` as they come (record batches, partitions or the user's)."""
    if is_file_source(source):
        return _dataset_chunks(
            _open_dataset(source, file_format), x_columns, y_columns, target, chunk_size
        )
    if is_dask_source(source):
        if isinstance(source, (tuple, list)):
            return _dask_pair_chunks(source, target)
        return _dask_frame_chunks(source, x_columns, y_columns, target)
    if is_dask(source):
        raise TypeError(
            "source as Dask data must be a pair (x, y) of Dask arrays or a Dask DataFrame "
            f"with y_columns; got {describe(source)}"
        )
    if isinstance(source, Iterable):
        return source
    raise TypeError(
        "source must be a file path, a pyarrow dataset or an iterable of (x, y) chunks; got "
        f"{describe(source)}"
    )


def _windows_of_rows(
    raw: Iterable[Any], chunk_size: int, target: np.dtype
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``raw``'s chunks checked and regrouped into windows of exactly ``chunk_size`` rows."""
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


def count_rows(source: Any, file_format: str | None) -> int | None:
    """Rows in a Parquet source from its metadata, or in Dask arrays from their chunks (cheap);
    ``None`` when unknown."""
    if is_dask_source(source):
        return _dask_rows(source)
    try:
        dataset = _open_dataset(source, file_format)
        if dataset.format.default_extname == "parquet":
            return int(dataset.count_rows())
    except Exception:  # the count is for the progress bar only
        return None
    return None
