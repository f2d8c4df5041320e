"""Drawing the loss bowl: filled contours or a 3-D surface, the paths, and the optimum.

:func:`draw_landscape` is the pipeline: compute the grid -> draw the bowl -> draw the paths ->
their start and end markers -> the optimum -> labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dl_workshop.teaching.plots._bowl import Grid, Landscape, bowl_grid
from dl_workshop.teaching.plots._trajectory import Trajectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _draw_surface(ax: Any, grid: Grid) -> None:
    """The bowl as a 3-D surface, with its contours projected onto the floor."""
    ax.plot_surface(
        grid.w, grid.b, grid.loss, cmap="viridis", alpha=0.55, linewidth=0, antialiased=True,
        gid="landscape",
    )  # fmt: skip
    ax.contour(
        grid.w, grid.b, grid.loss, levels=grid.levels, cmap="viridis", linewidths=0.6,
        offset=grid.low,
    )  # fmt: skip
    ax.set_zlabel("mse", labelpad=8)


def _draw_contours(ax: Axes, grid: Grid, colorbar: Any = None) -> Any:
    """The bowl as grey filled contours with contour lines and a colour bar (returned): a new
    one, or ``colorbar`` moved onto these contours (a view redrawn per run keeps its bar)."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    # One shade per band (the levels are geometric, a linear norm would leave most bands
    # white), light enough that the paths drawn on top stay visible.
    bands = np.r_[grid.low, grid.levels]
    shades = ListedColormap(colormaps["Greys"](np.linspace(0.0, 0.5, 256)))
    filled = ax.contourf(
        grid.w, grid.b, grid.loss, levels=bands, cmap=shades,
        norm=BoundaryNorm(bands, ncolors=256),
    )  # fmt: skip
    filled.set_gid("landscape")
    lines = ax.contour(grid.w, grid.b, grid.loss, levels=grid.levels, colors="0.35", linewidths=0.5)
    lines.set_gid("contours")
    if colorbar is None:
        colorbar = ax.figure.colorbar(filled, ax=ax, shrink=0.9, format="%.3g")
    else:
        from matplotlib.ticker import FormatStrFormatter

        colorbar.update_normal(filled)
        colorbar.formatter = FormatStrFormatter("%.3g")
        colorbar.update_ticks()
    colorbar.set_label("mse")
    return colorbar


def _plotter(ax: Any, landscape: Landscape, surface: bool) -> Callable[..., Any]:
    """``plot(w, b, **style)``: ``ax.plot`` in the plane, or at the loss's height on a surface."""
    if surface:
        return lambda w, b, **style: ax.plot(w, b, landscape.values(w, b), **style)
    return ax.plot


def _draw_paths(plot: Callable[..., Any], paths: list[Trajectory]) -> None:
    """Each path as a line with one dot per recorded step."""
    for label, w_path, b_path, color in paths:
        plot(
            w_path, b_path, color=color, linewidth=1.8, marker=".", markersize=3, gid="path",
            label=label,
        )  # fmt: skip


#: Drawing order: the paths' start and end markers above the optimum's star, so that a path
#: ending at the optimum shows its end inside the star (not hidden under its outline).
_OPTIMUM_ZORDER = 3
_ENDS_ZORDER = 4


def _draw_ends(plot: Callable[..., Any], paths: list[Trajectory]) -> None:
    """Each path's start (circle) and end (square, above the optimum's star); only the first
    path's go into the legend."""
    for index, (_, w_path, b_path, color) in enumerate(paths):
        plot(
            w_path[:1], b_path[:1], color=color, marker="o", markersize=8, linestyle="none",
            markeredgecolor="white", gid="path-start", label="start" if index == 0 else None,
            zorder=_ENDS_ZORDER,
        )  # fmt: skip
        plot(
            w_path[-1:], b_path[-1:], color=color, marker="s", markersize=7, linestyle="none",
            markeredgecolor="white", gid="path-end", label="end" if index == 0 else None,
            zorder=_ENDS_ZORDER,
        )  # fmt: skip


def _draw_optimum(plot: Callable[..., Any], grid: Grid) -> None:
    """The optimum as a hollow star."""
    w_opt, b_opt = np.array([grid.optimum[0]]), np.array([grid.optimum[1]])
    plot(
        w_opt, b_opt, color="black", marker="*", markersize=16, markerfacecolor="none",
        markeredgewidth=1.4, linestyle="none", gid="optimum", label=grid.optimum_label,
        zorder=_OPTIMUM_ZORDER,
    )  # fmt: skip


def draw_bowl(ax: Axes, grid: Grid, label: str = "mse", colorbar: Any = None) -> Any:
    """The bowl of ``grid`` as filled contours with its optimum, labelled ``w`` / ``b`` (the
    colour bar ``label``): the backdrop of figures that draw and move their own paths on it
    (animation, explorers). Returns the colour bar (``colorbar``, updated, when given)."""
    colorbar = _draw_contours(ax, grid, colorbar)
    colorbar.set_label(label)
    _draw_optimum(ax.plot, grid)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    return colorbar


def draw_landscape(
    ax: Any,
    landscape: Landscape,
    paths: list[Trajectory],
    *,
    surface: bool,
    resolution: int,
) -> Axes:
    """Draw the bowl of ``landscape`` on a ``resolution``² grid with ``paths`` on it into ``ax``.

    Args:
        ax: a 2-D Axes, or a 3-D one when ``surface`` is true.
        landscape: the data, model and loss.
        paths: the paths to draw, in legend order (possibly none).
        surface: draw a 3-D surface instead of filled contours.
        resolution: grid points along each axis.

    Returns:
        ``ax``, labelled ``w`` / ``b``, with a legend.
    """
    grid = bowl_grid(landscape, paths, resolution)
    if surface:
        _draw_surface(ax, grid)
    else:
        _draw_contours(ax, grid)
    plot = _plotter(ax, landscape, surface)
    _draw_paths(plot, paths)
    # Markers after all the lines, so the legend lists the paths first, then start and end.
    _draw_ends(plot, paths)
    # Hollow, and below the end markers, so that a path ending on the optimum shows its end.
    _draw_optimum(plot, grid)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title("loss landscape over (w, b)")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    return ax
