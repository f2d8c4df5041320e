"""The loss curve of a fit, and the fit itself over the data (line or parity plot)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dl_workshop._validation import as_data, check_same_length, describe
from dl_workshop.fitting.optimization import FitResult
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._common import check_model, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_fit", "plot_loss"]

_NOT_NUMBERS = "losses must be a 1-D sequence of numbers; got {}"
_NOT_1D = "losses must be a non-empty 1-D sequence; got shape {}"
_BAD_KIND = "kind must be 'auto', 'line' or 'parity'; got {!r}"
_PREDICTION_SHAPE = (
    "the model's predictions must have the shape of y; got predictions of shape {} and y of "
    "shape {}"
)
_LINE_NEEDS_ONE_FEATURE = (
    "kind='line' needs one input feature (x of shape (n,) or (n, 1)); got x of shape {}; use "
    "kind='parity'"
)


def _losses_array(losses: Any) -> np.ndarray:
    """The losses of shape ``(n_steps,)`` as floats, from a sequence or a FitResult."""
    if isinstance(losses, FitResult):
        losses = losses.losses
    if isinstance(losses, (str, bytes)) or losses is None:
        raise TypeError(_NOT_NUMBERS.format(describe(losses)))
    try:
        array = np.asarray(losses, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(_NOT_NUMBERS.format(describe(losses))) from exc
    if array.ndim != 1 or array.size == 0:
        raise ValueError(_NOT_1D.format(tuple(array.shape)))
    return array


def plot_loss(losses: Any, *, ax: Axes | None = None, log_scale: bool = False) -> Axes:
    """Plot the loss at every iteration: it should be going downwards.

    Args:
        losses: the losses, shape ``(n_steps,)`` (e.g. the first value returned by
            :func:`~dl_workshop.model_optimization_loop`), or a :class:`~dl_workshop.FitResult`.
        ax: the Axes to draw into; ``None`` makes a new figure.
        log_scale: draw the loss on a logarithmic axis (shows the slow tail of the descent).

    Returns:
        The Axes, labelled ``iteration`` / ``mse``; the curve is the line with gid ``"loss"``.

    Raises:
        ValueError, TypeError: if ``losses`` is not a non-empty 1-D sequence of numbers.

    Example:
        >>> ax = plot_loss([4.0, 2.0, 1.0, 0.5], log_scale=True)
        >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()
        ('iteration', 'mse', 'log')
    """
    values = _losses_array(losses)
    ax = new_axes(ax)
    ax.plot(np.arange(values.size), values, color="tab:blue", gid="loss", label="mse")
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mse")
    ax.set_title("loss during optimization")
    ax.grid(True, alpha=0.3)
    return ax


def _predict(theta: Any, x: Any, y: Any, model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, predictions)`` as float arrays, the predictions checked to be shaped like ``y``."""
    check_model(model)
    x_arr = np.asarray(as_data(x, "x"), dtype=float)
    y_arr = np.asarray(as_data(y, "y"), dtype=float)
    check_same_length(x_arr, y_arr)
    prediction = np.asarray(model(theta, x_arr), dtype=float)
    if prediction.shape != y_arr.shape:
        raise ValueError(_PREDICTION_SHAPE.format(prediction.shape, y_arr.shape))
    return x_arr, y_arr, prediction


def _resolve_kind(kind: str, x_arr: np.ndarray) -> str:
    """``"line"`` or ``"parity"``: ``kind``, or for ``"auto"`` what suits ``x``'s features."""
    one_feature = x_arr.ndim == 1 or x_arr.shape[1] == 1
    if kind == "line" and not one_feature:
        raise ValueError(_LINE_NEEDS_ONE_FEATURE.format(x_arr.shape))
    if kind == "auto":
        return "line" if one_feature else "parity"
    return kind


