"""A Griffe extension for the API pages, for two habits of the package's docstrings.

* Doctests are headed ``Example:`` (as the Google style guide does); Griffe's Google parser knows
  only ``Examples:`` as the section whose ``>>>`` lines are code, and reads ``Example:`` as
  prose. This reads the one as the other.
* Cross-references are Sphinx roles (``:func:`fit```), shown as the code they name.
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
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")


def _role_as_code(match: re.Match) -> str:
    """A Sphinx role (``:func:`~pkg.name```) as the code it names (`` `name` ``)."""
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def markdown_of(docstring: str) -> str:
    """The package's docstring habits, in the form mkdocstrings reads.

    Example:
        >>> markdown_of("Gradient of :func:`mseloss`; see :class:`~dl_workshop.FitResult`.")
        'Gradient of `mseloss`; see `FitResult`.'
    """
    return _ROLE.sub(_role_as_code, _EXAMPLE_HEADING.sub(r"\1Examples:", docstring))


class ExampleSections(griffe.Extension):
    """``Example:`` headings read as ``Examples:``, Sphinx roles as code; transformed functions
    keep their docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.parent is None:
            return
        try:
            value = getattr(importlib.import_module(attr.parent.path), attr.name)
        except Exception:  # noqa: BLE001 - not importable: the static reading stands
            return
        if inspect.isfunction(value) and value.__doc__:
            attr.docstring = griffe.Docstring(markdown_of(inspect.cleandoc(value.__doc__)),
                                              parent=attr)
