"""A Griffe extension for the API pages, for two habits of the package's docstrings.

* Doctests are headed ``Example:`` (as the Google style guide does); Griffe's Google parser knows
  only ``Examples:`` as the section whose ``>>>`` lines are code, and reads ``Example:`` as
  prose. This reads the one as the other.
* Cross-references are Sphinx roles (``:func:`fit```), shown as the code they name.
* A function made by a transformation (``dmseloss = jax.grad(mseloss)``) gets its docstring by
  assignment to ``__doc__``, which a static reading does not see: it is taken from the function
  itself.
* A front door of ``fit`` (``@takes_options``) gets its options, their defaults and their docs
  from ``dl_workshop.fitting.settings.OPTIONS`` when it is imported: its parameters and docstring are
  taken from the function itself (its ``__signature__`` and ``__doc__``).
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


def _runtime(obj: griffe.Object) -> Any:
    """The object that ``obj`` describes, imported; ``None`` if it cannot be."""
    try:
        return getattr(importlib.import_module(obj.parent.path), obj.name)
    except Exception:  # noqa: BLE001 - not importable: the static reading stands
        return None


def _parameters(signature: inspect.Signature) -> griffe.Parameters:
    """A signature as Griffe's parameters (annotations as written, defaults as their repr)."""
    empty = inspect.Parameter.empty
    return griffe.Parameters(*(
        griffe.Parameter(
            p.name,
            annotation=None if p.annotation is empty else inspect.formatannotation(
                p.annotation).strip("'"),
            kind=griffe.ParameterKind(p.kind.description),
            default=None if p.default is empty else repr(p.default),
        )
        for p in signature.parameters.values()
    ))


class ExampleSections(griffe.Extension):
    """``Example:`` headings read as ``Examples:``, Sphinx roles as code; transformed functions
    keep their docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.parent is None:
            return
        value = _runtime(func)
        if getattr(value, "__wrapped__", None) is None or "__signature__" not in vars(value):
            return
        func.parameters = _parameters(inspect.signature(value))
        func.docstring = griffe.Docstring(markdown_of(inspect.cleandoc(value.__doc__ or "")),
                                          parent=func)

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