def _draw_lines(ax: Axes, x_arr: np.ndarray, y_cols: np.ndarray, pred_cols: np.ndarray) -> None:
    """Data points and the fitted line over the one feature, one colour per output column.

    ``x_arr`` is ``(n,)`` or ``(n, 1)``; ``y_cols`` and ``pred_cols`` are ``(n, d_out)``.
    """
    feature = x_arr.reshape(len(x_arr), -1)[:, 0]
    order = np.argsort(feature, kind="stable")
    n_out = y_cols.shape[1]
    for j in range(n_out):
        color = f"C{j}"
        suffix = f" (output {j + 1})" if n_out > 1 else ""
        ax.scatter(
            feature, y_cols[:, j], s=14, color=color, alpha=0.5, gid="data",
            label=f"data{suffix}",
        )  # fmt: skip
        ax.plot(
            feature[order], pred_cols[order, j], color=color, linewidth=2, gid="fit",
            label=f"fitted line{suffix}",
        )  # fmt: skip
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("data and fitted line")


def _draw_parity(ax: Axes, y_cols: np.ndarray, pred_cols: np.ndarray) -> None:
    """Predicted against true values per output column (both ``(n, d_out)``), and the diagonal."""
    n_out = y_cols.shape[1]
    for j in range(n_out):
        label = f"output {j + 1}" if n_out > 1 else "predictions"
        ax.scatter(
            y_cols[:, j], pred_cols[:, j], s=14, color=f"C{j}", alpha=0.6, gid="predictions",
            label=label,
        )  # fmt: skip
    low = float(min(y_cols.min(), pred_cols.min()))
    high = float(max(y_cols.max(), pred_cols.max()))
    ax.plot(
        [low, high], [low, high], color="0.3", linestyle="--", linewidth=1, gid="identity",
        label="predicted = true",
    )  # fmt: skip
    ax.set_xlabel("true y")
    ax.set_ylabel("predicted y")
    ax.set_title("predicted vs true")


def plot_fit(
    theta: Any,
    x: Any,
    y: Any,
    *,
    model: Callable[[Any, Any], Any] = linear_model,
    ax: Axes | None = None,
    kind: str = "auto",
) -> Axes:
    """Plot the data and the model's predictions.

    With one input feature (scalar form, or matrix form with ``d_in = 1``) the data are drawn as
    points and the fitted line(s) over them, one per output. With several input features the
    predictions are drawn against the true values ("parity plot"), one colour per output, with
    the diagonal ``predicted = true`` that a perfect model would lie on.

    Args:
        theta: the model's parameters (dict, ``(w, b)`` tuple or NamedTuple).
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        model: ``model(theta, x) -> predictions`` shaped like ``y``.
        ax: the Axes to draw into; ``None`` makes a new figure.
        kind: ``"auto"`` (as above), ``"line"`` (data and fitted line; needs one input feature)
            or ``"parity"`` (predicted vs true).

    Returns:
        The Axes. Line form: points with gid ``"data"`` and lines with gid ``"fit"``, labelled
        ``x`` / ``y``. Parity form: points with gid ``"predictions"`` and the diagonal with gid
        ``"identity"``, labelled ``true y`` / ``predicted y``.

    Raises:
        ValueError, TypeError: for invalid data, a ``kind`` that does not fit the data, or
            predictions whose shape differs from ``y``'s.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-5, 5, 20)
        >>> ax = plot_fit({"w": 2.0, "b": 20.0}, x, 2 * x + 20)
        >>> [line.get_gid() for line in ax.get_lines()]
        ['fit']
    """
    if kind not in ("auto", "line", "parity"):
        raise ValueError(_BAD_KIND.format(kind))
    x_arr, y_arr, prediction = _predict(theta, x, y, model)
    kind = _resolve_kind(kind, x_arr)
    ax = new_axes(ax)
    y_cols = y_arr.reshape(len(y_arr), -1)
    pred_cols = prediction.reshape(len(y_arr), -1)
    if kind == "line":
        _draw_lines(ax, x_arr, y_cols, pred_cols)
    else:
        _draw_parity(ax, y_cols, pred_cols)
    ax.legend(loc="best", fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax
