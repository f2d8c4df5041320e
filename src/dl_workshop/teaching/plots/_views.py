"""Figures drawn once and then moved: the bowl with a path and its head, the loss curve up to
a step, and the data with a line and its residuals.

The expensive part (the bowl's grid and contours) is drawn when a view is made; moving it
(:meth:`BowlView.show`, :meth:`LossView.show`, :meth:`LineView.show`) only changes the data of
a few artists, so an animation frame or a slider move costs one redraw of the canvas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dl_workshop.teaching.plots._bowl import Landscape, Window, bowl_grid, follow_window
from dl_workshop.teaching.plots._draw import draw_bowl
from dl_workshop.teaching.plots._trajectory import Trajectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Colour of the moving path and its head (the single-path colour of the landscape plot).
MOVING_COLOR = "tab:red"

#: Grid points along each axis of a view's bowl: coarser than the static plot's 120, as the
#: view is drawn small and made often.
VIEW_RESOLUTION = 60


class BowlView:
    """The loss bowl over a fixed window of ``(w, b)``, with a path and its head to move.

    Args:
        ax: a 2-D Axes.
        landscape: the data, model and loss; ``None`` draws plain ``(w, b)`` axes.
        window_w: values of ``w`` the window must cover, shape ``(k,)``.
        window_b: values of ``b`` the window must cover, shape ``(k,)``.
        path_label: the path's legend entry; ``None`` leaves it out (a single point moves).
        loss_label: the colour bar's label.
    """

    def __init__(
        self,
        ax: Axes,
        landscape: Landscape | None,
        window_w: np.ndarray,
        window_b: np.ndarray,
        path_label: str | None = "path",
        loss_label: str = "mse",
    ) -> None:
        window = Trajectory("window", np.asarray(window_w), np.asarray(window_b), "none")
        if landscape is not None:
            grid = bowl_grid(landscape, [window], VIEW_RESOLUTION)
            draw_bowl(ax, grid, loss_label)
            ax.set_xlim(float(grid.w.min()), float(grid.w.max()))
            ax.set_ylim(float(grid.b.min()), float(grid.b.max()))
        else:
            _frame_window(ax, window)
        (self.path,) = ax.plot(
            [], [], color=MOVING_COLOR, linewidth=1.8, marker=".", markersize=3, gid="path",
            label=path_label or "_nolegend_",
        )  # fmt: skip
        (self.head,) = ax.plot(
            [], [], color=MOVING_COLOR, marker="o", markersize=9, linestyle="none",
            markeredgecolor="white", gid="current", label="(w, b)",
        )  # fmt: skip
        ax.legend(loc="lower right", fontsize="small", framealpha=0.9)

    @property
    def moving(self) -> list[Any]:
        """The artists :meth:`show` changes."""
        return [self.path, self.head]

    def show(self, w_path: np.ndarray, b_path: np.ndarray) -> None:
        """Draw the path ``(w_path, b_path)`` (shape ``(j,)``), its head at the last point."""
        self.path.set_data(w_path, b_path)
        self.head.set_data(w_path[-1:], b_path[-1:])


class FollowView:
    """The loss bowl drawn anew for each path, framed around it: the start, the end and the
    minimum in view, or, for a path that runs away, its last point in view and an arrow
    pointing off the edge (see :func:`~dl_workshop.teaching.plots._bowl.follow_window`).

    The minimum kept in view is the least-squares solution for the linear model with the MSE
    loss; for other models and losses, the lowest-loss point of all the paths shown so far.

    Args:
        ax: a 2-D Axes (cleared on every :meth:`show`).
        landscape: the data, model and loss.
        loss_label: the colour bar's label.
    """

    def __init__(self, ax: Axes, landscape: Landscape, loss_label: str = "mse") -> None:
        self.ax, self.landscape, self.loss_label = ax, landscape, loss_label
        self.colorbar: Any = None
        self.window: Window | None = None
        self.best: tuple[float, float, float] | None = None  # (loss, w, b) lowest seen
        self.exact = landscape.least_squares() if landscape.exact else None

    def _keep(self, w_path: np.ndarray, b_path: np.ndarray, losses: np.ndarray) -> list:
        """The minimum to keep in view, after taking this path's lowest loss into account."""
        finite = np.flatnonzero(np.isfinite(losses[: w_path.size]))
        if finite.size:
            i = int(finite[np.argmin(losses[finite])])
            if self.best is None or losses[i] < self.best[0]:
                self.best = (float(losses[i]), float(w_path[i]), float(b_path[i]))
        if self.exact is not None:
            return [self.exact]
        return [] if self.best is None else [self.best[1:]]

    def show(
        self, w_path: np.ndarray, b_path: np.ndarray, steps: np.ndarray, losses: np.ndarray
    ) -> Window:
        """Draw the bowl around the path ``(w_path, b_path)`` (shape ``(k,)``, recorded at
        ``steps``; ``losses[i]`` the loss at point ``i``), the path, its start and its last
        point in view; return the window shown."""
        ax = self.ax
        ax.clear()
        window = follow_window(w_path, b_path, self._keep(w_path, b_path, np.asarray(losses)))
        self._bowl(window)
        ax.set_xlim(*window.w)
        ax.set_ylim(*window.b)
        last = window.n_shown - 1
        ax.plot(
            w_path[: last + 1], b_path[: last + 1], color=MOVING_COLOR, linewidth=1.5,
            marker=".", markersize=4, gid="path", label="path",
        )  # fmt: skip
        ax.plot(
            w_path[:1], b_path[:1], color=MOVING_COLOR, marker="o", markersize=8,
            linestyle="none", markeredgecolor="white", gid="path-start", label="start", zorder=4,
        )  # fmt: skip
        ax.plot(
            w_path[last : last + 1], b_path[last : last + 1], color=MOVING_COLOR, marker="s",
            markersize=8, linestyle="none", markeredgecolor="white", gid="current", zorder=4,
            label="end" if last == w_path.size - 1 else "last point in view",
        )  # fmt: skip
        if window.exit is not None:
            _off_view_arrow(ax, window, w_path, b_path, steps)
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
        ax.set_title("the path on the loss bowl")
        self.window = window
        return window

    def _bowl(self, window: Window) -> None:
        """The bowl over ``window`` (plain axes if the loss is not finite or flat there)."""
        corners = Trajectory("window", np.array(window.w), np.array(window.b), "none")
        try:
            grid = bowl_grid(self.landscape, [corners], VIEW_RESOLUTION)
        except ValueError:
            _frame_window(self.ax, corners)
            return
        self.colorbar = draw_bowl(self.ax, grid, self.loss_label, self.colorbar)


def _off_view_arrow(
    ax: Any, window: Window, w_path: np.ndarray, b_path: np.ndarray, steps: np.ndarray
) -> None:
    """An arrow from the last point before the path's exit to the edge, towards the first
    point outside, and where that point is."""
    exit_index = int(window.exit)
    start = np.array([w_path[exit_index - 1], b_path[exit_index - 1]])
    away = np.array([w_path[exit_index], b_path[exit_index]])
    low = np.array([window.w[0], window.b[0]])
    high = np.array([window.w[1], window.b[1]])
    direction = away - start
    # The largest fraction of the way to ``away`` that stays inside the view (slab clipping).
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(direction > 0, (high - start) / direction, (low - start) / direction)
    fraction = float(np.nanmin(np.where(direction != 0, limits, np.inf)))
    edge = start + min(max(fraction, 0.0), 1.0) * 0.97 * direction
    ax.annotate(
        "", xy=tuple(edge), xytext=tuple(start), gid="off-view",
        arrowprops={"arrowstyle": "-|>", "color": MOVING_COLOR, "linewidth": 2,
                    "linestyle": "--", "mutation_scale": 16},
    )  # fmt: skip
    text = f"step {int(steps[exit_index])} left the view, to w = {away[0]:.3g}, b = {away[1]:.3g}"
    ax.text(
        0.5, 0.98, text, transform=ax.transAxes, fontsize=8, color=MOVING_COLOR, ha="center",
        va="top", gid="off-view-label",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.85},
    )  # fmt: skip


def _frame_window(ax: Any, window: Trajectory) -> None:
    """Plain ``(w, b)`` axes covering the window with a margin (no data: no bowl)."""
    for values, set_limits in ((window.w, ax.set_xlim), (window.b, ax.set_ylim)):
        low, high = float(values.min()), float(values.max())
        margin = max(0.1 * (high - low), 0.5)
        set_limits(low - margin, high + margin)
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.grid(True, alpha=0.3)


class LossView:
    """The loss curve of a run, drawn faint in full and strong up to the current step.

    Args:
        ax: a 2-D Axes.
        losses: the loss at each step, shape ``(n,)``, finite.
        label: the y-axis label.
    """

    def __init__(self, ax: Axes, losses: np.ndarray, label: str = "loss") -> None:
        self.losses = np.asarray(losses, dtype=float)
        steps = np.arange(self.losses.size)
        ax.plot(steps, self.losses, color="0.8", linewidth=1.5, gid="loss-all")
        (self.done,) = ax.plot([], [], color="tab:blue", linewidth=2, gid="loss")
        (self.head,) = ax.plot(
            [], [], color="tab:blue", marker="o", markersize=7, linestyle="none", gid="current"
        )
        self.label = ax.text(
            0.97, 0.95, "", transform=ax.transAxes, ha="right", va="top", gid="current-loss"
        )
        if self.losses.size and np.all(self.losses > 0):
            ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        ax.set_title("the loss, step by step")
        ax.grid(True, alpha=0.3)

    @property
    def moving(self) -> list[Any]:
        """The artists :meth:`show` changes."""
        return [self.done, self.head, self.label]

    def show(self, step: int) -> None:
        """Strong up to ``step`` (clipped to the last recorded loss), the head at ``step``."""
        end = min(int(step), self.losses.size - 1)
        self.done.set_data(np.arange(end + 1), self.losses[: end + 1])
        self.head.set_data([end], self.losses[end : end + 1])
        self.label.set_text(f"step {int(step)}: loss {self.losses[end]:.4g}")


