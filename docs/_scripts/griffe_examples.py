"""A Griffe extension for the API pages: the package's docstrings head their doctests
``Example:`` (as the Google style guide does); Griffe's Google parser knows only ``Examples:``
as the section whose ``>>>`` lines are code, and reads ``Example:`` as prose. This reads the one
as the other."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename every ``Example:`` section heading to ``Examples:`` before parsing."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
