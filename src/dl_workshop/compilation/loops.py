"""A bound on the compiled loops a process keeps in memory.

Each compiled loop holds a few MB. A long session of fits whose shapes keep changing (a user's
loss on data of many sizes, never padded) would compile a loop per shape and keep them all; a
:class:`LoopBound` drops every compiled loop before compiling one beyond its limit, so memory
stays flat. Dropped loops come back from the persistent compilation cache in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dl_workshop.compilation import without

#: At most this many compiled loops are kept.
MAX_COMPILED_LOOPS = 32


class LoopBound:
    """The signatures of the compiled loops kept: ``clear()`` drops them all before one more
    than ``limit`` is compiled.

    Example:
        >>> dropped = []
        >>> bound = LoopBound(lambda: dropped.append(1), limit=2)
        >>> for signature in ("a", "b", "a", "c"):
        ...     bound.keep(signature)
        >>> len(dropped), sorted(bound.kept)
        (1, ['c'])
    """

    def __init__(self, clear: Callable[[], None], limit: int = MAX_COMPILED_LOOPS) -> None:
        self.clear, self.limit = clear, limit
        self.kept: set[Any] = set()

    def keep(self, signature: Any) -> None:
        """Note a loop about to be called; drop every loop first when it is one too many."""
        if signature in self.kept or without("loop_bound"):
            return
        if len(self.kept) >= self.limit:
            self.clear()
            self.kept.clear()
        self.kept.add(signature)
