"""Compiled programs kept whole across processes: a second process neither traces nor compiles.

JAX's persistent compilation cache (:mod:`dl_workshop.compilation.cache`) saves the XLA
compilation, but a new process still traces the Python step function and lowers it to find the
cache entry: for the lesson's loop about 0.05 s, twice the whole NumPy hand loop. Where every
static part of a call is the library's own code (a module-level function or a NamedTuple of
them, an optimizer the library built and named with :func:`register_stable_name`), the call has
a name that means the same program in every process, and :func:`cached_call` keeps the compiled
executable itself (``jax.experimental.serialize_executable``) in
``<cache folder>/executables``: loading it takes about 10 ms.

A key covers the call's name and static arguments, the shapes, dtypes and tree structure of its
arguments, the versions of Python, JAX, optax and NumPy, the library's own source files (path,
size and modification time, so an edited checkout never runs stale code), the JAX options that
change tracing, the XLA flags and the device. Calls with a user's function in them have no such
name and go through ``jax.jit`` as before. The folder is the library's compilation cache
folder (like JAX's cache, it holds code this user's processes run): it is used only when it,
and its ``executables`` folder, are owned by the user and writable by no one else
(:func:`~dl_workshop.compilation.cache.usable_folder`), an entry only when its file is too; an
entry is read with an unpickler that builds nothing but tree structures and the NamedTuples of
the library and optax. ``DL_WORKSHOP_NO_COMPILE_CACHE=1`` (or the command line's
``--no-compile-cache``) turns both caches off. Anything that fails here (an unreadable entry,
an entry written for another key, tree, shape or dtype, a program that cannot be serialized)
falls back to the plain call: the cache only saves time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import io
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.monitoring

from dl_workshop._precision import x64_enabled
from dl_workshop.compilation import without
from dl_workshop.compilation.cache import (
    cache_enabled,
    cache_folder,
    private_problem,
    usable_folder,
)

#: At most this many executables are kept in the folder (the least recently written go first).
MAX_FILES = 256

#: At most this many executables are kept in memory (all are dropped when one more comes).
MAX_IN_MEMORY = 32

#: The JAX options whose values change what a traced function computes.
TRACING_OPTIONS = (
    "jax_default_matmul_precision",
    "jax_numpy_rank_promotion",
    "jax_numpy_dtype_promotion",
    "jax_default_prng_impl",
)

#: JAX options under which calls go through ``jax.jit`` as they are, never the cache.
DEBUG_OPTIONS = ("jax_disable_jit", "jax_debug_nans", "jax_debug_infs")

_names: dict[int, tuple[Any, str]] = {}
_in_memory: dict[str, Any] = {}
_PACKAGE = __name__.split(".")[0]


def register_stable_name(obj: Any, name: str) -> Any:
    """Name ``obj`` (e.g. an optax optimizer the library built) for :func:`stable_name`.

    ``name`` must determine the object's behaviour in every process (e.g. the arguments it was
    built from). The object is kept alive with its name; register only objects kept anyway
    (e.g. the cached results of a builder).

    Example:
        >>> import optax
        >>> opt = register_stable_name(optax.sgd(0.1), "optax.sgd(0.1)")
        >>> stable_name(opt)
        "named('optax.sgd(0.1)')"
    """
    _names[id(obj)] = (obj, name)
    return obj


def _module_level(obj: Any) -> str | None:
    """``module.qualname`` when that is where ``obj`` lives in this package, else ``None``."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    if module.split(".")[0] != _PACKAGE or module not in sys.modules:
        return None
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}.{qualname}" if found is obj else None


def stable_name(obj: Any) -> str | None:
    """A text that names ``obj`` identically in every process, or ``None`` when there is none.

    Numbers, strings and ``None`` name themselves; the package's module-level functions and
    classes by where they live; NamedTuples of the package by their class and fields; objects
    registered with :func:`register_stable_name` by their registered name. Anything else (a
    user's function, a lambda, an optimizer built outside the package) has none.

    Example:
        >>> from dl_workshop import linear_model
        >>> stable_name(linear_model)
        'dl_workshop.lesson.model.linear_model'
        >>> stable_name(lambda x: x) is None
        True
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return repr(obj)
    registered = _names.get(id(obj))
    if registered is not None and registered[0] is obj:
        return f"named({registered[1]!r})"
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        cls = _module_level(type(obj))
        fields = [stable_name(value) for value in obj]
        if cls is None or None in fields:
            return None
        return f"{cls}({', '.join(fields)})"
    return _module_level(obj)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


@functools.lru_cache(maxsize=1)
def _sources() -> str:
    """The library's source files: relative path, size and modification time of each."""
    root = Path(importlib.import_module(_PACKAGE).__file__).parent
    entries = []
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        entries.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(entries)


@functools.lru_cache(maxsize=1)
def _installed() -> str:
    """Python, the versions of the libraries that build the programs, the library's sources."""
    versions = [f"{d}={_version(d)}" for d in ("jax", "jaxlib", "optax", "numpy")]
    return "\n".join([sys.version, *versions, _sources()])


