"""Safe files for parameters, models and checkpoints: ``.npz`` arrays plus a JSON header.

Nothing here executes code on load: arrays are read with ``allow_pickle=False`` and the
metadata is plain JSON. Every file records the package version, the kind of object and the
shape and dtype of every array, and loading checks them, so a corrupted, truncated or
mismatched file fails with one clear message instead of garbage. Writes are atomic
(write to a temporary file in the same folder, then rename), so a crash mid-write leaves the
previous file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop import _version
from dl_workshop._validation import describe, numeric_numpy
from dl_workshop.model import LinearParams

__all__ = ["load_params", "save_params"]

#: Format version of the files written here; bumped when the layout changes.
FORMAT_VERSION = 1
_META_KEY = "__meta__"


class _CorruptFileError(ValueError):
    pass


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike); got {describe(path)}")
    return Path(path)


def _package_version() -> str:
    return _version.__version__


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, Any],
    *,
    kind: str,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write named arrays and JSON metadata to ``path`` atomically, in NumPy's ``.npz`` format.

    Args:
        path: destination file; its folder must exist. Written via a temporary file and
            ``os.replace``, so readers never see a half-written file.
        arrays: name -> array-like (numbers or NumPy/JAX arrays; no objects).
        kind: what the file holds (e.g. ``"params"``, ``"checkpoint"``); checked on load.
        metadata: JSON-serialisable extra information stored with the arrays.

    Returns:
        The path written.

    Example:
        >>> import tempfile, numpy as np
        >>> folder = tempfile.mkdtemp()
        >>> p = save_arrays(f"{folder}/a.npz", {"w": np.ones(3)}, kind="demo")
        >>> load_arrays(p, kind="demo")[0]["w"].shape
        (3,)
    """
    path = _as_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path must be a file, not a folder; got {str(path)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} for {str(path)!r} does not exist")
    host = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"array {name!r} must be numeric to be saved; got dtype {array.dtype}")
        host[name] = array
    header = {
        "format": FORMAT_VERSION,
        "package": "dl-workshop",
        "version": _package_version(),
        "kind": kind,
        "arrays": {
            name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in host.items()
        },
        "metadata": dict(metadata or {}),
    }
    meta = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **{_META_KEY: meta}, **host)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_arrays(
    path: str | os.PathLike[str], *, kind: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`, checking kind, shapes and dtypes.

    Args:
        path: the ``.npz`` file.
        kind: the kind expected (``"params"``, ``"checkpoint"``, ...).

    Returns:
        ``(arrays, header)``: name -> NumPy array, and the JSON header (with ``"version"`` and
        ``"metadata"``).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not one of ours, is corrupted or truncated, holds another
            kind of object, or an array's shape or dtype differs from the header.

    Example:
        >>> import tempfile, numpy as np
        >>> p = save_arrays(f"{tempfile.mkdtemp()}/b.npz", {"b": np.zeros(2)}, kind="demo")
        >>> header = load_arrays(p, kind="demo")[1]
        >>> header["kind"]
        'demo'
    """
    path = _as_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path must be a file, not a folder; got {str(path)!r}")
    if not path.is_file():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META_KEY not in archive.files:
                raise _CorruptFileError("it has no dl-workshop header")
            header = json.loads(archive[_META_KEY].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != _META_KEY}
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        UnicodeDecodeError,
        json.JSONDecodeError,
    ) as exc:
        reason = (
            str(exc)
            if isinstance(exc, _CorruptFileError)
            else (f"it is corrupted or truncated ({type(exc).__name__}: {exc})")
        )
        raise ValueError(f"cannot read {str(path)!r} as a dl-workshop file: {reason}") from exc
    if not isinstance(header, dict) or header.get("package") != "dl-workshop":
        raise ValueError(f"cannot read {str(path)!r}: it is not a dl-workshop file")
    if header.get("format", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written by a newer dl-workshop ({header.get('version')}, format "
            f"{header.get('format')}); this is {_package_version()}: upgrade to read it"
        )
    if header.get("kind") != kind:
        raise ValueError(f"{str(path)!r} holds a {header.get('kind')!r}, not a {kind!r}")
    expected = header.get("arrays", {})
    if set(expected) != set(arrays):
        raise ValueError(
            f"{str(path)!r} is corrupted: it lists arrays {sorted(expected)} but holds "
            f"{sorted(arrays)}"
        )
    for name, spec in expected.items():
        array = arrays[name]
        if list(array.shape) != list(spec["shape"]) or str(array.dtype) != spec["dtype"]:
            raise ValueError(
                f"{str(path)!r} is corrupted: array {name!r} has shape {array.shape} and dtype "
                f"{array.dtype}, but its header says {tuple(spec['shape'])} and {spec['dtype']}"
            )
    return arrays, header


def describe_tree(theta: Any, leaves: list[Any]) -> Any:
    """A JSON description of a params container (how to rebuild it without pickle); appends
    the leaves to ``leaves`` in the order the description lists them."""
    if isinstance(theta, Mapping):
        keys = list(theta)
        return {
            "type": "dict",
            "keys": keys,
            "children": [describe_tree(theta[k], leaves) for k in keys],
        }
    if isinstance(theta, tuple) and hasattr(theta, "_fields"):
        children = [describe_tree(v, leaves) for v in theta]
        if type(theta) is LinearParams:
            return {"type": "LinearParams", "children": children}
        return {"type": "dict", "keys": list(theta._fields), "children": children}
    if isinstance(theta, (tuple, list)):
        return {
            "type": type(theta).__name__,
            "children": [describe_tree(v, leaves) for v in theta],
        }
    leaves.append(theta)
    return {"type": "leaf"}


def rebuild_tree(spec: Any, leaves: list[np.ndarray]) -> Any:
    kind = spec["type"]
    if kind == "leaf":
        return leaves.pop(0)
    children = [rebuild_tree(child, leaves) for child in spec["children"]]
    if kind == "dict":
        return dict(zip(spec["keys"], children, strict=True))
    if kind == "LinearParams":
        return LinearParams(*children)
    return tuple(children) if kind == "tuple" else list(children)


def save_params(path: str | os.PathLike[str], theta: Any) -> Path:
    """Save a parameter pytree (dict, tuple, list, :class:`~dl_workshop.LinearParams`) safely.

    Args:
        path: destination ``.npz`` file (written atomically).
        theta: the parameters; leaves are numbers or arrays of any shape.

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> p = save_params(f"{tempfile.mkdtemp()}/theta.npz", {"w": 2.0, "b": 20.0})
        >>> {k: float(v) for k, v in load_params(p).items()}
        {'w': 2.0, 'b': 20.0}
    """
    if theta is None:
        raise TypeError("theta must be parameters (e.g. a dict {'w': ..., 'b': ...}); got None")
    leaves: list[Any] = []
    tree = describe_tree(theta, leaves)
    if not leaves:
        raise ValueError(f"theta must contain at least one parameter array; got {describe(theta)}")
    for i, leaf in enumerate(leaves):
        numeric_numpy(leaf, f"theta's parameter {i + 1} of {len(leaves)}")
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    return save_arrays(path, arrays, kind="params", metadata={"tree": tree})


def load_params(path: str | os.PathLike[str]) -> Any:
    """Load parameters saved by :func:`save_params`, in the container they were saved from.

    Named tuples other than :class:`~dl_workshop.LinearParams` come back as dicts (rebuilding an
    arbitrary class would mean trusting the file to name code).

    Args:
        path: a file written by :func:`save_params`.

    Returns:
        The parameters, with NumPy arrays as leaves.

    Raises:
        FileNotFoundError, ValueError: see :func:`load_arrays`.

    Example:
        >>> import tempfile
        >>> p = save_params(f"{tempfile.mkdtemp()}/t.npz", (1.0, 2.0))
        >>> type(load_params(p)).__name__
        'tuple'
    """
    arrays, header = load_arrays(path, kind="params")
    leaves = [arrays[f"leaf_{i}"] for i in range(len(arrays))]
    try:
        return rebuild_tree(header["metadata"]["tree"], leaves)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is corrupted: its parameter layout is invalid") from exc
