"""Everything the library does to make compilation cheaper, in one place.

Each mechanism here justified itself by an A/B on a figure a user meets
(``benchmarks/ab_compile.py``; it stays only where it saves at least 20 %):

* :mod:`~dl_workshop.compilation.cache`: JAX's persistent compilation cache in a private
  folder (a second process compiles nothing);
* :mod:`~dl_workshop.compilation.executables`: the library's own compiled programs kept whole
  across processes (a second process neither traces nor compiles: its first fit 4-16x faster);
* :mod:`~dl_workshop.compilation.options`: XLA options for small problems on the CPU (a first
  call in a fresh process up to 3x faster);
* :mod:`~dl_workshop.compilation.loops`: at most ``MAX_COMPILED_LOOPS`` compiled loops kept in
  memory (a long session of fits on data of changing sizes stays flat in memory).

``$DL_WORKSHOP_WITHOUT`` (a comma-separated list of ``executables``, ``small_options``,
``loop_bound``) turns mechanisms off for the A/B; :func:`without` is the one place it is read.
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
    return mechanism in os.environ.get(WITHOUT_VARIABLE, "").split(",")
