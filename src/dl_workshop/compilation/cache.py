"""JAX's persistent compilation cache for the library: a second process starts with the compiled
loops of the first.

:func:`enable_compile_cache` runs before the first compiled loop of a fit (and in the command
line). The folder is ``$DL_WORKSHOP_CACHE_DIR``, else ``$XDG_CACHE_HOME/dl-workshop/jax``
(default ``~/.cache/dl-workshop/jax``). A cache the user configured for JAX (the
``jax_compilation_cache_dir`` option, or ``JAX_COMPILATION_CACHE_DIR``) is used as it is, with
its own settings (JAX's documentation: whoever can write to a compilation cache can run code
in the processes that use it; keeping that folder private is the user's part);
``DL_WORKSHOP_NO_COMPILE_CACHE=1`` turns the library's cache off. A cache that cannot be set up
is skipped silently: it only saves time.

Like JAX's own cache, the folder holds compiled code that this user's processes run. So every
folder the library makes is private to the user (mode 0700, each missing part of the path), and
before a folder is used :func:`usable_folder` checks that it is a folder owned by this user and
not writable by group or others; a folder that fails is not touched at all (nothing read,
nothing written), a warning names it and the fix once per process, and the run goes on
uncached.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import warnings
from pathlib import Path

import jax

#: Set (to anything) to keep the library from turning on JAX's persistent compilation cache.
OPT_OUT_VARIABLE = "DL_WORKSHOP_NO_COMPILE_CACHE"

#: The cache folder, when set.
FOLDER_VARIABLE = "DL_WORKSHOP_CACHE_DIR"

#: The library's cache keeps at most this many bytes (least recently used entries go first;
#: only with the ``filelock`` package, which JAX needs for it).
MAX_CACHE_BYTES = 1 << 29

#: How JAX's bounded cache (``jax._src.lru_cache``) names an entry's two files.
CACHE_SUFFIX, ATIME_SUFFIX = "-cache", "-atime"

#: Without eviction (no ``filelock``), only programs that took at least this long to compile
#: are kept (the library's loops take 0.04 s and more here; an eager ``jnp`` operation about
#: 0.015 s).
MIN_COMPILE_SECONDS_UNBOUNDED = 0.03

#: JAX's own threshold; another value was set by the user (e.g. with
#: ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``) and is kept.
JAX_DEFAULT_MIN_SECONDS = 1.0

#: The warning for a folder that is not private to the user (its path, then what is wrong).
UNSAFE_FOLDER_MESSAGE = (
    "dl-workshop: not using the cache folder {folder!r}: it {problem}, so another user could "
    "plant code that this process would run; running without the cache. Fix: `chmod 700 "
    "{folder}` if it is yours, or set " + FOLDER_VARIABLE + " to a folder of your own"
)

_state = {"done": False, "refused": False}

#: Folders already warned about in this process.
_warned: set[str] = set()


def _make_private(folder: Path) -> None:
    """Create ``folder`` and each missing folder above it with mode 0700 (whatever the umask)."""
    missing = []
    for part in (folder, *folder.parents):
        if os.path.lexists(part):
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            os.mkdir(part, 0o700)
        except FileExistsError:  # another process made it first: checked below like any other
            continue
        os.chmod(part, 0o700)


def private_problem(info: os.stat_result) -> str | None:
    """What makes a file or folder with status ``info`` unsafe to take code from (owned by
    another user, or writable by group or others), or ``None`` (also where the system has no
    owners and modes to check).

    Example:
        >>> import os, tempfile
        >>> private_problem(os.stat(tempfile.mkdtemp())) is None  # mkdtemp: private
        True
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - no POSIX owners (Windows)
        return None
    if info.st_uid != os.geteuid():
        return f"is owned by another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """What makes an existing ``folder`` unsafe to keep code in, or ``None`` when it is safe:
    a folder owned by this user that neither group nor others can write to.

    Example:
        >>> import tempfile
        >>> folder_problem(tempfile.mkdtemp()) is None  # mkdtemp makes a private folder
        True
    """
    info = os.stat(folder)
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    return private_problem(info)


def usable_folder(folder: str | os.PathLike[str]) -> Path | None:
    """``folder``, created private to the user if missing, when it is safe to keep code in;
    else ``None`` (and a warning, once per process, naming the folder and the fix).

    Example:
        >>> import tempfile
        >>> folder = usable_folder(f"{tempfile.mkdtemp()}/a/b")
        >>> oct(folder.stat().st_mode & 0o777), oct(folder.parent.stat().st_mode & 0o777)
        ('0o700', '0o700')
    """
    folder = Path(folder)
    try:
        _make_private(folder)
        problem = folder_problem(folder)
    except OSError:  # cannot be made or read: no cache, silently (it only saves time)
        return None
    if problem is None:
        return folder
    if str(folder) not in _warned:
        _warned.add(str(folder))
        warnings.warn(
            UNSAFE_FOLDER_MESSAGE.format(folder=str(folder), problem=problem),
            UserWarning,
            stacklevel=2,
        )
    return None


def cache_folder() -> str:
    """The library's cache folder (from the environment; nothing is created).

    Example:
        >>> isinstance(cache_folder(), str)
        True
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get(FOLDER_VARIABLE) or os.path.join(base, "dl-workshop", "jax")


