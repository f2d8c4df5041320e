"""The loss "bowl": losses over a ``(w, b)`` grid that covers the paths, and its contour levels.

Nothing here draws; :mod:`dl_workshop.teaching.plots._draw` draws what :func:`bowl_grid` computes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import as_data, check_same_length, describe
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._common import check_model
from dl_workshop.teaching.plots._trajectory import Trajectory, params_like

#: Largest number of grid losses evaluated at once (bounds memory for large data sets).
_GRID_BATCH_ELEMENTS = 20_000_000
#: Contour levels drawn on the bowl.
_N_LEVELS = 14

_NOT_A_LOSS = "loss must be a function loss(theta, model, x, y); got {}"
_NOT_EVALUATED = (
    "the loss could not be evaluated over scalar (w, b) for x of shape {x_shape} and y of shape "
    "{y_shape} (the landscape needs a model with one scalar w and one scalar b): {first}"
)
_NOT_SCALAR = "loss must return a scalar; got {} values"
_FLAT = "the loss over the grid must be finite and vary; got [{}, {}]"


class Landscape:
    """Loss values on a (w, b) grid, for one data set, model and loss (internal helper).

    Args:
        x: inputs, shape ``(n,)``.
        y: targets, shape ``(n,)``.
        model: ``model(theta, x)``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        template: a path whose container type ``theta`` takes (see :func:`params_like`).
    """

    def __init__(self, x: Any, y: Any, model: Any, loss: Any, template: Any) -> None:
        check_model(model)
        if not callable(loss):
            raise TypeError(_NOT_A_LOSS.format(describe(loss)))
        self.x = as_data(x, "x")
        self.y = as_data(y, "y")
        check_same_length(self.x, self.y)
        self.model = model
        self.loss = loss
        self.make = params_like(template)
        self.exact = model is linear_model and loss is mseloss

    def values(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Loss at each ``(w[i], b[i])``; ``w`` and ``b`` of the same shape, as is the result."""
        flat_w = jnp.asarray(np.ravel(w), self.x.dtype)
        flat_b = jnp.asarray(np.ravel(b), self.x.dtype)

        def one(wi, bi):
            return self.loss(self.make(wi, bi), self.model, self.x, self.y)

        batch = max(1, _GRID_BATCH_ELEMENTS // max(1, int(self.y.size)))
        try:
            parts = [
                np.asarray(jax.vmap(one)(flat_w[i : i + batch], flat_b[i : i + batch]))
                for i in range(0, flat_w.size, batch)
            ]
        except Exception as exc:  # a user's model/loss; report it in one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                _NOT_EVALUATED.format(
                    x_shape=tuple(self.x.shape), y_shape=tuple(self.y.shape), first=first
                )
            ) from exc
        values = np.concatenate(parts).astype(float)
        if values.shape != (flat_w.size,):
            raise ValueError(_NOT_SCALAR.format(values.size // flat_w.size))
        return values.reshape(np.shape(w))

    def least_squares(self) -> tuple[float, float] | None:
        """The least-squares ``(w, b)`` of ``y ≈ w x + b`` when ``x`` and ``y`` are 1-D."""
        x = np.asarray(self.x, dtype=float)
        y = np.asarray(self.y, dtype=float)
        if x.ndim != 1 or y.ndim != 1:
            return None
        design = np.column_stack([x, np.ones_like(x)])
        w_opt, b_opt = np.linalg.lstsq(design, y, rcond=None)[0]
        return float(w_opt), float(b_opt)


class Grid(NamedTuple):
    """The bowl to draw: grid and losses of shape ``(resolution, resolution)``, and more."""

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    low: float  # the lowest loss on the grid
    levels: np.ndarray  # (_N_LEVELS,) contour levels, increasing
    optimum: tuple[float, float]  # (w, b) of the star
    optimum_label: str


def extent(points_w: np.ndarray, points_b: np.ndarray, has_path: bool):
    """Ranges ``[(w_lo, w_hi), (b_lo, b_hi)]`` covering the points with a margin."""
    ranges = []
    for values in (points_w, points_b):
        low, high = float(values.min()), float(values.max())
        center = 0.5 * (low + high)
        if has_path:
            half = 0.5 * (high - low) * 1.2
            half = max(half, 0.5, 0.05 * abs(center))
        else:
            half = max(1.0, abs(center))
        ranges.append((center - half, center + half))
    return ranges


def _covered(paths: list[Trajectory], center: tuple[float, float] | None):
    """The ranges of w and b the grid covers: the paths and the centre (or the origin)."""
    all_w = [path.w for path in paths]
    all_b = [path.b for path in paths]
    if center is not None:
        all_w.append(np.array([center[0]]))
        all_b.append(np.array([center[1]]))
    if not all_w:
        all_w, all_b = [np.zeros(1)], [np.zeros(1)]
    return extent(np.concatenate(all_w), np.concatenate(all_b), has_path=bool(paths))


def _levels(grid_loss: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest loss and the contour levels, after checking the losses are finite and vary."""
    low, high = float(grid_loss.min()), float(grid_loss.max())
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise ValueError(_FLAT.format(low, high))
    # Geometric levels from just above the minimum: a quadratic bowl's contours bunch up at the
    # rim on a linear scale and the region around the minimum disappears.
    floor = max(high * 1e-6, np.finfo(float).tiny)
    return low, low + np.geomspace(max((high - low) * 1e-3, floor), high - low, _N_LEVELS)


def bowl_grid(landscape: Landscape, paths: list[Trajectory], resolution: int) -> Grid:
    """The losses on a ``resolution × resolution`` grid covering the paths and the optimum.

    Raises:
        ValueError: if the loss cannot be evaluated, or is not finite or flat over the grid.
    """
    # The least-squares line is the optimum for the linear model with the MSE loss, and a
    # sensible centre for other losses of a line (the marker then shows the grid's lowest point).
    center = landscape.least_squares()
    (w_lo, w_hi), (b_lo, b_hi) = _covered(paths, center)
    grid_w, grid_b = np.meshgrid(
        np.linspace(w_lo, w_hi, resolution), np.linspace(b_lo, b_hi, resolution)
    )
    grid_loss = landscape.values(grid_w, grid_b)
    if landscape.exact and center is not None:
        optimum, optimum_label = center, "least squares"
    else:
        index = np.unravel_index(np.argmin(grid_loss), grid_loss.shape)
        optimum = (float(grid_w[index]), float(grid_b[index]))
        optimum_label = "lowest grid point"
    low, levels = _levels(grid_loss)
    return Grid(grid_w, grid_b, grid_loss, low, levels, optimum, optimum_label)


#: How far beyond the box of the start and the optimum a path may go and stay in view, in
#: multiples of that box's half-width along each axis: further out, the bowl around the
#: optimum would shrink to a few pixels, so the view stops there and an arrow points on.
_FOLLOW_REACH = 4.0


class Window(NamedTuple):
    """What a view that follows a path shows: its ranges and which of the path's points."""

    w: tuple[float, float]  # (low, high) of the view along w
    b: tuple[float, float]  # (low, high) of the view along b
    n_shown: int  # the first n_shown points of the path are drawn (all of them, or up to the exit)
    exit: int | None  # index of the first point outside the view, or None


def _half_widths(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width (never 0) of the box around the points, per axis."""
    low = np.array([w.min(), b.min()], dtype=float)
    high = np.array([w.max(), b.max()], dtype=float)
    center = 0.5 * (low + high)
    half = np.maximum.reduce([0.5 * (high - low), np.full(2, 0.5), 0.05 * np.abs(center)])
    return center, half


def follow_window(
    w_path: np.ndarray, b_path: np.ndarray, keep: list[tuple[float, float]]
) -> Window:
    """The view of a path: it holds the start, the points ``keep`` (the optimum) and every
    point of the path within reach of them (``_FOLLOW_REACH`` half-widths of their box), the
    end included when it is.

    A path that leaves that reach for good (it diverged) is shown up to its last point before
    the first exit (``exit`` is the index of that first point outside); one that leaves and
    comes back is shown in full, the part outside cut off at the edge of the view.

    Args:
        w_path: ``w`` at each recorded step, shape ``(k,)``, finite.
        b_path: ``b`` at each recorded step, shape ``(k,)``, finite.
        keep: ``(w, b)`` points to keep in view (the minimum), possibly none.
    """
    w_path, b_path = np.asarray(w_path, dtype=float), np.asarray(b_path, dtype=float)
    anchor_w = np.r_[w_path[:1], [float(point[0]) for point in keep]]
    anchor_b = np.r_[b_path[:1], [float(point[1]) for point in keep]]
    center, half = _half_widths(anchor_w, anchor_b)
    reach = (_FOLLOW_REACH + 1.0) * half
    inside = (np.abs(w_path - center[0]) <= reach[0]) & (np.abs(b_path - center[1]) <= reach[1])
    outside = np.flatnonzero(~inside)
    exit_index = int(outside[0]) if outside.size else None
    n_shown = w_path.size if inside[-1] else int(exit_index)
    shown = inside.copy()
    shown[n_shown:] = False
    shown_w, shown_b = np.r_[anchor_w, w_path[shown]], np.r_[anchor_b, b_path[shown]]
    center, half = _half_widths(shown_w, shown_b)
    half = half * 1.15  # a margin, so that no point sits on the edge
    return Window(
        (float(center[0] - half[0]), float(center[0] + half[0])),
        (float(center[1] - half[1]), float(center[1] + half[1])),
        n_shown,
        exit_index,
    )
