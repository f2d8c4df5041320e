"""Safe files for parameters, models and checkpoints: ``.npz`` arrays plus a JSON header.

Nothing here executes code on load, and a hostile file costs no more than its own size: the
JSON header is read (at most :data:`MAX_HEADER_BYTES`, nested at most :data:`MAX_DEPTH` deep)
and checked first; then each array member's own ``.npy`` header is checked against it (name,
shape, dtype: plain numbers only, never objects) *before* any of its data is read, and exactly
the bytes the header declares are read. Members are stored uncompressed (as ``numpy.savez``
writes them), so a file cannot declare more data than it holds: a compressed member (a zip
bomb), a member of another size than declared, an array the header does not list, a member
name such as ``../x`` and any malformed header give one :class:`ValueError` naming the file
and what is wrong. Writes are atomic (a temporary file in the same folder, then rename: a crash
mid-write leaves the previous file intact) and honour the user's umask, as ``numpy.save`` does.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop import _version
from dl_workshop._validation import describe, numeric_numpy
from dl_workshop.lesson.model import LinearParams

__all__ = ["load_params", "save_params"]

#: Format version of the files written here; bumped when the layout changes.
FORMAT_VERSION = 1
_META_KEY = "__meta__"

#: The largest JSON header read (bytes).
MAX_HEADER_BYTES = 16 << 20

#: The deepest nesting of lists and objects a header may have.
MAX_DEPTH = 64

#: The most arrays a file may hold.
MAX_ARRAYS = 10_000

#: What an array's name may be (it is also its member's name, ``<name>.npy``).
ARRAY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")

#: The start of every refusal: the file, then what is wrong with it.
NOT_READABLE_MESSAGE = "cannot read {path!r} as a dl-workshop file: {reason}"

_READ_BLOCK = 1 << 20


class _CorruptFileError(ValueError):
    pass


class _MismatchError(ValueError):
    pass


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike); got {describe(path)}")
    return Path(path)


def _package_version() -> str:
    return _version.__version__


def _write_atomically(path: Path, write: Any) -> None:
    """``write(handle)`` into a new file beside ``path`` (mode 0666 less the umask, as
    ``open`` gives), flushed to disk, then renamed over ``path``."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 64 random bits taken
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
            ``os.replace``, so readers never see a half-written file; the file's mode is 0666
            less the umask (0644 under umask 022), as ``numpy.save`` gives.
        arrays: name -> array-like (numbers or NumPy/JAX arrays; no objects); names are
            letters, digits and ``_``.
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
        if not isinstance(name, str) or not ARRAY_NAME.match(name):
            raise ValueError(f"array names must be letters, digits and _; got {name!r}")
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
    if meta.size > MAX_HEADER_BYTES:
        raise ValueError(f"metadata must fit in {MAX_HEADER_BYTES} bytes; got {meta.size}")
    _write_atomically(path, lambda handle: np.savez(handle, **{_META_KEY: meta}, **host))
    return path


