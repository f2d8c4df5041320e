"""Interactive explorers for the lesson notebooks: move ``w`` and ``b``, or the step size, and
watch the line, the loss and the path on the loss bowl change.

Each explorer is an ``ipywidgets.interactive``: sliders above, the figure below, and
``.result`` holding what the sliders' current values give (the mean squared error of the line,
or the latest fit). Setting a slider's ``.value`` from code runs the same update, so the
explorers also work, and are tested, without a browser. The figure is drawn with matplotlib's
object API (no pyplot state) and shown as a PNG image in the notebook; ``.figure`` is the
matplotlib Figure.

ipywidgets comes with the ``lesson`` extra (``pip install "dl-workshop[lesson]"``); it is
imported when an explorer is made, so ``import dl_workshop`` works without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import optax

from dl_workshop._validation import as_data, check_int, check_positive, check_same_length
from dl_workshop.engine.divergence import DivergenceError
from dl_workshop.engine.result import FitResult
from dl_workshop.losses import mseloss
from dl_workshop.model import linear_model
from dl_workshop.optimization import fit
from dl_workshop.plots._bowl import Landscape
from dl_workshop.plots._trajectory import path_arrays
from dl_workshop.plots._views import BowlView, LineView, freeze_background
from dl_workshop.plots.curves import plot_loss

__all__ = ["explore_line", "explore_step_size"]

#: The message when ipywidgets is missing.
NEEDS_IPYWIDGETS = (
    "dl_workshop.widgets needs ipywidgets, which comes with the lesson extra: "
    'pip install "dl-workshop[lesson]" (or pip install ipywidgets)'
)

#: The optimizers :func:`explore_step_size` offers: name -> optax factory of the step size
#: (``None``: the built-in gradient descent).
OPTIMIZERS: dict[str, Callable[[float], Any] | None] = {
    "gradient descent": None,
    "momentum": lambda step: optax.sgd(step, momentum=0.9),
    "adam": optax.adam,
}

#: Steps per compiled call, and parameters recorded every this many steps: fixed, so that a
#: new number of steps (a multiple of the chunk) reuses the compiled loop.
_CHUNK = 50
_RECORD_EVERY = 5

#: Figure size (inches) and resolution of the explorers' figures.
_SIZE = (10.0, 3.8)
_DPI = 80


def _ipywidgets() -> Any:
    """The ipywidgets module, or an ImportError naming the extra that provides it."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(NEEDS_IPYWIDGETS) from exc
    return ipywidgets


def _in_notebook() -> bool:
    """Whether an IPython shell runs this (a notebook's kernel): then figures are shown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _show(figure: Any, text: str | None = None) -> None:
    """Show ``figure`` as a PNG (and ``text`` under it) in the notebook; nothing elsewhere."""
    if not _in_notebook():
        return
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    display(Image(data=buffer.getvalue(), format="png"))
    if text:
        print(text)


def _figure() -> tuple[Any, Any, Any]:
    """A figure on an Agg canvas with two Axes side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    return figure, left, right


def _line_data(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float64 arrays of shape ``(n,)``, checked."""
    x_arr = np.asarray(as_data(x, "x", dtype="float64", ndims=(1,), host=True))
    y_arr = np.asarray(as_data(y, "y", dtype="float64", ndims=(1,), host=True))
    check_same_length(x_arr, y_arr)
    return x_arr, y_arr


def _slider(widgets: Any, name: str, center: float, half: float, value: float) -> Any:
    """A float slider over ``center ± half`` starting at ``value`` (clipped into the range)."""
    low, high = center - half, center + half
    return widgets.FloatSlider(
        value=float(np.clip(value, low, high)), min=low, max=high, step=half / 200,
        description=name, continuous_update=True, readout_format=".3g",
    )  # fmt: skip


def explore_line(x: Any, y: Any, *, w: float = 0.0, b: float = 0.0) -> Any:
    """Sliders for ``w`` and ``b``: the data, the line ``w x + b``, its residuals and its mean
    squared error, and the point ``(w, b)`` on the loss bowl.

    Fitting by hand: move the sliders until the residuals (red segments) are as short as you
    can make them; the point on the bowl on the right walks to the bottom (the star, the
    least-squares line) as the error falls.

    Args:
        x: inputs, shape ``(n,)``.
        y: targets, shape ``(n,)``.
        w: the slope to start at (clipped into the slider's range).
        b: the intercept to start at (clipped into the slider's range).

    Returns:
        An ``ipywidgets.interactive`` (children: the ``w`` slider, the ``b`` slider, the
        output) whose ``.result`` is the mean squared error at the sliders' values and whose
        ``.figure`` is the matplotlib Figure.

    Raises:
        ImportError: if ipywidgets is not installed (it comes with the ``lesson`` extra).
        ValueError, TypeError: for invalid data.

    Example:
        >>> from dl_workshop.data import x, make_y
        >>> explorer = explore_line(x, make_y(x, 2.0, 20.0, noise=0.0))
        >>> w_slider, b_slider = explorer.children[:2]
        >>> w_slider.value, b_slider.value = 2.0, 20.0
        >>> round(explorer.result, 6)
        0.0
    """
    widgets = _ipywidgets()
    x_arr, y_arr = _line_data(x, y)
    landscape = Landscape(x_arr, y_arr, linear_model, mseloss, None)
    w_best, b_best = landscape.least_squares()
    w_half = max(5.0, 2 * abs(w_best))
    b_half = max(10.0, abs(b_best))
    figure, left, right = _figure()
    line = LineView(left, x_arr, y_arr)
    corners_w = np.array([w_best - w_half, w_best + w_half])
    corners_b = np.array([b_best - b_half, b_best + b_half])
    bowl = BowlView(right, landscape, corners_w, corners_b, path_label=None)
    right.set_title("(w, b) on the loss bowl")
    w_slider = _slider(widgets, "w", w_best, w_half, w)
    b_slider = _slider(widgets, "b", b_best, b_half, b)
    line.show(w_slider.value, b_slider.value)
    freeze_background(figure, [*line.moving, *bowl.moving])

    def update(w: float, b: float) -> float:
        error = line.show(w, b)
        bowl.show(np.array([w]), np.array([b]))
        _show(figure)
        return error

    explorer = widgets.interactive(update, clear_output=_in_notebook(), w=w_slider, b=b_slider)
    explorer.figure = figure
    return explorer


@functools.lru_cache(maxsize=256)
def _optimizer(name: str, step_size: float) -> Any:
    """The optax optimizer ``name`` with ``step_size``, built once per pair: fit compiles its
    loop per optimizer object, so a slider returning to a value reuses the compiled loop."""
    factory = OPTIMIZERS[name]
    return None if factory is None else factory(step_size)


class _StepSizeRuns:
    """The fits :func:`explore_step_size` makes, and the figure that shows the latest one."""

    def __init__(self, x: np.ndarray, y: np.ndarray, model: Any, loss: Any, start: Any) -> None:
        self.x, self.y, self.model, self.loss, self.start = x, y, model, loss, start
        self.figure, self.left, self.right = _figure()
        self.bowl: BowlView | None = None
        self.label = "mse" if loss is mseloss else "loss"

    def run(self, step_size: float, n_steps: int, optimizer: str) -> FitResult | DivergenceError:
        """One fit with these settings: its FitResult, or the DivergenceError it raised."""
        try:
            return fit(
                self.start, self.model, self.loss, self.x, self.y, n_steps, step_size,
                optimizer=_optimizer(optimizer, step_size), progress=False,
                record_every=_RECORD_EVERY, checkpoint_every=_CHUNK,
            )  # fmt: skip
        except DivergenceError as error:
            return error

    def frame(self, result: FitResult, diverged: bool) -> None:
        """The bowl, framed once around the first run's path (its start if it diverged)."""
        w_path, b_path = path_arrays(result, "result")
        if diverged:
            w_path, b_path = w_path[:1], b_path[:1]
        landscape = Landscape(self.x, self.y, self.model, self.loss, result)
        self.bowl = BowlView(self.right, landscape, w_path, b_path, loss_label=self.label)
        self.right.set_title("the path on the loss bowl")

    def draw(self, outcome: FitResult | DivergenceError, step_size: float) -> str | None:
        """Redraw the loss curve and the path for ``outcome``; return the divergence message."""
        diverged = isinstance(outcome, DivergenceError)
        result = outcome.result if diverged else outcome
        if self.bowl is None:
            self.frame(result, diverged)
        self.left.clear()
        if np.size(result.losses):
            plot_loss(result, ax=self.left, log_scale=bool(np.all(result.losses > 0)))
            self.left.set_ylabel(self.label)
        w_path, b_path = path_arrays(result, "result")
        self.bowl.show(w_path, b_path)
        if not diverged:
            self.left.set_title(f"step size {step_size:.3g}: loss {result.losses[-1]:.4g}")
            return None
        self.left.set_title(f"step size {step_size:.3g}: diverged at step {outcome.step}")
        return str(outcome)


def explore_step_size(
    x: Any,
    y: Any,
    *,
    model: Callable[[Any, Any], Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
    start: Any = None,
    step_size: float = 0.01,
    n_steps: int = 200,
) -> Any:
    """Sliders for the step size (log scale) and the number of steps, and a choice of optimizer
    (gradient descent, momentum, Adam): every change reruns the compiled fit and redraws the
    loss curve and the path on the loss bowl.

    Too small a step crawls, a good one slides to the bottom, and too large a one overshoots
    further on every step until the fit stops with a :class:`~dl_workshop.DivergenceError`,
    whose message (shown under the figure) suggests a step size that works. The bowl is framed
    around the first run's path; later paths may leave it.

    Args:
        x: inputs, shape ``(n,)``.
        y: targets, shape ``(n,)``.
        model: ``model(theta, x)`` with one scalar ``w`` and one scalar ``b`` (e.g.
            :func:`~dl_workshop.logistic_model`).
        loss: ``loss(theta, model, x, y)`` (e.g. :func:`~dl_workshop.logistic_loss`).
        start: the starting parameters, a dict ``{"w": ..., "b": ...}`` (default both 0).
        step_size: the step size to start at, in ``[1e-5, 1]``.
        n_steps: the number of steps to start at, a multiple of 50 in ``[50, 2000]``.

    Returns:
        An ``ipywidgets.interactive`` (children: the step-size slider, the steps slider, the
        optimizer dropdown, the output) whose ``.result`` is the latest
        :class:`~dl_workshop.FitResult`, or the :class:`~dl_workshop.DivergenceError` when the
        run diverged, and whose ``.figure`` is the matplotlib Figure.

    Raises:
        ImportError: if ipywidgets is not installed (it comes with the ``lesson`` extra).
        ValueError, TypeError: for invalid data or settings.

    Example:
        >>> from dl_workshop.data import x, make_y
        >>> explorer = explore_step_size(x, make_y(x, seed=0))
        >>> type(explorer.result).__name__
        'FitResult'
        >>> explorer.children[0].value = 0.5  # too large: gradient descent diverges
        >>> type(explorer.result).__name__, round(explorer.result.suggested_step_size, 3)
        ('DivergenceError', 0.059)
    """
    widgets = _ipywidgets()
    x_arr, y_arr = _line_data(x, y)
    step_size = float(np.clip(check_positive(step_size, "step_size"), 1e-5, 1.0))
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    start = {"w": 0.0, "b": 0.0} if start is None else start
    runs = _StepSizeRuns(x_arr, y_arr, model, loss, start)
    step_slider = widgets.FloatLogSlider(
        value=step_size, base=10, min=-5, max=0, step=0.05, description="step size",
        continuous_update=False, readout_format=".3g",
    )  # fmt: skip
    steps_slider = widgets.IntSlider(
        value=int(np.clip(round(n_steps / _CHUNK) * _CHUNK, _CHUNK, 2000)), min=_CHUNK,
        max=2000, step=_CHUNK, description="steps", continuous_update=False,
    )  # fmt: skip
    choice = widgets.Dropdown(options=list(OPTIMIZERS), description="optimizer")

    def update(step_size: float, n_steps: int, optimizer: str) -> FitResult | DivergenceError:
        outcome = runs.run(step_size, n_steps, optimizer)
        message = runs.draw(outcome, step_size)
        _show(runs.figure, message)
        return outcome

    explorer = widgets.interactive(
        update, clear_output=_in_notebook(), step_size=step_slider, n_steps=steps_slider,
        optimizer=choice,
    )  # fmt: skip
    explorer.figure = runs.figure
    return explorer
