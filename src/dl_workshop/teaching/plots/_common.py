"""What every plot shares: the Axes to draw into and the check of a ``model(theta, x)``.

matplotlib is imported inside :func:`new_axes`, only when a plot is drawn, so that importing
the plots keeps ``import dl_workshop`` light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dl_workshop._validation import describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NOT_AXES = "ax must be a matplotlib Axes or None; got {}"
NOT_A_MODEL = "model must be a function model(theta, x); got {}"

#: Figure sizes (inches) of a new 2-D plot and of a new 3-D one.
_FLAT_SIZE = (6.4, 4.8)
_SOLID_SIZE = (7.0, 5.6)


def new_axes(ax: Any, *, projection: str | None = None) -> Axes:
    """``ax`` after checking it is an Axes, or the Axes of a new pyplot figure.

    Args:
        ax: an Axes, or ``None`` for a new figure.
        projection: the new Axes' projection (``"3d"``); ``None`` for a plain 2-D one.

    Raises:
        TypeError: if ``ax`` is neither ``None`` nor an Axes.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        if projection is None:
            return plt.subplots(figsize=_FLAT_SIZE, layout="constrained")[1]
        figure = plt.figure(figsize=_SOLID_SIZE, layout="constrained")
        return figure.add_subplot(projection=projection)
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(NOT_AXES.format(describe(ax)))
    return ax


def check_model(model: Any) -> None:
    """Raise ``TypeError`` unless ``model`` is callable (a ``model(theta, x)``)."""
    if not callable(model):
        raise TypeError(NOT_A_MODEL.format(describe(model)))
