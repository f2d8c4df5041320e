"""Reading ``(x, y)`` in fixed windows of rows from Parquet/CSV files, datasets or iterables.

Only one window (plus one record batch of a file) is in memory at a time; streaming
(:func:`~dl_workshop.streaming.fit_stream`) steps over the windows one by one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop._validation import check_int, describe, float_dtype

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


def is_file_source(source: Any) -> bool:
    """Whether ``source`` is read as a file (a path or a pyarrow dataset), not as an iterable."""
    return isinstance(source, (str, os.PathLike)) or type(source).__module__.startswith("pyarrow")


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
    if is_file_source(source):
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


def count_rows(source: Any, file_format: str | None) -> int | None:
    """Rows in a Parquet source from its metadata (cheap); ``None`` when unknown."""
    try:
        dataset = _open_dataset(source, file_format)
        if dataset.format.default_extname == "parquet":
            return int(dataset.count_rows())
    except Exception:  # the count is for the progress bar only
        return None
    return None
