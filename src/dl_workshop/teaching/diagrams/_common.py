"""What both diagrams share: the Axes to draw into, and how counts and values are written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dl_workshop._validation import describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_NOT_AXES = "ax must be a matplotlib Axes or None; got {}"


def new_axes(ax: Any, size: tuple[float, float]) -> Axes:
    """``ax`` after checking it is an Axes, or the Axes of a new figure of ``size`` inches.

    Raises:
        TypeError: if ``ax`` is neither ``None`` nor an Axes.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=size, layout="constrained")[1]
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(_NOT_AXES.format(describe(ax)))
    return ax


def plural(count: int, word: str) -> str:
    """``"1 input"``, ``"1,000 inputs"``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def format_value(value: float) -> str:
    """A parameter's value in three significant digits, with a true minus sign."""
    text = f"{value:.3g}"
    return text.replace("-", "\N{MINUS SIGN}")


def shape_title(kind: str, n_inputs: int, n_outputs: int) -> str:
    """A diagram's title: ``"<kind>: 3 inputs → 1 output"``."""
    return f"{kind}: {plural(n_inputs, 'input')} → {plural(n_outputs, 'output')}"


def finish(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float]) -> Axes:
    """Fix the limits, equal aspect and no axes: a diagram, not a plot."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax
