"""Linear regression as a one-layer neural network with the identity activation.

:func:`draw_neural_diagram` is a pipeline: read the model -> check the options -> lay out the
nodes -> draw the edges (so that the nodes cover their ends) -> the input column -> the bias
node -> one row per output (sum, activation, output) -> headers, title and limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dl_workshop._validation import check_int, describe
from dl_workshop.teaching.diagrams._common import finish, format_value, new_axes, shape_title
from dl_workshop.teaching.diagrams._layout import Spec, read_spec, slots
from dl_workshop.teaching.diagrams.colors import (
    ACTIVATION_COLOR,
    BIAS_COLOR,
    INPUT_COLOR,
    OUTPUT_COLOR,
    WEIGHT_COLOR,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_neural_diagram"]

_BAD_ANNOTATE = "annotate must be True, False or None; got {}"

#: Radius of a node, side of the activation box, and the columns' x positions (data units).
_RADIUS = 0.3
_BOX = 0.6
_X_IN, _X_SUM, _X_ACT, _X_OUT = 0.0, 4.0, 5.5, 7.0
_EDGE_LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"}


class _Layout(NamedTuple):
    """Slots and heights of the nodes; ``shown_*`` are the ``(index, y)`` of the drawn ones."""

    in_slots: list[int | None]
    out_slots: list[int | None]
    y_in: list[float]
    y_bias: float
    y_out: list[float]
    shown_in: list[tuple[int, float]]
    shown_out: list[tuple[int, float]]


def _layout(spec: Spec, max_nodes: int) -> tuple[_Layout, tuple[float, float]]:
    """Where the nodes go, and the size in inches of a figure that fits them."""
    in_slots = slots(spec.n_inputs, max_nodes)
    out_slots = slots(spec.n_outputs, max_nodes)
    n_rows_in = len(in_slots) + 1  # + the bias node
    height = max(n_rows_in + 0.4, len(out_slots))
    size = (7.2, max(3.2, 0.62 * height + 1.6))
    # Inputs from the top; the bias node sits a little apart below them.
    y_in = [(n_rows_in - 1) / 2 - k for k in range(len(in_slots))]
    y_bias = y_in[-1] - 1.4 if y_in else 0.0
    center_in = (y_in[0] + y_bias) / 2
    y_out = [center_in + (len(out_slots) - 1) / 2 - k for k in range(len(out_slots))]
    shown_in = [(i, y) for i, y in zip(in_slots, y_in, strict=True) if i is not None]
    shown_out = [(j, y) for j, y in zip(out_slots, y_out, strict=True) if j is not None]
    layout = _Layout(in_slots, out_slots, y_in, y_bias, y_out, shown_in, shown_out)
    return layout, size


def _edge_label(ax: Axes, y0: float, y1: float, text: str, color: str, fraction: float) -> None:
    """``text`` beside the edge from the input column at ``y0`` to the sums at ``y1``, at
    ``fraction`` of its length: on the side away from the edge (above a falling or level edge,
    below a rising one), so that the label never covers its own edge, however small the
    diagram is drawn."""
    rising = y1 > y0
    ax.annotate(
        text, (_X_IN + fraction * (_X_SUM - _X_IN), y0 + fraction * (y1 - y0)),
        xytext=(3, -3 if rising else 3), textcoords="offset points", ha="left",
        va="top" if rising else "bottom", fontsize=8, color=color, gid="edge-label",
        bbox=_EDGE_LABEL_BOX,
    )  # fmt: skip


def _edge(ax: Axes, y0: float, y1: float, **style: Any) -> None:
    """A line from an input-column node at ``y0`` to a sum node at ``y1``."""
    from matplotlib.lines import Line2D

    ax.add_line(Line2D([_X_IN + _RADIUS, _X_SUM - _RADIUS], [y0, y1], zorder=1, **style))


def _draw_weight_edges(ax: Axes, spec: Spec, layout: _Layout, annotate: bool) -> None:
    """One edge per drawn (input, output), thicker for larger ``|w|`` when ``w`` is known."""
    w_scale = None
    if spec.w is not None:
        w_scale = float(np.max(np.abs(spec.w))) or 1.0
    for i, yi in layout.shown_in:
        for j, yj in layout.shown_out:
            width = 1.2
            if spec.w is not None and w_scale:
                width = 0.5 + 2.5 * abs(float(spec.w[i, j])) / w_scale
            _edge(ax, yi, yj, color=WEIGHT_COLOR, linewidth=width, alpha=0.8, gid="weight-edge")
            if annotate:
                text = f"$w_{{{i + 1},{j + 1}}}$"
                if spec.w is not None:
                    text += f" = {format_value(spec.w[i, j])}"
                # Labels of different outputs at different distances, so they do not stack.
                fraction = 0.3 + 0.4 * j / len(layout.shown_out)
                _edge_label(ax, yi, yj, text, WEIGHT_COLOR, fraction)


def _draw_bias_edges(ax: Axes, spec: Spec, layout: _Layout, annotate: bool) -> None:
    """One dashed edge from the constant-1 node to each drawn output's sum."""
    for j, yj in layout.shown_out:
        _edge(
            ax, layout.y_bias, yj, color=BIAS_COLOR, linewidth=1.2, linestyle="--", alpha=0.9,
            gid="bias-edge",
        )  # fmt: skip
        if annotate:
            text = f"$b_{{{j + 1}}}$"
            if spec.b is not None:
                text += f" = {format_value(spec.b[j])}"
            _edge_label(ax, layout.y_bias, yj, text, BIAS_COLOR, 0.72)


def _draw_inputs(ax: Axes, spec: Spec, layout: _Layout) -> None:
    """The input nodes ``x_i`` (a ``⋮`` and a count where elided), then the bias node."""
    from matplotlib.patches import Circle

    for i, y in zip(layout.in_slots, layout.y_in, strict=True):
        if i is None:
            hidden = spec.n_inputs - len(layout.shown_in)
            ax.text(_X_IN, y, "⋮", ha="center", va="center", fontsize=16, gid="ellipsis")
            ax.text(
                _X_IN - 0.5, y, f"{hidden:,} more", ha="right", va="center", fontsize=8,
                color="0.35", gid="ellipsis-count",
            )  # fmt: skip
            continue
        ax.add_patch(
            Circle((_X_IN, y), _RADIUS, facecolor=INPUT_COLOR, edgecolor="0.2", gid="input-node")
        )
        ax.text(_X_IN - 0.45, y, f"$x_{{{i + 1}}}$", ha="right", va="center", fontsize=11)
    y_bias = layout.y_bias
    ax.add_patch(
        Circle((_X_IN, y_bias), _RADIUS, facecolor=BIAS_COLOR, edgecolor="0.2", gid="bias-node")
    )
    ax.text(_X_IN, y_bias, "1", ha="center", va="center", fontsize=10, color="white")
    ax.text(_X_IN - 0.45, y_bias, "bias", ha="right", va="center", fontsize=9, color=BIAS_COLOR)


def _draw_elided_outputs(ax: Axes, y: float, hidden: int) -> None:
    """A ``⋮`` in each output column, and how many outputs it stands for."""
    for x_pos in (_X_SUM, _X_ACT, _X_OUT):
        ax.text(x_pos, y, "⋮", ha="center", va="center", fontsize=16, gid="ellipsis")
    ax.text(
        _X_OUT + 0.5, y, f"{hidden:,} more", ha="left", va="center", fontsize=8, color="0.35",
        gid="ellipsis-count",
    )  # fmt: skip


def _draw_output(ax: Axes, j: int, y: float) -> None:
    """Output ``j``'s row: the sum ``Σ``, the identity activation, the node ``y_j``, arrows."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    ax.add_patch(Circle((_X_SUM, y), _RADIUS, facecolor="white", edgecolor="0.2", gid="sum-node"))
    ax.text(_X_SUM, y, "Σ", ha="center", va="center", fontsize=11)
    ax.add_patch(
        FancyBboxPatch(
            (_X_ACT - _BOX / 2, y - _BOX / 2), _BOX, _BOX, boxstyle="round,pad=0.04",
            facecolor=ACTIVATION_COLOR, edgecolor="0.2", gid="activation",
        )
    )  # fmt: skip
    # The graph of f(z) = z inside the activation box.
    ax.add_line(
        Line2D(
            [_X_ACT - 0.2, _X_ACT + 0.2], [y - 0.2, y + 0.2], color="white", linewidth=2,
            gid="activation-glyph",
        )
    )  # fmt: skip
    ax.add_patch(
        Circle((_X_OUT, y), _RADIUS, facecolor=OUTPUT_COLOR, edgecolor="0.2", gid="output-node")
    )
    ax.text(_X_OUT + 0.45, y, f"$y_{{{j + 1}}}$", ha="left", va="center", fontsize=11)
    for x0, x1 in (
        (_X_SUM + _RADIUS, _X_ACT - _BOX / 2 - 0.04),
        (_X_ACT + _BOX / 2 + 0.04, _X_OUT - _RADIUS),
    ):
        ax.add_patch(
            FancyArrowPatch(
                (x0, y), (x1, y), arrowstyle="-|>", mutation_scale=10, color="0.2",
                linewidth=1.0, gid="arrow",
            )
        )  # fmt: skip


def _draw_outputs(ax: Axes, spec: Spec, layout: _Layout) -> None:
    """One row per output slot: the output's row, or the ellipsis of the elided ones."""
    for j, y in zip(layout.out_slots, layout.y_out, strict=True):
        if j is None:
            _draw_elided_outputs(ax, y, spec.n_outputs - len(layout.shown_out))
        else:
            _draw_output(ax, j, y)