def _environment() -> str:
    """Everything outside the call that changes the compiled program."""
    device = jax.devices()[0]
    options = [f"{name}={getattr(jax.config, name, None)!r}" for name in TRACING_OPTIONS]
    options.append(f"x64={x64_enabled()}")
    return "\n".join([
        *options, os.environ.get("XLA_FLAGS", ""),
        f"{device.platform}:{device.device_kind}:{device.id}", _installed(),
    ])


def _abstract(args: Any) -> str:
    """The tree structure, shapes, dtypes and weak types of ``args``."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    avals = [a if isinstance(a, jax.ShapeDtypeStruct) else jax.typeof(a) for a in leaves]
    return f"{treedef}|" + ";".join(f"{a.shape}{a.dtype}{a.weak_type}" for a in avals)


def call_key(name: str, args: tuple, static: dict[str, Any]) -> str | None:
    """The key of ``name(*args, **static)``: the same in every process that would compile the
    same program, or ``None`` when a static argument has no stable name (see :func:`stable_name`).

    Only in a single process, for data on one device: every leaf of ``args`` a NumPy value or a
    JAX array on the default device.

    Example:
        >>> import numpy as np
        >>> key = call_key("f", (np.zeros(3),), {"n": 2})
        >>> key == call_key("f", (np.ones(3),), {"n": 2})  # the same shapes: the same program
        True
        >>> key == call_key("f", (np.ones(4),), {"n": 2})
        False
    """
    if jax.process_count() > 1 or without("executables"):  # (several processes: compiled
        return None  # together)
    if any(getattr(jax.config, name, False) for name in DEBUG_OPTIONS):
        return None  # debugging asks for JAX's own dispatch (checks, or no compilation at all)
    names = {k: stable_name(v) for k, v in static.items()}
    if None in names.values():
        return None
    statics = [f"{k}={names[k]}" for k in sorted(names)]
    default = jax.devices()[0]
    for leaf in jax.tree_util.tree_leaves(args):
        if isinstance(leaf, jax.Array) and leaf.sharding.device_set != {default}:
            return None
    text = "\n".join([name, *statics, _abstract(args), _environment()])
    return hashlib.sha256(text.encode()).hexdigest()


def _folder(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The executables' folder in ``folder`` (default: the library's cache folder, when the
    cache is on) when both are private to the user (made so when missing); else ``None``:
    nothing is read or written."""
    if folder is None:
        if not cache_enabled():
            return None
        folder = cache_folder()
    base = usable_folder(folder)
    return None if base is None else usable_folder(base / "executables")


#: The globals an entry may name: tree structures and their registries (anything else, e.g. a
#: function to call, makes the entry unreadable).
_TREE_GLOBALS = {
    ("jaxlib._jax.pytree", "PyTreeDef"),
    ("jaxlib.xla_extension.pytree", "PyTreeDef"),
    ("jax._src.tree_util", "default_registry"),
    ("jax._src.tree_util", "none_leaf_registry"),
    ("jax._src.tree_util", "dispatch_registry"),
    ("jax._src.tree_util", "tracing_registry"),
}


class _EntryUnpickler(pickle.Unpickler):
    """Builds tree structures, and NamedTuple classes of the library and optax, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TREE_GLOBALS:
            return super().find_class(module, name)
        if module.split(".")[0] in (_PACKAGE, "optax") and "." not in name:
            found = getattr(sys.modules.get(module), name, None)
            if isinstance(found, type) and issubclass(found, tuple) and hasattr(found, "_fields"):
                return found
        raise pickle.UnpicklingError(f"an executable entry may not name {module}.{name}")


def _read_entry(path: Path) -> Any:
    """The pickled entry at ``path``, when the file is the user's and writable by no one else."""
    with open(path, "rb") as f:
        problem = private_problem(os.fstat(f.fileno()))
        if problem is not None:
            raise PermissionError(f"{path} {problem}")
        return _EntryUnpickler(io.BytesIO(f.read())).load()


def _matches(compiled: Any, args: tuple) -> bool:
    """Whether ``compiled`` takes ``args``: the same tree, shapes, dtypes and weak types."""
    if compiled.in_tree != jax.tree_util.tree_structure((args, {})):
        return False
    expected = [jax.typeof(leaf) for leaf in jax.tree_util.tree_leaves(args)]
    found = jax.tree_util.tree_leaves(compiled.in_avals)
    return len(found) == len(expected) and all(
        (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
        for a, b in zip(found, expected, strict=True)
    )


def _load(key: str, args: tuple | None = None, base: Any = None) -> Any:
    """The executable kept for ``key`` (in cache folder ``base``, see :func:`_folder`), or
    ``None``: missing, unreadable, written for another key, or (given ``args``) for other
    arguments; an entry that does not fit is deleted."""
    folder = _folder(base)
    path = folder / f"{key}.bin" if folder is not None else None
    if path is None or not path.is_file():
        return None
    from jax.experimental import serialize_executable

    try:
        stored_key, serialized, in_tree, out_tree = _read_entry(path)
        if stored_key != key:
            raise ValueError("an entry of another key")
        compiled = serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)
        if args is not None and not _matches(compiled, args):
            raise ValueError("an entry for other arguments")
        return compiled
    except Exception:  # a stale, broken or foreign entry: compile anew (and overwrite it)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _store(key: str, compiled: Any, base: Any = None) -> None:
    folder = _folder(base)
    if folder is None:
        return
    from jax.experimental import serialize_executable

    try:
        blob = pickle.dumps((key, *serialize_executable.serialize(compiled)))
        partial = folder / f"{key}.{os.getpid()}.tmp"
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(blob)
        os.replace(partial, folder / f"{key}.bin")  # whole or not at all, for other processes
        _evict(folder)
    except Exception:  # not serializable here (e.g. a host callback), or no room: skip
        return