# ---------------------------------------------------------------------------------------------
# Reading: the header first, each member checked before its data is read


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Array name -> member, refusing anything but uncompressed ``<name>.npy`` members."""
    infos = archive.infolist()
    if len(infos) > MAX_ARRAYS:
        raise _CorruptFileError(f"it holds {len(infos)} members, more than {MAX_ARRAYS}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        if name != _META_KEY and (not info.filename.endswith(".npy") or not ARRAY_NAME.match(name)):
            raise _CorruptFileError(f"it holds a member named {info.filename[:100]!r}")
        if name in members:
            raise _CorruptFileError(f"it holds member {info.filename!r} twice")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # 0x1: encrypted
            raise _CorruptFileError(
                f"member {info.filename!r} is compressed or encrypted (dl-workshop files are not)"
            )
        members[name] = info
    return members


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, spec: tuple | None,
    file_size: int,
) -> np.ndarray:
    """The array in ``info``, read only once its ``.npy`` header matches ``spec`` (its
    ``(shape, dtype)`` as the JSON header declares them; ``None``: the JSON header itself, bytes
    of at most :data:`MAX_HEADER_BYTES`), and exactly as many bytes as declared."""
    if info.file_size > file_size:
        raise _CorruptFileError(
            f"{name} claims {info.file_size} bytes, but the file holds {file_size}"
        )
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(member)
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
            raise _CorruptFileError(f"{name} has dtype {dtype}, not plain numbers")
        if spec is None:
            if str(dtype) != "uint8" or len(shape) != 1 or shape[0] > MAX_HEADER_BYTES:
                raise _CorruptFileError(f"its header is not text of at most {MAX_HEADER_BYTES} "
                                        "bytes")
        elif tuple(shape) != spec[0] or str(dtype) != spec[1]:
            raise _MismatchError(
                f"{name} has shape {tuple(shape)} and dtype {dtype}, but its header says "
                f"{spec[0]} and {spec[1]}"
            )
        size = math.prod(shape) * dtype.itemsize
        if member.tell() + size != info.file_size:
            raise _CorruptFileError(
                f"{name} holds {info.file_size - member.tell()} bytes of data, but its header "
                f"declares {size}"
            )
        buffer = bytearray(size)
        view, done = memoryview(buffer), 0
        while done < size:
            block = member.read(min(_READ_BLOCK, size - done))
            if not block:
                raise _CorruptFileError(f"{name} is truncated")
            view[done : done + len(block)] = block
            done += len(block)
        if member.read(1):  # also checks the member's CRC
            raise _CorruptFileError(f"{name} holds more data than its header declares")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in
                             (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse_header(raw: np.ndarray) -> dict[str, Any]:
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError as exc:
        raise _CorruptFileError("its header is nested too deeply") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _CorruptFileError(f"its header is not valid JSON ({exc})") from exc
    if _depth(header) > MAX_DEPTH:
        raise _CorruptFileError(f"its header is nested more than {MAX_DEPTH} deep")
    if not isinstance(header, dict) or header.get("package") != "dl-workshop":
        raise _CorruptFileError("it is not a dl-workshop file")
    return header


def _check_header(path: Path, header: dict[str, Any], kind: str) -> dict[str, tuple]:
    """Check the header's format, kind, version and metadata; its arrays' (shape, dtype)."""
    version = header.get("format")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _CorruptFileError(f'its "format" must be a whole number >= 1; got {version!r}')
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was written by a newer dl-workshop ({header.get('version')}, format "
            f"{version}); this is {_package_version()}: upgrade to read it"
        )
    if header.get("kind") != kind:
        raise ValueError(f"{str(path)!r} holds a {header.get('kind')!r}, not a {kind!r}")
    for key, expected in (("version", str), ("metadata", dict), ("arrays", dict)):
        if not isinstance(header.get(key), expected):
            raise _CorruptFileError(f'its "{key}" must be a {expected.__name__}')
    specs = {}
    for name, spec in header["arrays"].items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        dtype = _plain_dtype(spec.get("dtype") if isinstance(spec, dict) else None)
        if (
            not ARRAY_NAME.match(name)
            or not isinstance(shape, list)
            or len(shape) > 32
            or not all(type(n) is int and n >= 0 for n in shape)
            or dtype is None
        ):
            raise _CorruptFileError(f"its entry for array {name[:100]!r} is malformed")
        specs[name] = (tuple(shape), str(dtype), math.prod(shape) * dtype.itemsize)
    return specs


def _plain_dtype(text: Any) -> np.dtype | None:
    """The dtype ``text`` names when it is one of plain numbers, else ``None``."""
    if not isinstance(text, str) or len(text) > 32:
        return None
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError, SyntaxError):
        return None
    plain = dtype.kind in "biuf" and not (dtype.hasobject or dtype.fields or dtype.subdtype)
    return dtype if plain and str(dtype) == text else None


def _read_archive(path: Path, kind: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    file_size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        members = _members(archive)
        if _META_KEY not in members:
            raise _CorruptFileError("it has no dl-workshop header")
        raw = _read_member(archive, members[_META_KEY], "its header", None, file_size)
        header = _parse_header(raw)
        specs = _check_header(path, header, kind)
        held = sorted(set(members) - {_META_KEY})
        if sorted(specs) != held:
            raise ValueError(
                f"{str(path)!r} is corrupted: it lists arrays {sorted(specs)} but holds {held}"
            )
        declared = sum(spec[2] for spec in specs.values())
        if declared > file_size:
            raise _CorruptFileError(
                f"its header declares {declared} bytes of arrays, but the file holds {file_size}"
            )
        arrays = {
            name: _read_member(archive, members[name], f"array {name!r}", specs[name][:2],
                               file_size)
            for name in specs
        }
    return arrays, header


def load_arrays(
    path: str | os.PathLike[str], *, kind: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`, checking kind, shapes and dtypes.

    The JSON header is read and checked before any array, and each array's ``.npy`` header
    before its data; no more is read than the header declares (see the module's text).

    Args:
        path: the ``.npz`` file.
        kind: the kind expected (``"params"``, ``"checkpoint"``, ...).

    Returns:
        ``(arrays, header)``: name -> NumPy array, and the JSON header (with ``"version"`` and
        ``"metadata"``).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not one of ours, is corrupted, truncated or malformed, holds
            another kind of object, or an array's shape or dtype differs from the header.

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
        return _read_archive(path, kind)
    except _CorruptFileError as exc:
        raise ValueError(NOT_READABLE_MESSAGE.format(path=str(path), reason=exc)) from exc
    except _MismatchError as exc:
        raise ValueError(f"{str(path)!r} is corrupted: {exc}") from exc
    except ValueError as exc:
        if str(exc).startswith(repr(str(path))):
            raise  # our own message, naming the file
        reason = f"it is corrupted or truncated (ValueError: {exc})"
        raise ValueError(NOT_READABLE_MESSAGE.format(path=str(path), reason=reason)) from exc
    except (
        zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, KeyError, TypeError,
        SyntaxError, OverflowError, NotImplementedError, MemoryError, RecursionError, RuntimeError,
    ) as exc:
        reason = f"it is corrupted or truncated ({type(exc).__name__}: {exc})"
        raise ValueError(NOT_READABLE_MESSAGE.format(path=str(path), reason=reason)) from exc


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


#: The containers a params description may name.
TREE_TYPES = ("leaf", "dict", "LinearParams", "tuple", "list")


def rebuild_tree(spec: Any, leaves: list[np.ndarray]) -> Any:
    """The container :func:`describe_tree` described, with ``leaves`` (consumed from the
    front) as its leaves; ``ValueError`` for a description that is not one of its."""
    if not isinstance(spec, dict) or spec.get("type") not in TREE_TYPES:
        raise ValueError("a container description is malformed")
    kind = spec["type"]
    if kind == "leaf":
        return leaves.pop(0)
    if not isinstance(spec.get("children"), list):
        raise ValueError("a container description has no list of children")
    children = [rebuild_tree(child, leaves) for child in spec["children"]]
    if kind == "dict":
        if not isinstance(spec.get("keys"), list):
            raise ValueError("a dict description has no list of keys")
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
        FileNotFoundError, ValueError: see :func:`load_arrays`; also ``ValueError`` for arrays
            other than the layout's, a parameter that is not finite, or a malformed layout.

    Example:
        >>> import tempfile
        >>> p = save_params(f"{tempfile.mkdtemp()}/t.npz", (1.0, 2.0))
        >>> type(load_params(p)).__name__
        'tuple'
    """
    arrays, header = load_arrays(path, kind="params")
    names = [f"leaf_{i}" for i in range(len(arrays))]
    if sorted(arrays) != sorted(names):
        raise ValueError(
            f"{str(path)!r} is corrupted: its arrays must be {names}; got {sorted(arrays)}"
        )
    for name in names:
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{str(path)!r} is corrupted: parameter {name!r} is not finite")
    leaves = [arrays[name] for name in names]
    try:
        theta = rebuild_tree(header["metadata"]["tree"], leaves)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is corrupted: its parameter layout is invalid") from exc
    if leaves:
        raise ValueError(f"{str(path)!r} is corrupted: its layout leaves arrays unused")
    return theta
