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
from dl_workshop.fitting.optimization import fit
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._bowl import Landscape
from dl_workshop.teaching.plots._trajectory import path_arrays
from dl_workshop.teaching.plots._views import (
    BowlView,
    FollowView,
    LineView,
    draw_run_losses,
    freeze_background,
)
from dl_workshop.teaching.widgets.verdict import WORKS, Verdict, judge, learner_message

__all__ = ["explore_line", "explore_step_size"]

#: The message when ipywidgets is missing.
NEEDS_IPYWIDGETS = (
    "dl_workshop.teaching.widgets needs ipywidgets, which comes with the lesson extra: "
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
#: Every step's parameters are recorded: a path sampled more sparsely hides an overshoot
#: that flips sides on every step.
_RECORD_EVERY = 1

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
    import html
    import io

    from IPython.display import HTML, Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    display(Image(data=buffer.getvalue(), format="png"))
    if text:
        # A paragraph that wraps between words (a printed stream breaks words at the edge).
        display(HTML(f'<p style="max-width: 50em">{html.escape(text)}</p>'))


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


#: The note beside every explorer's controls: after a kernel restart the sliders still move in
#: the page, but no kernel is there to redraw the figure.
RESTART_NOTE = (
    "<small><i>Nothing redraws when you move a slider? After a kernel restart, run this "
    "cell again.</i></small>"
)


def _finish(widgets: Any, explorer: Any, figure: Any) -> Any:
    """``explorer`` with the restart note between its controls and its output, and its
    ``.figure``."""
    note = widgets.HTML(RESTART_NOTE)
    *controls, output = explorer.children
    explorer.children = (*controls, note, output)
    explorer.figure = figure
    return explorer


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
        An ``ipywidgets.interactive`` (children: the ``w`` slider, the ``b`` slider, a note
        to run the cell again after a kernel restart, the output) whose ``.result`` is the
        mean squared error at the sliders' values and whose ``.figure`` is the matplotlib
        Figure.

    Raises:
        ImportError: if ipywidgets is not installed (it comes with the ``lesson`` extra).
        ValueError, TypeError: for invalid data.

    Example:
        >>> from dl_workshop.lesson.data import x, make_y
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
    return _finish(widgets, explorer, figure)


@functools.lru_cache(maxsize=256)
def _optimizer(name: str, step_size: float) -> Any:
    """The optax optimizer ``name`` with ``step_size``, built once per pair: fit compiles its
    loop per optimizer object, so a slider returning to a value reuses the compiled loop."""
    factory = OPTIMIZERS[name]
    return None if factory is None else factory(step_size)


#: The step sizes the step-size slider offers (log scale, as the FloatLogSlider steps).
_SLIDER_STEPS = 10.0 ** np.round(np.arange(-5.0, 0.0001, 0.05), 2)
#: Most extra fits made to find the largest step size that works, when a run blew up.
_MAX_SEARCH_FITS = 8


class _StepSizeRuns:
    """The fits :func:`explore_step_size` makes, and the figure that shows the latest one."""

    def __init__(self, x: np.ndarray, y: np.ndarray, model: Any, loss: Any, start: Any) -> None:
        self.x, self.y, self.model, self.loss, self.start = x, y, model, loss, start
        self.figure, self.left, self.right = _figure()
        self.label = "mse" if loss is mseloss else "loss"
        landscape = Landscape(x, y, model, loss, start)
        self.bowl = FollowView(self.right, landscape, loss_label=self.label)
        self.works: dict[tuple[float, int, str], bool] = {}
        self.message: str | None = None

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

    def _works(self, step_size: float, n_steps: int, optimizer: str) -> bool:
        """Whether a run with these settings is neither blowing up nor rising (remembered)."""
        key = (float(step_size), int(n_steps), optimizer)
        if key not in self.works:
            verdict = judge(self.run(step_size, n_steps, optimizer))
            self.works[key] = verdict.kind in WORKS
        return self.works[key]

    def largest_working_step(self, step_size: float, n_steps: int, optimizer: str) -> float | None:
        """The largest slider step size below ``step_size`` whose run works (bisection on the
        slider's values, at most ``_MAX_SEARCH_FITS`` fits); ``None`` if the smallest fails."""
        low, high = 0, int(np.searchsorted(_SLIDER_STEPS, step_size * (1 - 1e-9)))
        for _ in range(_MAX_SEARCH_FITS):
            if high - low <= 1:
                break
            middle = (low + high) // 2
            if self._works(_SLIDER_STEPS[middle], n_steps, optimizer):
                low = middle
            else:
                high = middle
        if not self._works(_SLIDER_STEPS[low], n_steps, optimizer):
            return None
        return float(_SLIDER_STEPS[low])

    def _with_bad_step(
        self, verdict: Verdict, step_size: float, w_path: Any, b_path: Any, steps: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The path with the point the step that blew up went to (gradient descent's step from
        the last good point), when that point is finite: it shows how far the step overshot."""
        import jax

        theta = verdict.result.theta
        try:
            grads = jax.grad(self.loss)(theta, self.model, self.x, self.y)
            w_bad = float(theta["w"] - step_size * grads["w"])
            b_bad = float(theta["b"] - step_size * grads["b"])
        except Exception:  # a user's loss, or parameters not a {"w", "b"} dict: leave it out
            return w_path, b_path, steps
        if not np.isfinite([w_bad, b_bad]).all():
            return w_path, b_path, steps
        return np.r_[w_path, w_bad], np.r_[b_path, b_bad], np.r_[steps, verdict.bad_step]

    def draw(self, outcome: FitResult | DivergenceError, step_size: float, n_steps: int,
             optimizer: str) -> str | None:  # fmt: skip
        """Redraw the loss curve and the path for ``outcome``; return the message to show."""
        verdict = judge(outcome)
        self.works[(float(step_size), int(n_steps), optimizer)] = verdict.kind in WORKS
        result = verdict.result
        losses = np.asarray(result.losses, dtype=float)
        if verdict.kind == "blew up":
            title = f"step size {step_size:.3g}: the loss blew up at step {verdict.bad_step}"
        elif verdict.kind == "rising":
            title = f"step size {step_size:.3g}: the loss keeps rising"
        elif verdict.kind == "bouncing":
            title = f"step size {step_size:.3g}: the loss does not settle"
        else:
            title = f"step size {step_size:.3g}: loss {losses[-1]:.4g}"
        draw_run_losses(self.left, losses, verdict.bad_step, self.label, title)
        w_path, b_path = path_arrays(result, "result")
        steps = np.asarray(result.path_steps)
        if verdict.kind == "blew up" and optimizer == "gradient descent":
            w_path, b_path, steps = self._with_bad_step(verdict, step_size, w_path, b_path, steps)
        self.bowl.show(w_path, b_path, steps, losses)
        good = None
        if verdict.kind not in WORKS and verdict.bad_step != 0:  # at 0 no step size helps
            good = self.largest_working_step(step_size, n_steps, optimizer)
        self.message = learner_message(verdict, step_size, good)
        return self.message


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
    further on every step until the loss blows up (the fit stops with a
    :class:`~dl_workshop.DivergenceError`) or keeps rising. Every step is drawn, up to the
    last one whose loss was finite. The bowl is redrawn around each run: its start, its end
    and the minimum in view, or, for a run that runs away, its last point in view and an
    arrow off the edge. A run that blows up or keeps rising is told so in plain words under
    the figure (``.message``), with the largest step size on the slider that works for the
    same settings (found by a few more fits); a run whose first steps overshoot but that
    comes back down is fine. The practitioner's detail (the curvature, ``2/L``) stays in the
    DivergenceError.

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
        optimizer dropdown, a note to run the cell again after a kernel restart, the output)
        whose ``.result`` is the latest :class:`~dl_workshop.FitResult`, or the
        :class:`~dl_workshop.DivergenceError` when the run diverged; whose ``.message`` is
        what is said under the figure (``None`` for a run that went well); and whose
        ``.figure`` is the matplotlib Figure.

    Raises:
        ImportError: if ipywidgets is not installed (it comes with the ``lesson`` extra).
        ValueError, TypeError: for invalid data or settings.

    Example:
        >>> from dl_workshop.lesson.data import x, make_y
        >>> explorer = explore_step_size(x, make_y(x, seed=0))
        >>> type(explorer.result).__name__
        'FitResult'
        >>> explorer.children[0].value = 0.5  # too large: gradient descent diverges
        >>> type(explorer.result).__name__, round(explorer.result.suggested_step_size, 3)
        ('DivergenceError', 0.059)
        >>> print(explorer.message)  # doctest: +ELLIPSIS
        The step size 0.5 is too large: ... Try a step size of at most 0.112.
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

    made: list[Any] = []  # the explorer, once made (the first update runs while it is made)

    def update(step_size: float, n_steps: int, optimizer: str) -> FitResult | DivergenceError:
        outcome = runs.run(step_size, n_steps, optimizer)
        message = runs.draw(outcome, step_size, n_steps, optimizer)
        for explorer in made:
            explorer.message = message
        _show(runs.figure, message)
        return outcome

    explorer = widgets.interactive(
        update, clear_output=_in_notebook(), step_size=step_slider, n_steps=steps_slider,
        optimizer=choice,
    )  # fmt: skip
    made.append(explorer)
    explorer.message = runs.message
    return _finish(widgets, explorer, runs.figure)
