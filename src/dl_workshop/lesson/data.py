"""The lesson's data: 100 points on [-5, 5] and noisy targets from a line of your choice."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop._validation import as_data, check_positive, describe, numeric_numpy
from dl_workshop.lesson.model import linear_model
from dl_workshop.lesson.sampling import generator

__all__ = ["b_true", "make_y", "read_dask_table", "read_table", "w_true"]

#: The lesson's inputs: 100 evenly spaced points from -5 to 5 (read-only, shape ``(100,)``).
x: np.ndarray = np.linspace(-5.0, 5.0, 100)
x.flags.writeable = False

#: The lesson's true slope.
w_true: float = 2.0

#: The lesson's true intercept.
b_true: float = 20.0

#: A feature column with a value that is not a number, and the first such value.
NOT_NUMERIC_FEATURE = (
    "column {name!r} of {source!r} is not numeric: data row {row} holds {value!r}; select "
    "numeric columns with --features or encode it first"
)
#: The target column with a value that is not a number, and the first such value.
NOT_NUMERIC_TARGET = (
    "the target column {name!r} of {source!r} must be numeric: data row {row} holds {value!r}; "
    "fix or drop that row"
)
#: A non-numeric column whose values are read lazily (Dask): its type is all that is known.
NOT_NUMERIC_DTYPE = (
    "{what} {name!r} of {source!r} is not numeric (dtype {dtype}); {advice}"
)
_ADVICE = {
    "feature": "select numeric columns with --features or encode it first",
    "target": "the target must be numeric",
}


def make_y(
    x: Any,
    w: Any = w_true,
    b: Any = b_true,
    *,
    noise: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """Targets from the line (or hyperplane) ``w, b`` plus Gaussian noise: ``x·w + b + noise·ε``.

    Unlike the lesson's original helper, the ``w`` and ``b`` you pass are the ones used.

    Args:
        x: inputs, shape ``(n,)`` with scalar ``w``, or ``(n, d_in)`` with ``w`` of shape
            ``(d_in,)`` or ``(d_in, d_out)``.
        w: the true weights (default the lesson's ``w_true = 2``).
        b: the true bias (default the lesson's ``b_true = 20``).
        noise: standard deviation of the noise, ``>= 0`` (``0`` gives the exact line).
        seed: seed of the noise; the same seed gives the same ``y``. Without it the noise
            comes from NumPy's global generator, so ``np.random.seed(...)`` makes it repeatable.

    Returns:
        A NumPy float array of shape ``(n,)`` or ``(n, d_out)``.

    Example:
        >>> from dl_workshop.lesson.data import x
        >>> make_y(x, 3.0, -1.0, noise=0.0)[:2]
        array([-16.        , -15.69696903])
    """
    noise = check_positive(noise, "noise", allow_zero=True)
    # Validated (and the generator chosen) before the work, so a bad seed fails first.
    rng = generator(seed)
    inputs = as_data(x, "x")
    for name, value in (("w", w), ("b", b)):
        if not np.all(np.isfinite(numeric_numpy(value, name))):
            raise ValueError(f"{name} must be finite; got {describe(value)}")
    clean = np.asarray(linear_model({"w": w, "b": b}, inputs), dtype=np.float64)
    return clean + noise * rng.normal(size=clean.shape)


#: File suffixes :func:`read_table` understands, and the reader used for each.
TABLE_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def read_table(
    path: str | os.PathLike[str],
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    labels: bool = False,
) -> tuple[Any, Any]:
    """Read a CSV, TSV or Parquet file into numeric features and (optionally) a target column.

    Args:
        path: the file; its suffix picks the format (``.csv``/``.txt``, ``.tsv``,
            ``.parquet``/``.pq``).
        target: name of the target column, or ``None`` to read features only.
        features: names of the feature columns, in order; ``None`` takes every column except
            ``target``.
        labels: the target holds class labels of any kind (strings too), returned as read.

    Returns:
        ``(X, y)``: a pandas DataFrame of shape ``(n, d)`` with the feature columns as float64,
        and the target as a float64 Series of length ``n`` (``None`` without ``target``; as read
        with ``labels=True``).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file cannot be read in its format, has no rows, lacks the target or
            a feature column, or a selected column is non-numeric or has missing values.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = path.write_text("x1,x2,y" + chr(10) + "1,2,3" + chr(10) + "4,5,6" + chr(10))
        >>> X, y = read_table(path, target="y")
        >>> list(X.columns), y.tolist()
        (['x1', 'x2'], [3.0, 6.0])
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{str(path)!r} is a folder, not a data file; pass one CSV or Parquet file in it"
        )
    if not path.is_file():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(
            f"cannot read {str(path)!r}: unsupported file type {path.suffix!r}; use one of "
            f"{', '.join(sorted(TABLE_FORMATS))}"
        )
    frame = _read_frame(pd, path, kind, str(path), empty="the file is empty")
    frame.columns = [str(column) for column in frame.columns]
    features = _chosen_features(list(frame.columns), target, features, str(path))
    if len(frame) == 0:
        raise ValueError(f"{str(path)!r} has no rows of data")
    selected = [*features, *([target] if target is not None else [])]
    for name in selected:
        column = frame[name]
        number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if not number and not (labels and name == target):
            raise ValueError(_not_numeric(pd, column, name, str(path), name == target))
        n_missing = int(column.isna().sum())
        if n_missing:
            raise ValueError(
                f"column {name!r} of {str(path)!r} has {n_missing} missing value(s); fill or "
                "drop them first"
            )
    inputs = frame[features].astype(np.float64)
    targets = None if target is None else frame[target]
    if targets is not None and not labels:
        targets = targets.astype(np.float64)
    return inputs, targets


def _not_numeric(pd: Any, column: Any, name: str, source: str, is_target: bool) -> str:
    """The message for a column that is not numeric, naming its first value that is not a
    number and that value's data row (1 = the first row after the header)."""
    if pd.api.types.is_bool_dtype(column):
        bad = column.notna().to_numpy()
    else:
        bad = (pd.to_numeric(column, errors="coerce").isna() & column.notna()).to_numpy()
    if not bad.any():  # e.g. a column of mixed types whose values all read as numbers
        what, advice = ("target column", _ADVICE["target"]) if is_target else (
            "column", _ADVICE["feature"])
        return NOT_NUMERIC_DTYPE.format(
            what=what, name=name, source=source, dtype=column.dtype, advice=advice
        )
    position = int(np.flatnonzero(bad)[0])
    template = NOT_NUMERIC_TARGET if is_target else NOT_NUMERIC_FEATURE
    value = column.iloc[position]
    value = value.item() if isinstance(value, np.generic) else value  # True, not np.True_
    return template.format(name=name, source=source, row=position + 1, value=value)


def _chosen_features(
    columns: list[str], target: str | None, features: Sequence[str] | None, source: str
) -> list[str]:
    """The feature columns of a table with ``columns`` (all but ``target`` by default)."""
    if target is not None and target not in columns:
        raise ValueError(f"target column {target!r} is not in {source!r}; columns: {columns}")
    if features is None:
        features = [column for column in columns if column != target]
    else:
        features = [str(name) for name in features]
        missing = [name for name in features if name not in columns]
        if missing:
            raise ValueError(f"feature column(s) {missing} not in {source!r}; columns: {columns}")
        if target is not None and target in features:
            raise ValueError(f"target column {target!r} cannot also be a feature")
    if not features:
        raise ValueError(f"{source!r} has no feature columns besides the target {target!r}")
    return features


def _dask_sources(pattern: str) -> tuple[Any, str]:
    """``(what Dask reads, format)`` of a glob pattern, a folder of Parquet files or a URL."""
    path = Path(pattern)
    if "://" not in pattern and path.is_dir():
        return pattern, "parquet"
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(
            f"cannot read {pattern!r}: unsupported file type {path.suffix!r}; use one of "
            f"{', '.join(sorted(TABLE_FORMATS))} (or a folder of Parquet files)"
        )
    if "://" in pattern:  # remote storage: Dask (fsspec) expands the pattern itself
        return pattern, kind
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no files match {pattern!r}")
    return files, kind


def read_dask_table(
    pattern: str | os.PathLike[str],
    *,
    target: str,
    features: Sequence[str] | None = None,
) -> tuple[Any, Any]:
    """Read CSV, TSV or Parquet files lazily with Dask: numeric features and a target column.

    Nothing is read but the files' metadata (Parquet) or a sample of the first file (CSV, to
    infer the columns' types); the rows are read where the Dask scheduler runs the tasks.
    Missing values are found then, by the fit (as non-finite values).

    Args:
        pattern: a glob pattern of files (``"data/*.parquet"``), one file, a folder of Parquet
            files, or a URL that Dask reads (``s3://...``); the suffix picks the format.
        target: name of the target column.
        features: names of the feature columns, in order; ``None`` takes every column except
            ``target``.

    Returns:
        ``(X, y)``: a Dask DataFrame of the feature columns as float64 and the target as a
        float64 Dask Series.

    Raises:
        FileNotFoundError: if no file matches ``pattern``.
        ValueError: if the files cannot be read in their format, lack the target or a feature
            column, or a selected column is not numeric.
        ImportError: if Dask's DataFrame support is not installed.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(2):
        ...     _ = (folder / f"part{i}.csv").write_text("a,y" + chr(10) + f"{i},{2 * i}" + chr(10))
        >>> X, y = read_dask_table(str(folder / "*.csv"), target="y")
        >>> list(X.columns), y.compute().tolist()
        (['a'], [0.0, 2.0])
    """
    import dask.dataframe as dd
    import pandas as pd

    text = os.fspath(pattern)
    sources, kind = _dask_sources(text)
    frame = _read_frame(dd, sources, kind, text, empty="a file is empty")
    frame = frame.rename(columns={column: str(column) for column in frame.columns})
    features = _chosen_features(list(frame.columns), target, features, text)
    for name in [*features, target]:
        dtype = frame.dtypes[name]
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
            kind = "target" if name == target else "feature"
            raise ValueError(NOT_NUMERIC_DTYPE.format(
                what="target column" if kind == "target" else "column", name=name, source=text,
                dtype=dtype, advice=_ADVICE[kind],
            ))
    return frame[features].astype(np.float64), frame[target].astype(np.float64)


def _read_frame(library: Any, source: Any, kind: str, label: str, *, empty: str) -> Any:
    """``library.read_parquet`` or ``read_csv`` of ``source`` (``library``: pandas or
    dask.dataframe), with every reading error as one ``ValueError`` naming ``label``."""
    import pandas as pd

    try:
        if kind == "parquet":
            return library.read_parquet(source)
        return library.read_csv(source, sep="\t" if kind == "tsv" else ",")
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"cannot read {label!r}: {empty}") from exc
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read {label!r} as {kind}: {first}") from exc
