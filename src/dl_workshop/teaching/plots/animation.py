"""An animated descent: the path moving over the loss bowl beside the loss curve, as a GIF.

Written with matplotlib's animation module and its Pillow writer: no external programs
(ffmpeg, ImageMagick) are needed. The bowl is drawn once; each frame moves the path's head and
the loss curve's, so a frame costs one redraw of a small canvas.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dl_workshop._validation import check_int, check_positive, describe
from dl_workshop.fitting.optimization import FitResult
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._bowl import Landscape
from dl_workshop.teaching.plots._trajectory import path_arrays
from dl_workshop.teaching.plots._views import BowlView, LossView, freeze_background

__all__ = ["animate_descent"]

_NOT_A_RESULT = (
    "result must be a FitResult from fit(..., record_every=k) (it holds the losses and the "
    "path); got {}"
)
_NOT_A_GIF = "path must name a .gif file; got {}"
_DATA_PAIR = "pass both x and y (the bowl needs the data) or neither; got only {}"
_NO_LOSSES = "result has no losses to draw (a run of 0 steps)"

#: Figure size in inches and resolution of the GIF: 864 x 360 pixels.
_SIZE = (9.6, 4.0)
_DPI = 90


def _frame_indices(n_points: int, n_frames: int) -> np.ndarray:
    """Which of ``n_points`` recorded path points the ``n_frames`` frames show, increasing.

    Spaced geometrically in the step number (a descent moves most at the start), starting at
    the first point and ending at the last; all points when there are at most ``n_frames``.

    Example:
        >>> _frame_indices(5, 10).tolist()
        [0, 1, 2, 3, 4]
        >>> _frame_indices(201, 8).tolist()
        [0, 1, 4, 9, 20, 43, 93, 200]
    """
    if n_points <= n_frames:
        return np.arange(n_points)
    picked = np.unique(np.round(np.geomspace(1, n_points, n_frames)).astype(int) - 1)
    # Rounding merges the first few; fill up with the points evenly spaced among the rest.
    rest = np.setdiff1d(np.arange(n_points), picked)
    missing = n_frames - picked.size
    extra = rest[np.round(np.linspace(0, rest.size - 1, missing)).astype(int)] if missing else []
    return np.unique(np.concatenate([picked, extra]).astype(int))


def _output_path(path: Any) -> Path:
    """``path`` as a Path ending in ``.gif``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(_NOT_A_GIF.format(describe(path)))
    out = Path(path)
    if out.suffix.lower() != ".gif":
        raise ValueError(_NOT_A_GIF.format(repr(str(out))))
    return out


def _landscape(x: Any, y: Any, model: Any, loss: Any, result: FitResult) -> Landscape | None:
    """The bowl's data, model and loss, or ``None`` without data."""
    if (x is None) != (y is None):
        raise ValueError(_DATA_PAIR.format("x" if y is None else "y"))
    if x is None:
        return None
    return Landscape(x, y, model, loss, result)


def _figure(result: FitResult, landscape: Landscape | None) -> tuple[Any, BowlView, LossView]:
    """The figure on an Agg canvas (no pyplot state), the bowl on the left, the loss right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=[1.25, 1])
    w_path, b_path = path_arrays(result, "result")
    label = "mse" if landscape is None or landscape.loss is mseloss else "loss"
    bowl = BowlView(left, landscape, w_path, b_path, loss_label=label)
    left.set_title("the path down the bowl")
    losses = LossView(right, np.asarray(result.losses))
    freeze_background(figure, [*bowl.moving, *losses.moving])
    return figure, bowl, losses


def animate_descent(
    result: FitResult,
    path: str | os.PathLike[str],
    *,
    x: Any = None,
    y: Any = None,
    model: Callable[[Any, Any], Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
    frames: int = 30,
    fps: float = 8.0,
) -> Path:
    """Write a GIF of a descent: the path moving over the loss bowl beside the loss curve.

    Each frame shows the path up to one recorded step (its head a large dot) and, on the right,
    the loss curve up to that step (log scale). Frames are spaced geometrically in the step
    number, so the fast start is not over in one frame. With ``x`` and ``y`` the path moves over
    the bowl of ``loss`` (contours, optimum star); without them over plain ``(w, b)`` axes.

    Args:
        result: a :class:`~dl_workshop.FitResult` from ``fit(..., record_every=k)`` of a model
            with one scalar ``w`` and one scalar ``b``.
        path: the GIF to write (a ``.gif`` name); its folder must exist.
        x: the fit's inputs, shape ``(n,)``, for the bowl (optional, with ``y``).
        y: the fit's targets, shape ``(n,)``.
        model: ``model(theta, x)`` of the fit.
        loss: ``loss(theta, model, x, y)`` of the fit.
        frames: the most frames to write, >= 1 (fewer when fewer points were recorded).
        fps: frames per second, > 0.

    Returns:
        The path written.

    Raises:
        TypeError: if ``result`` is not a FitResult, or ``path`` not a file name.
        ValueError: for a result without a path or losses, a name not ending in ``.gif``, or
            only one of ``x`` and ``y``.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.lesson.data import x, make_y
        >>> y = make_y(x, seed=0)
        >>> result = fit({"w": -4.0, "b": -5.0}, linear_model, mseloss, x, y, 300, 0.05,
        ...              record_every=10, progress=False)
        >>> gif = animate_descent(result, pathlib.Path(tempfile.mkdtemp()) / "d.gif", x=x, y=y,
        ...                       frames=12)
        >>> Image.open(gif).n_frames
        12
    """
    from matplotlib.animation import PillowWriter

    if not isinstance(result, FitResult):
        raise TypeError(_NOT_A_RESULT.format(describe(result)))
    out = _output_path(path)
    frames = check_int(frames, "frames", minimum=1)
    fps = check_positive(fps, "fps")
    if np.size(result.losses) == 0:
        raise ValueError(_NO_LOSSES)
    w_path, b_path = path_arrays(result, "result")
    figure, bowl, losses = _figure(result, _landscape(x, y, model, loss, result))
    shown = _frame_indices(w_path.size, frames)
    steps = np.asarray(result.path_steps)

    # The writer itself, not FuncAnimation.save: save redraws the whole figure once more per
    # frame (draw_idle) before the writer draws it, which tripled the time of this small GIF.
    writer = PillowWriter(fps=fps)
    with writer.saving(figure, out, dpi=_DPI):
        for index in shown:
            bowl.show(w_path[: index + 1], b_path[: index + 1])
            losses.show(int(steps[index]))
            writer.grab_frame()
    return out