def _draw_headers(ax: Axes, y_top: float) -> None:
    """The column headers: inputs, the identity activation, outputs. The activation's label
    ends at its box's right edge and the outputs' starts at their nodes' left edge, so the two
    keep apart however small the diagram is drawn (centred, they ran together)."""
    ax.text(
        _X_ACT + _BOX / 2, y_top - 0.3, "identity\nf(z) = z", ha="right", va="bottom",
        multialignment="center", fontsize=8, color=ACTIVATION_COLOR, fontweight="bold",
        gid="activation-label",
    )  # fmt: skip
    ax.text(_X_IN, y_top - 0.3, "inputs", ha="center", va="bottom", fontsize=9, color="0.3",
            gid="inputs-label")  # fmt: skip
    ax.text(_X_OUT - _RADIUS, y_top - 0.3, "outputs", ha="left", va="bottom", fontsize=9,
            color="0.3", gid="outputs-label")  # fmt: skip


def draw_neural_diagram(
    params_or_shape: Any,
    *,
    max_nodes: int = 8,
    ax: Axes | None = None,
    annotate: bool | None = None,
) -> Axes:
    """Draw linear regression as a one-layer neural network with the identity activation.

    Input nodes ``x_i`` (grey) connect to one weighted sum ``Σ`` per output through the weights
    (blue edges, thicker for larger ``|w|`` when parameters are given); a constant ``1`` node
    (green) adds the bias; each sum passes through the identity activation (an orange box
    showing the graph of ``f(z) = z``) to the output node ``y_j`` (purple). A layer with more
    than ``max_nodes`` nodes shows its first ones, a ``⋮`` and its last one.

    Args:
        params_or_shape: parameters (dict, ``(w, b)`` tuple/list or :class:`LinearParams`) or a
            shape tuple ``(n_inputs, n_outputs)`` of two ints (see the module docstring).
        max_nodes: most nodes drawn per layer (including the ``⋮`` slot), >= 3.
        ax: the Axes to draw into; ``None`` makes a new figure.
        annotate: label the edges with ``w_ij`` and ``b_j`` (and their values when parameters
            are given); ``None`` does so for one output and at most 6 inputs drawn.

    Returns:
        The Axes. gids: ``"input-node"``, ``"bias-node"``, ``"sum-node"``, ``"activation"``,
        ``"output-node"`` (patches), ``"weight-edge"``, ``"bias-edge"`` (lines),
        ``"ellipsis"`` (texts), ``"edge-label"`` (texts).

    Raises:
        ValueError, TypeError: for an invalid shape or parameters.

    Example:
        >>> ax = draw_neural_diagram((4, 1))
        >>> sum(p.get_gid() == "input-node" for p in ax.patches)
        4
        >>> sum(line.get_gid() == "weight-edge" for line in ax.lines)
        4
    """
    spec = read_spec(params_or_shape)
    max_nodes = check_int(max_nodes, "max_nodes", minimum=3)
    if annotate not in (None, True, False):
        raise TypeError(_BAD_ANNOTATE.format(describe(annotate)))
    layout, size = _layout(spec, max_nodes)
    ax = new_axes(ax, size)
    if annotate is None:
        annotate = len(layout.shown_out) == 1 and len(layout.shown_in) * len(layout.shown_out) <= 6
    # Edges first so that the nodes cover their ends.
    _draw_weight_edges(ax, spec, layout, annotate)
    _draw_bias_edges(ax, spec, layout, annotate)
    _draw_inputs(ax, spec, layout)
    _draw_outputs(ax, spec, layout)
    y_top = max(layout.y_in[0], layout.y_out[0]) + 0.9
    _draw_headers(ax, y_top)
    ax.set_title(shape_title("neural diagram", spec.n_inputs, spec.n_outputs), fontsize=11)
    y_bottom = min(layout.y_bias, layout.y_out[-1]) - 0.7
    return finish(ax, (_X_IN - 2.3, _X_OUT + 2.1), (y_bottom, y_top + 0.6))
