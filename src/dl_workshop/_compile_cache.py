"""JAX's persistent compilation cache for the library: a second process starts with the compiled
loops of the first.

:func:`enable_compile_cache` runs before the first compiled loop of a fit (and in the command
line). The folder is ``$DL_WORKSHOP_CACHE_DIR``, else ``$XDG_CACHE_HOME/dl-workshop/jax``
(default ``~/.cache/dl-workshop/jax``). A cache the user configured for JAX (the
``jax_compilation_cache_dir`` option, or ``JAX_COMPILATION_CACHE_DIR``) is used as it is, with
its own settings; ``DL_WORKSHOP_NO_COMPILE_CACHE=1`` turns the library's cache off. A cache that
cannot be set up is skipped silently: it only saves time.

Like JAX's own cache, the folder holds compiled code that this user's processes run: it must
not be writable by other users (it is created private to the user).
"""

from __future__ import annotations

import importlib.util
import os

import jax

#: Set (to anything) to keep the library from turning on JAX's persistent compilation cache.
OPT_OUT_VARIABLE = "DL_WORKSHOP_NO_COMPILE_CACHE"

#: The cache folder, when set.
FOLDER_VARIABLE = "DL_WORKSHOP_CACHE_DIR"

#: The library's cache keeps at most this many bytes (least recently used entries go first;
#: only with the ``filelock`` package, which JAX needs for it).
MAX_CACHE_BYTES = 1 << 29

#: Without eviction (no ``filelock``), only programs that took at least this long to compile
#: are kept (the library's loops take 0.04 s and more here; an eager ``jnp`` operation about
#: 0.015 s).
MIN_COMPILE_SECONDS_UNBOUNDED = 0.03

#: JAX's own threshold; another value was set by the user (e.g. with
#: ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``) and is kept.
JAX_DEFAULT_MIN_SECONDS = 1.0

_state = {"done": False, "refused": False}


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


def enable_compile_cache(*, enabled: bool = True) -> str | None:
    """Turn on JAX's persistent compilation cache for this process, once; return its folder.

    Args:
        enabled: ``False`` keeps the cache off for the rest of the process (the command line's
            ``--no-compile-cache``); later calls then change nothing.

    Returns:
        The folder compiled programs are kept in, or ``None`` when the cache is off (opted out,
        or the folder cannot be made).

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
    folder = cache_folder()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        bounded = jax.config.jax_compilation_cache_max_size != -1
        if not bounded and importlib.util.find_spec("filelock"):  # JAX evicts with filelock
            jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
            bounded = True
        if jax.config.jax_persistent_cache_min_compile_time_secs == JAX_DEFAULT_MIN_SECONDS:
            # The library's loops compile in a fraction of JAX's default threshold; without
            # eviction, the many tiny programs of eager jax.numpy calls are left out.
            minimum = 0.0 if bounded else MIN_COMPILE_SECONDS_UNBOUNDED
            jax.config.update("jax_persistent_cache_min_compile_time_secs", minimum)
    except (OSError, AttributeError, ValueError):
        return None
    return folder
