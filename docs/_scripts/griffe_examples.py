"""A Griffe extension for the API pages, for two habits of the package's docstrings.

* Doctests are headed ``Example:`` (as the Google style guide does); Griffe's Google parser knows
  only ``Examples:`` as the section whose ``>>>`` lines are code, and reads ``Example:`` as
  prose. This reads the one as the other.
* A function made by a transformation (``dmseloss = jax.grad(mseloss)``) gets its docstring by
  assignment to ``__doc__``, which a static reading does not see: it is taken from the function
  itself.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """``Example:`` headings read as ``Examples:``; transformed functions keep their docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.parent is None:
            return
        try:
            value = getattr(importlib.import_module(attr.parent.path), attr.name)
        except Exception:  # noqa: BLE001 - not importable: the static reading stands
            return
        if inspect.isfunction(value) and value.__doc__:
            text = _EXAMPLE_HEADING.sub(r"\1Examples:", inspect.cleandoc(value.__doc__))
            attr.docstring = griffe.Docstring(text, parent=attr)
