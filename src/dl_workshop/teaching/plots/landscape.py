"""The loss "bowl" over ``(w, b)`` with one optimizer's path on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dl_workshop._validation import check_int
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._bowl import Landscape
from dl_workshop.teaching.plots._common import new_axes
from dl_workshop.teaching.plots._draw import draw_landscape
from dl_workshop.teaching.plots._trajectory import Trajectory, path_arrays

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PATH_COLOR", "plot_loss_landscape"]

#: Colour of a single optimizer path on the bowl (several paths use matplotlib's colour cycle).
PATH_COLOR = "tab:red"

_SURFACE_NEEDS_3D = (
    "surface=True needs a 3-D Axes (fig.add_subplot(projection='3d')) or ax=None; got a {} Axes"
)


def _check_surface(ax: Any, surface: bool) -> None:
    """Raise ``ValueError`` if a surface is asked for on a given Axes that is not 3-D."""
    if ax is not None and surface and getattr(ax, "name", "") != "3d":
        raise ValueError(_SURFACE_NEEDS_3D.format(getattr(ax, "name", type(ax).__name__)))


def plot_loss_landscape(
    x: Any,
    y: Any,
    *,
    path: Any = None,
    ax: Axes | None = None,
    surface: bool = False,
    model: Callable[[Any, Any], Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
    resolution: int = 120,
) -> Axes:
    """Draw the loss "bowl" over the two parameters ``(w, b)``, with an optimizer's path on it.

    Fitting ``w`` and ``b`` is like finding the bottom of a bowl: this draws the bowl as filled
    contours (or a 3-D surface), the path the optimizer took (start: circle, end: square) and,
    for the linear model with the MSE loss, the least-squares optimum (star) computed in closed
    form with ``numpy.linalg.lstsq``. For another model or loss the star marks the lowest grid
    point. The grid covers the path and the least-squares solution with a margin.

    Args:
        x: inputs, shape ``(n,)`` (the model has one scalar ``w`` and one scalar ``b``).
        y: targets, shape ``(n,)``.
        path: ``None``, a :class:`~dl_workshop.FitResult` from ``fit(..., record_every=k)``, a
            ``(w_path, b_path)`` pair of arrays of shape ``(k,)``, or parameters with a leading
            axis of steps (e.g. ``FitResult.path``: ``{"w": (k,), "b": (k,)}``).
        ax: the Axes to draw into (a 3-D one for ``surface=True``); ``None`` makes a figure.
        surface: draw a 3-D surface instead of contours.
        model: ``model(theta, x)``; it receives ``theta`` in the container type of ``path``
            (a dict when there is no path).
        loss: ``loss(theta, model, x, y) -> scalar``.
        resolution: grid points along each axis, >= 10.

    Returns:
        The Axes, labelled ``w`` / ``b``. gids: ``"landscape"`` (the bowl), ``"path"`` (one
        point per recorded step), ``"path-start"``, ``"path-end"``, ``"optimum"``.

    Raises:
        ValueError, TypeError: for invalid data or path, or a 2-D ``ax`` with ``surface=True``.

    Example:
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.lesson.data import x, make_y
        >>> y = make_y(x, seed=0)
        >>> result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, 300, 0.01,
        ...              record_every=10, progress=False)
        >>> ax = plot_loss_landscape(x, y, path=result)
        >>> [len(l.get_xdata()) for l in ax.get_lines() if l.get_gid() == "path"]
        [31]
    """
    resolution = check_int(resolution, "resolution", minimum=10)
    _check_surface(ax, surface)
    paths = []
    if path is not None:
        w_path, b_path = path_arrays(path)
        paths.append(Trajectory("path", w_path, b_path, PATH_COLOR))
    landscape = Landscape(x, y, model, loss, path)
    ax = new_axes(ax, projection="3d" if surface else None)
    return draw_landscape(ax, landscape, paths, surface=surface, resolution=resolution)
