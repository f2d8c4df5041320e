"""Everything the library does to make compilation cheaper, in one place.

Each mechanism beyond JAX's own cache justified itself by an A/B on a figure a user meets
(``benchmarks/ab_compile.py``: it stays only where it saves at least 20 %; medians of 3
alternating turns on a loaded 2-core machine):

* :mod:`~dl_workshop.compilation.cache`: JAX's persistent compilation cache in a private
  folder (a second process compiles nothing);
* :mod:`~dl_workshop.compilation.executables`: the library's own compiled programs kept whole
  across processes (a second process neither traces nor compiles: its first fit 3-4x faster,
  the diabetes estimator 1.68 s -> 0.38 s, the lesson's loop 0.48 s -> 0.13 s);
* :mod:`~dl_workshop.compilation.options`: XLA options for small problems on the CPU (a first
  call in a fresh process: the diabetes estimator 8.2 s -> 5.4 s, the lesson's general path
  2.4 s -> 1.4 s);
* :mod:`~dl_workshop.compilation.loops`: at most ``MAX_COMPILED_LOOPS`` compiled loops kept in
  memory (80 fits of a user's loss on new sizes: +140 MB of memory instead of +319 MB).

``$DL_WORKSHOP_WITHOUT`` (a comma-separated list of ``executables``, ``small_options``,
``loop_bound``, and the engine's shortcuts of :mod:`dl_workshop.engine.shortcuts`) turns
mechanisms off for the A/B; :func:`without` is the one place it is read.
"""

from __future__ import annotations

import os

#: The environment variable that turns mechanisms off (for ``benchmarks/ab_compile.py``).
WITHOUT_VARIABLE = "DL_WORKSHOP_WITHOUT"


def without(mechanism: str) -> bool:
    """Whether ``mechanism`` is turned off by ``$DL_WORKSHOP_WITHOUT``.

    Example:
        >>> without("executables") in (True, False)
        True
    """
    return mechanism in {part.strip() for part in os.environ.get(WITHOUT_VARIABLE, "").split(",")}
