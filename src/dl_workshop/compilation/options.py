"""Compiler options for small problems, whose first call is mostly compilation.

XLA's older CPU fusion emitters compile the engine's loops in about half the time of the new
ones (the lesson's general-path loop: 0.40 s -> 0.21 s; its fast path: 0.10 s -> 0.065 s; an
L-BFGS state: 0.09 s -> 0.04 s) and run them as fast; large problems keep XLA's defaults (their
first call is mostly computing). :func:`call_small` runs a function compiled with
``SMALL_PROBLEM_OPTIONS`` and falls back to the default one, for good, if this XLA refuses
them (an option it no longer has).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from dl_workshop.compilation import without

#: Compiler options for the loops (and optimizer states) of small problems on the CPU.
SMALL_PROBLEM_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

#: Set when this XLA refused ``SMALL_PROBLEM_OPTIONS``.
_refused: list[bool] = []


def small_options_usable() -> bool:
    """Whether ``SMALL_PROBLEM_OPTIONS`` may be tried: not refused before in this process, nor
    turned off (``DL_WORKSHOP_WITHOUT=small_options``)."""
    return not _refused and not without("small_options")


def call_small(small: Callable[..., Any], default: Callable[..., Any], *args: Any, **kw: Any):
    """``small(*args, **kw)`` (compiled with ``SMALL_PROBLEM_OPTIONS``), or ``default`` if XLA
    refuses the options.

    Example:
        >>> f = jax.jit(lambda x: x + 1, compiler_options=SMALL_PROBLEM_OPTIONS)
        >>> int(call_small(f, jax.jit(lambda x: x + 1), 1))
        2
    """
    if _refused:
        return default(*args, **kw)
    try:
        return small(*args, **kw)
    except jax.errors.JaxRuntimeError as exc:
        if "compile option" not in str(exc):
            raise
        _refused.append(True)
        return default(*args, **kw)