def _evict(folder: Path) -> None:
    files = sorted(folder.glob("*.bin"), key=lambda p: p.stat().st_mtime_ns)
    for path in files[: max(0, len(files) - MAX_FILES)]:
        with contextlib.suppress(OSError):
            path.unlink()


#: XLA compilations and persistent compilation cache hits in this process (see
#: :func:`_compile_counts`).
_counts: dict[str, int] = {}

#: JAX's event for an XLA compilation, whether compiled or loaded from its persistent cache.
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _count_hit(event: str, **kwargs: Any) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _counts["hits"] += 1


def _count_compile(event: str, duration: float, **kwargs: Any) -> None:
    if event == _COMPILE_EVENT:
        _counts["compiles"] += 1


def _compile_counts() -> tuple[int, int]:
    """How many programs XLA compiled (or JAX's persistent cache loaded) in this process, and
    how many of them the persistent cache loaded."""
    if not _counts:
        _counts.update(compiles=0, hits=0)
        jax.monitoring.register_event_listener(_count_hit)
        jax.monitoring.register_event_duration_secs_listener(_count_compile)
    return _counts["compiles"], _counts["hits"]


def clear_in_memory() -> None:
    """Drop the executables held in memory (they come back from the folder in milliseconds)."""
    _in_memory.clear()


def executable(
    function: Callable[..., Any], key: str, args: tuple, static: dict, *, folder: Any = None
) -> Any:
    """The compiled ``function(*args, **static)`` for ``key``: from memory, from the folder, or
    compiled now (``function`` is a ``jax.jit`` function) and kept in both (``folder``: the
    cache folder, as in :func:`cached_call`)."""
    compiled = _in_memory.get(key)
    if compiled is None:
        compiled = _load(key, args, folder)
        if compiled is None:
            compiles, hits = _compile_counts()
            compiled = function.lower(*args, **static).compile()
            if _compile_counts() == (compiles + 1, hits):
                # An executable that JAX's persistent cache loaded cannot be serialized again
                # whole (its kernels are missing on the CPU), now or earlier in this process (a
                # program compiled before comes from memory, with no compilation): only
                # executables compiled by this very call are kept.
                _store(key, compiled, folder)
        if len(_in_memory) >= MAX_IN_MEMORY:
            _in_memory.clear()
        _in_memory[key] = compiled
    return compiled


def cached_call(
    function: Callable[..., Any],
    name: str,
    args: tuple,
    static: dict[str, Any] | None = None,
    *,
    folder: str | os.PathLike[str] | None = None,
) -> Any:
    """``function(*args, **static)`` through the executable cache when the call has a key.

    Args:
        function: a ``jax.jit`` function (``static``'s names among its static arguments).
        name: the function's stable name (where it lives, and its compiler options).
        args: the traced arguments.
        static: the static arguments.
        folder: the cache folder whose ``executables`` folder keeps the program (checked like
            the library's: see :func:`~dl_workshop.compilation.cache.usable_folder`); default
            ``None``: the library's cache folder, unless the cache is turned off.

    Returns:
        What ``function`` returns.

    Example:
        >>> import jax, numpy as np
        >>> double = jax.jit(lambda x, n: x * n, static_argnames="n")
        >>> cached_call(double, "double", (np.arange(3.0),), {"n": 2}).tolist()
        [0.0, 2.0, 4.0]
    """
    static = static or {}
    key = call_key(name, args, static)
    if key is None:
        return function(*args, **static)
    return executable(function, key, args, static, folder=folder)(*args)


def check_once(check: Callable[[], None], name: str, args: tuple, static: dict[str, Any]) -> None:
    """Run ``check()`` unless a check with the same key passed before, in any process.

    For checks that trace a function of the library (e.g. the shape check of an objective):
    a pass is remembered in the folder as an empty file named by the key (see :func:`call_key`;
    ``args`` may hold ``jax.ShapeDtypeStruct`` leaves); a failure is not remembered.

    Example:
        >>> import numpy as np
        >>> calls = []
        >>> for _ in range(2):
        ...     check_once(lambda: calls.append(1), "example check", (np.zeros(2),), {"n": 1})
        >>> len(calls) <= 1
        True
    """
    key = call_key(name, args, static)
    folder = _folder()
    marker = folder / f"{key}.ok" if key is not None and folder is not None else None
    if marker is not None and marker.is_file():
        return
    check()
    if marker is not None:
        with contextlib.suppress(OSError):
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