def draw_run_losses(
    ax: Axes, losses: np.ndarray, bad_step: int | None, label: str, title: str
) -> None:
    """The loss at every step of a run (shape ``(n,)``), as points when there are few, on
    integer iteration ticks; a run that blew up at ``bad_step`` gets a mark at that step."""
    from matplotlib.ticker import MaxNLocator

    losses = np.asarray(losses, dtype=float)
    ax.clear()
    ax.plot(
        np.arange(losses.size), losses, color="tab:blue", linewidth=1.5,
        marker="o" if losses.size <= 60 else None, markersize=4, gid="loss", label=label,
    )  # fmt: skip
    if losses.size and np.all(losses > 0):
        ax.set_yscale("log")
    if bad_step is not None:
        ax.axvline(
            bad_step, color="tab:red", linestyle="--", linewidth=1.5, gid="blew-up",
            label=f"step {bad_step}: the loss blew up",
        )  # fmt: skip
        ax.set_xlim(-0.5, bad_step + 0.5)
        ax.legend(loc="best", fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)


class LineView:
    """Data points, a line ``w x + b`` over them and its residuals (vertical segments).

    Args:
        ax: a 2-D Axes.
        x: inputs, shape ``(n,)``.
        y: targets, shape ``(n,)``.
    """

    def __init__(self, ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
        from matplotlib.collections import LineCollection

        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.residuals = LineCollection([], colors="tab:red", linewidths=0.8, alpha=0.6)
        self.residuals.set_gid("residuals")
        ax.add_collection(self.residuals)
        ax.scatter(self.x, self.y, s=12, color="tab:blue", alpha=0.6, gid="data", label="data")
        # Fixed limits around the data: the view stays put while the line moves (and may leave).
        for values, set_limits in ((self.x, ax.set_xlim), (self.y, ax.set_ylim)):
            low, high = float(values.min()), float(values.max())
            margin = max(0.15 * (high - low), 1.0)
            set_limits(low - margin, high + margin)
        (self.line,) = ax.plot([], [], color="tab:red", linewidth=2, gid="fit", label="w x + b")
        # The changing numbers go into a text inside the Axes, not the title: a title's place is
        # worked out at every draw and jumps once the rest of the figure is frozen.
        self.label = ax.text(
            0.03, 0.95, "", transform=ax.transAxes, ha="left", va="top", gid="current-mse"
        )
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("the data, the line and its residuals")
        ax.legend(loc="lower right", fontsize="small")
        ax.grid(True, alpha=0.3)

    def show(self, w: float, b: float) -> float:
        """Draw the line ``w x + b`` and its residuals; return the mean squared error."""
        prediction = w * self.x + b
        ends = np.linspace(self.x.min(), self.x.max(), 2)
        self.line.set_data(ends, w * ends + b)
        segments = np.stack(
            [np.column_stack([self.x, self.y]), np.column_stack([self.x, prediction])], axis=1
        )
        self.residuals.set_segments(segments)
        error = float(np.mean((self.y - prediction) ** 2))
        self.label.set_text(f"w = {w:.3g}, b = {b:.3g}: mse = {error:.4g}")
        return error

    @property
    def moving(self) -> list[Any]:
        """The artists :meth:`show` changes."""
        return [self.line, self.residuals, self.label]


def freeze_background(figure: Any, moving: list[Any]) -> None:
    """Draw everything but the ``moving`` artists once into an image behind them, and hide it.

    A writer (or a widget) draws the whole figure for every frame; with the contours, ticks and
    labels baked into one image, a frame draws that image and a few lines (several times
    faster). The figure must then be drawn at its own ``dpi``.
    """
    # Lay out once, with every artist (a title that moves still needs its room), then keep the
    # layout: constrained layout on every frame would cost more than the drawing itself.
    figure.canvas.draw()
    figure.set_layout_engine(None)
    for artist in moving:
        artist.set_visible(False)
    figure.canvas.draw()
    background = np.asarray(figure.canvas.buffer_rgba()).copy()
    for ax in figure.axes:
        for artist in ax.get_children():
            artist.set_visible(any(artist is keep for keep in moving))
    figure.patch.set_visible(False)
    figure.figimage(background, xo=0, yo=0, origin="upper", zorder=-1)