def cache_enabled() -> bool:
    """Whether the library may keep compiled programs on disk: not opted out by
    ``DL_WORKSHOP_NO_COMPILE_CACHE``, nor by ``enable_compile_cache(enabled=False)``.

    Example:
        >>> isinstance(cache_enabled(), bool)
        True
    """
    return not os.environ.get(OPT_OUT_VARIABLE) and not _state.get("refused", False)


def repair_orphans(folder: str | Path) -> int:
    """Give every cache entry of ``folder`` without its access-time file one (time 0: the least
    recently used); return how many were repaired.

    JAX writes an entry as two files, ``KEY-cache`` then ``KEY-atime``; a process killed between
    the two leaves an orphan, and with a size bound (which this package sets) JAX 0.10's eviction
    then fails on every later write: the cache stops growing and each new compilation warns
    (jax-ml/jax#39880, fixed upstream by treating a missing time as 0, which this does on disk).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "k-cache").write_bytes(b"program")
        ...     repair_orphans(folder), (Path(folder) / "k-atime").read_bytes()
        (1, b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00')
    """
    repaired = 0
    for entry in Path(folder).glob("*" + CACHE_SUFFIX):
        atime = entry.with_name(entry.name.removesuffix(CACHE_SUFFIX) + ATIME_SUFFIX)
        if not atime.exists():
            try:
                with open(atime, "xb") as file:  # never over a file another process wrote
                    file.write((0).to_bytes(8, "little"))
                repaired += 1
            except OSError:
                pass
    return repaired


def enable_compile_cache(*, enabled: bool = True) -> str | None:
    """Turn on JAX's persistent compilation cache for this process, once; return its folder.

    Args:
        enabled: ``False`` keeps the cache off for the rest of the process (the command line's
            ``--no-compile-cache``); later calls then change nothing.

    Returns:
        The folder compiled programs are kept in, or ``None`` when the cache is off (opted out,
        the folder cannot be made, or it is not private to the user: see :func:`usable_folder`).

    Example:
        >>> folder = enable_compile_cache()
        >>> folder is None or isinstance(folder, str)
        True
    """
    if not enabled:  # the library's executables stay off too (a cache JAX was given stays)
        _state["refused"] = True
    configured = jax.config.jax_compilation_cache_dir
    if _state["done"] or configured:
        return configured or None
    _state["done"] = True
    if not cache_enabled():
        return None
    folder = usable_folder(cache_folder())
    if folder is None:
        return None
    folder = str(folder)
    try:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        bounded = jax.config.jax_compilation_cache_max_size != -1
        if not bounded and importlib.util.find_spec("filelock"):  # JAX evicts with filelock
            jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
            bounded = True
        if bounded:
            repair_orphans(folder)
        if jax.config.jax_persistent_cache_min_compile_time_secs == JAX_DEFAULT_MIN_SECONDS:
            # The library's loops compile in a fraction of JAX's default threshold; without
            # eviction, the many tiny programs of eager jax.numpy calls are left out.
            minimum = 0.0 if bounded else MIN_COMPILE_SECONDS_UNBOUNDED
            jax.config.update("jax_persistent_cache_min_compile_time_secs", minimum)
    except (OSError, AttributeError, ValueError):
        return None
    return folder
