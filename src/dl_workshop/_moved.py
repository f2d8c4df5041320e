"""The import paths of modules that moved when the package was grouped by role.

``import dl_workshop.optimization`` (and every other path below) keeps working: it returns the
very module object now at its new home (``dl_workshop.fitting.optimization``), so anything set
on one is seen through the other. The package's own code and documentation use the new paths;
these serve code written before the move.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old dotted path below ``dl_workshop`` -> where that module (or package) lives now
MOVED = {
    "checkpoint": "fitting.checkpoint",
    "checks": "teaching.checks",
    "chunks": "io.chunks",
    "data": "lesson.data",
    "diagrams": "teaching.diagrams",
    "fastpath": "objectives.fastpath",
    "logistic": "lesson.logistic",
    "losses": "lesson.losses",
    "model": "lesson.model",
    "multihost": "fitting.multihost",
    "objectives.choose": "fitting.choose",
    "objectives.device_moments": "moments.device",
    "objectives.moments": "moments.core",
    "objectives.tsqr": "moments.core",
    "optimization": "fitting.optimization",
    "parallel": "fitting.parallel",
    "persistence": "io.persistence",
    "plots": "teaching.plots",
    "polynomial": "lesson.polynomial",
    "sampling": "lesson.sampling",
    "settings": "fitting.settings",
    "solver": "fitting.solver",
    "streaming": "fitting.streaming",
    "widgets": "teaching.widgets",
}

_PREFIX = "dl_workshop."
#: The old paths, longest first: a package's submodule matches before the package.
_LONGEST_FIRST = sorted(MOVED, key=len, reverse=True)


def new_name(name: str) -> str | None:
    """The module's current full name if ``name`` (a full ``dl_workshop.*`` name) moved."""
    if not name.startswith(_PREFIX):
        return None
    rest = name[len(_PREFIX):]
    for old in _LONGEST_FIRST:
        if rest == old or rest.startswith(old + "."):
            return _PREFIX + MOVED[old] + rest[len(old):]
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module already at its new name (imported on demand)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.spec = module.__spec__  # importlib sets __spec__ to the alias's: put it back
        return module

    def exec_module(self, module) -> None:
        """Nothing to run (the module was executed under its new name) but restore its spec."""
        module.__spec__ = self.spec


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None or importlib.util.find_spec(new) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install(*, keep: tuple[str, ...] = ()) -> None:
    """Put the finder on ``sys.meta_path`` once. ``keep``: old names that are also public
    attributes of ``dl_workshop`` (``logistic``): they are entered in ``sys.modules`` now, so that
    importing the old path later does not overwrite the attribute with the module."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        # first: the path finder would otherwise load a moved package's submodules a second
        # time, under their old names, through the package's __path__
        sys.meta_path.insert(0, _Finder())
    for old in keep:
        sys.modules.setdefault(_PREFIX + old, importlib.import_module(_PREFIX + MOVED[old]))
