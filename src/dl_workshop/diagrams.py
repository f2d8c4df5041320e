"""Linear regression in pictures, drawn from your own model: the matrix form and the neural diagram.

Both diagrams take the model's parameters (a dict, a ``(w, b)`` tuple or :class:`LinearParams`,
scalar or matrix form) or just its shape ``(n_inputs, n_outputs)``:

* :func:`draw_matrix_form`: ``X (n × d_in) · w (d_in × d_out) + b (d_out) = Y (n × d_out)``, one
  box per array with one cell per entry (large dimensions elided with ``⋯``/``⋮``), optionally
  with the current values of ``w`` and ``b`` written in.
* :func:`draw_neural_diagram`: ``d_in`` input nodes, a weighted sum per output with the bias
  from a constant ``1`` node, then the identity activation (orange, as in the lesson) and the
  output node; large layers are elided with ``⋮`` so that 1 000 inputs still draw legibly.

The two diagrams colour ``w`` and ``b`` alike (:data:`WEIGHT_COLOR`, :data:`BIAS_COLOR`).

**Parameters or shape?** A plain ``tuple`` of exactly two integers (Python or NumPy ints, not
bools) is a shape ``(n_inputs, n_outputs)``; anything else is read as parameters. So
``(3, 2)`` is a shape while ``(3.0, 2.0)``, ``{"w": 3, "b": 2}`` and ``LinearParams(3, 2)`` are
parameters; a *list* of two integers is rejected as ambiguous.

Artists carry a ``gid`` saying what they show (``"input-node"``, ``"weight-edge"``,
``"cell-w"``, ``"ellipsis"``, ...), so code and tests can count them. matplotlib is imported only
when a function runs.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dl_workshop._validation import check_int, describe, unpack_linear_params

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "ACTIVATION_COLOR",
    "BIAS_COLOR",
    "INPUT_COLOR",
    "OUTPUT_COLOR",
    "WEIGHT_COLOR",
    "draw_matrix_form",
    "draw_neural_diagram",
]

#: Inputs: the ``X`` box and the input nodes.
INPUT_COLOR = "#9e9e9e"
#: Weights: the ``w`` box and the weight edges.
WEIGHT_COLOR = "#1f77b4"
#: Bias: the ``b`` box, the constant-1 node and the bias edges.
BIAS_COLOR = "#2ca02c"
#: Outputs: the ``Y`` box and the output nodes.
OUTPUT_COLOR = "#9467bd"
#: The identity activation (orange, as in the lesson's picture).
ACTIVATION_COLOR = "#ff7f0e"


class _Spec(NamedTuple):
    n_inputs: int
    n_outputs: int
    w: np.ndarray | None  # (n_inputs, n_outputs), or None when only the shape is known
    b: np.ndarray | None  # (n_outputs,)
    scalar: bool  # the lesson's scalar form (w and b plain numbers)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _spec(params_or_shape: Any) -> _Spec:
    """Read a shape ``(n_inputs, n_outputs)`` or parameters (see the module docstring)."""
    value = params_or_shape
    if type(value) is tuple and len(value) == 2 and all(_is_int(v) for v in value):
        n_in = check_int(value[0], "params_or_shape's n_inputs", minimum=1)
        n_out = check_int(value[1], "params_or_shape's n_outputs", minimum=1)
        return _Spec(n_in, n_out, None, None, scalar=False)
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value):
        raise ValueError(
            f"params_or_shape {value!r} is ambiguous: pass a shape as a tuple of two ints "
            "(n_inputs, n_outputs), or parameters as floats or a dict {'w': ..., 'b': ...}"
        )
    if value is None or isinstance(value, (str, bytes, numbers.Number, np.ndarray)):
        raise TypeError(
            "params_or_shape must be parameters (a dict {'w': ..., 'b': ...}, a (w, b) tuple or "
            f"LinearParams) or a shape tuple (n_inputs, n_outputs) of ints; got {describe(value)}"
        )
    w_raw, b_raw = unpack_linear_params(value, "params_or_shape")
    arrays = []
    for name, raw in (("w", w_raw), ("b", b_raw)):
        try:
            original = np.asarray(raw)
        except (TypeError, ValueError):
            original = np.asarray(None)  # ragged or otherwise unusable: rejected below
        if original.dtype.kind not in "iuf":
            raise TypeError(
                f"params_or_shape's {name} must be real numbers (int or float); got {describe(raw)}"
            )
        arrays.append(original.astype(float))
    w, b = arrays
    if w.ndim > 2 or w.size == 0:
        raise ValueError(
            f"params_or_shape's w must be a scalar, shape (d_in,) or (d_in, d_out); got shape "
            f"{w.shape}"
        )
    scalar = w.ndim == 0 and b.ndim == 0
    w2 = w.reshape(1, 1) if w.ndim == 0 else (w[:, None] if w.ndim == 1 else w)
    n_in, n_out = w2.shape
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] not in (1, n_out)):
        raise ValueError(
            f"params_or_shape's b must be a scalar or have shape ({n_out},) to match w of shape "
            f"{w.shape}; got b of shape {b.shape}"
        )
    b1 = np.broadcast_to(b.reshape(-1), (n_out,)).copy()
    return _Spec(n_in, n_out, w2, b1, scalar)


def _slots(count: int, limit: int) -> list[int | None]:
    """Indices to draw for ``count`` items in at most ``limit`` slots; ``None`` is the ellipsis."""
    if count <= limit:
        return list(range(count))
    return [*range(limit - 2), None, count - 1]


def _new_axes(ax: Any, size: tuple[float, float]) -> Axes:
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=size, layout="constrained")[1]
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {describe(ax)}")
    return ax


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _format(value: float) -> str:
    text = f"{value:.3g}"
    return text.replace("-", "\N{MINUS SIGN}")


def draw_matrix_form(
    params_or_shape: Any,
    *,
    n_samples: int | None = None,
    annotate: bool = False,
    ax: Axes | None = None,
    max_cells: int = 6,
) -> Axes:
    """Draw linear regression as matrices: ``X (n × d_in) · w (d_in × d_out) + b = Y (n × d_out)``.

    Each array is a box with one cell per entry, so the boxes are sized by shape; a dimension
    longer than ``max_cells`` shows its first entries, an ellipsis cell and its last entry.

    Args:
        params_or_shape: parameters (dict, ``(w, b)`` tuple/list or :class:`LinearParams`;
            scalar ``w``, ``w`` of shape ``(d_in,)`` or ``(d_in, d_out)``) or a shape tuple
            ``(n_inputs, n_outputs)`` of two ints (see the module docstring for the rule).
        n_samples: number of rows ``n`` of ``X`` and ``Y`` to show in the labels; ``None``
            writes ``n``.
        annotate: write the values of ``w`` and ``b`` into their cells (needs parameters).
        ax: the Axes to draw into; ``None`` makes a new figure.
        max_cells: most cells drawn along one dimension, >= 3.

    Returns:
        The Axes. gids: ``"box-X"``, ``"box-w"``, ``"box-b"``, ``"box-Y"`` (outlines),
        ``"cell-X"`` ... ``"cell-Y"`` (one per drawn entry), ``"ellipsis"`` (elided slots),
        ``"value-w"`` / ``"value-b"`` (annotations), ``"label-X"`` ... (names and shapes).

    Raises:
        ValueError, TypeError: for an invalid shape or parameters, or ``annotate=True`` with
            a shape.

    Example:
        >>> ax = draw_matrix_form((3, 2), n_samples=100)
        >>> sum(p.get_gid() == "cell-w" for p in ax.patches)
        6
    """
    spec = _spec(params_or_shape)
    max_cells = check_int(max_cells, "max_cells", minimum=3)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
    if annotate and spec.w is None:
        raise ValueError(
            f"annotate=True needs parameter values; got only a shape "
            f"{(spec.n_inputs, spec.n_outputs)}"
        )
    from matplotlib.patches import Rectangle

    n_label = "n" if n_samples is None else f"{n_samples:,}"
    row_slots = _slots(n_samples if n_samples is not None else max_cells + 1, max_cells)
    in_slots = _slots(spec.n_inputs, max_cells)
    out_slots = _slots(spec.n_outputs, max_cells)
    cell = 1.0
    gap = 1.3
    # (name, row slots, column slots, colour, values or None, shape label)
    boxes = [
        ("X", row_slots, in_slots, INPUT_COLOR, None, f"{n_label} × {spec.n_inputs:,}"),
        ("w", in_slots, out_slots, WEIGHT_COLOR, spec.w, f"{spec.n_inputs:,} × {spec.n_outputs:,}"),
        (
            "b",
            [0],
            out_slots,
            BIAS_COLOR,
            None if spec.b is None else spec.b[None, :],
            f"{spec.n_outputs:,}",
        ),
        ("Y", row_slots, out_slots, OUTPUT_COLOR, None, f"{n_label} × {spec.n_outputs:,}"),
    ]
    operators = ["·", "+", "="]
    widths = [len(cols) * cell for _, _, cols, *_ in boxes]
    heights = [len(rows) * cell for _, rows, *_ in boxes]
    total_width = sum(widths) + gap * (len(boxes) - 1)
    top = max(heights) / 2
    size = (max(5.0, 0.42 * total_width + 1.0), max(2.6, 0.42 * (2 * top + 2.6) + 0.6))
    ax = _new_axes(ax, size)

    value_size = 8 if max(len(in_slots), len(out_slots)) <= 4 else 6.5
    left = 0.0
    for index, (name, rows, cols, color, values, shape_label) in enumerate(boxes):
        width, height = widths[index], heights[index]
        y0 = -height / 2
        for r, row in enumerate(rows):
            for c, col in enumerate(cols):
                x_cell = left + c * cell
                y_cell = y0 + (len(rows) - 1 - r) * cell
                center = (x_cell + cell / 2, y_cell + cell / 2)
                if row is None or col is None:
                    symbol = "⋱" if row is None and col is None else ("⋮" if row is None else "⋯")
                    ax.text(
                        *center, symbol, ha="center", va="center", fontsize=11, color="0.25",
                        gid="ellipsis",
                    )  # fmt: skip
                    continue
                ax.add_patch(
                    Rectangle(
                        (x_cell, y_cell), cell, cell, facecolor=color, alpha=0.45,
                        edgecolor="white", linewidth=1.0, gid=f"cell-{name}",
                    )
                )  # fmt: skip
                if annotate and values is not None:
                    ax.text(
                        *center, _format(values[row, col]), ha="center", va="center",
                        fontsize=value_size, color="black", gid=f"value-{name}",
                    )  # fmt: skip
        ax.add_patch(
            Rectangle(
                (left, y0), width, height, fill=False, edgecolor=color, linewidth=2.0,
                gid=f"box-{name}",
            )
        )  # fmt: skip
        ax.text(
            left + width / 2, -top - 0.35, name, ha="center", va="top", fontsize=14,
            fontweight="bold", color=color, gid=f"label-{name}",
        )  # fmt: skip
        ax.text(
            left + width / 2, -top - 1.25, f"({shape_label})", ha="center", va="top",
            fontsize=9, color="0.2", gid=f"shape-{name}",
        )  # fmt: skip
        left += width
        if index < len(operators):
            ax.text(
                left + gap / 2, 0, operators[index], ha="center", va="center",
                fontsize=30 if operators[index] == "·" else 18, gid="operator",
            )  # fmt: skip
            left += gap
    form = "scalar form y = w·x + b" if spec.scalar else "matrix form Y = X·w + b"
    ax.set_title(
        f"{form}: {_plural(spec.n_inputs, 'input')} → {_plural(spec.n_outputs, 'output')}",
        fontsize=11,
    )
    ax.set_xlim(-0.4, total_width + 0.4)
    ax.set_ylim(-top - 1.95, top + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax


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
    spec = _spec(params_or_shape)
    max_nodes = check_int(max_nodes, "max_nodes", minimum=3)
    if annotate not in (None, True, False):
        raise TypeError(f"annotate must be True, False or None; got {describe(annotate)}")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    in_slots = _slots(spec.n_inputs, max_nodes)
    out_slots = _slots(spec.n_outputs, max_nodes)
    n_rows_in = len(in_slots) + 1  # + the bias node
    height = max(n_rows_in + 0.4, len(out_slots))
    size = (7.2, max(3.2, 0.62 * height + 1.6))
    ax = _new_axes(ax, size)

    radius = 0.3
    x_in, x_sum, x_act, x_out = 0.0, 4.0, 5.5, 7.0
    # Inputs from the top; the bias node sits a little apart below them.
    y_in = [(n_rows_in - 1) / 2 - k for k in range(len(in_slots))]
    y_bias = y_in[-1] - 1.4 if y_in else 0.0
    center_in = (y_in[0] + y_bias) / 2
    y_out = [center_in + (len(out_slots) - 1) / 2 - k for k in range(len(out_slots))]
    shown_in = [(i, y) for i, y in zip(in_slots, y_in, strict=True) if i is not None]
    shown_out = [(j, y) for j, y in zip(out_slots, y_out, strict=True) if j is not None]
    n_edges = len(shown_in) * len(shown_out)
    if annotate is None:
        annotate = len(shown_out) == 1 and n_edges <= 6
    w_scale = None
    if spec.w is not None:
        w_scale = float(np.max(np.abs(spec.w))) or 1.0

    def edge_label(x0, y0, x1, y1, text, color, fraction):
        ax.text(
            x0 + fraction * (x1 - x0), y0 + fraction * (y1 - y0), text, ha="center",
            va="center", fontsize=8, color=color, gid="edge-label",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )  # fmt: skip

    # Edges first so that the nodes cover their ends.
    for i, yi in shown_in:
        for j, yj in shown_out:
            width = 1.2
            if spec.w is not None and w_scale:
                width = 0.5 + 2.5 * abs(float(spec.w[i, j])) / w_scale
            ax.add_line(
                Line2D(
                    [x_in + radius, x_sum - radius], [yi, yj], color=WEIGHT_COLOR,
                    linewidth=width, alpha=0.8, gid="weight-edge", zorder=1,
                )
            )  # fmt: skip
            if annotate:
                text = f"$w_{{{i + 1},{j + 1}}}$"
                if spec.w is not None:
                    text += f" = {_format(spec.w[i, j])}"
                # Labels of different outputs at different distances, so they do not stack.
                fraction = 0.3 + 0.4 * j / len(shown_out)
                edge_label(x_in, yi, x_sum, yj, text, WEIGHT_COLOR, fraction)
    for j, yj in shown_out:
        ax.add_line(
            Line2D(
                [x_in + radius, x_sum - radius], [y_bias, yj], color=BIAS_COLOR, linewidth=1.2,
                linestyle="--", alpha=0.9, gid="bias-edge", zorder=1,
            )
        )  # fmt: skip
        if annotate:
            text = f"$b_{{{j + 1}}}$"
            if spec.b is not None:
                text += f" = {_format(spec.b[j])}"
            edge_label(x_in, y_bias, x_sum, yj, text, BIAS_COLOR, 0.72)

    for i, y in zip(in_slots, y_in, strict=True):
        if i is None:
            hidden = spec.n_inputs - len(shown_in)
            ax.text(x_in, y, "⋮", ha="center", va="center", fontsize=16, gid="ellipsis")
            ax.text(
                x_in - 0.5, y, f"{hidden:,} more", ha="right", va="center", fontsize=8,
                color="0.35", gid="ellipsis-count",
            )  # fmt: skip
            continue
        ax.add_patch(
            Circle((x_in, y), radius, facecolor=INPUT_COLOR, edgecolor="0.2", gid="input-node")
        )
        ax.text(x_in - 0.45, y, f"$x_{{{i + 1}}}$", ha="right", va="center", fontsize=11)
    ax.add_patch(
        Circle((x_in, y_bias), radius, facecolor=BIAS_COLOR, edgecolor="0.2", gid="bias-node")
    )
    ax.text(x_in, y_bias, "1", ha="center", va="center", fontsize=10, color="white")
    ax.text(x_in - 0.45, y_bias, "bias", ha="right", va="center", fontsize=9, color=BIAS_COLOR)

    box = 0.6
    for j, y in zip(out_slots, y_out, strict=True):
        if j is None:
            hidden = spec.n_outputs - len(shown_out)
            for x_pos in (x_sum, x_act, x_out):
                ax.text(x_pos, y, "⋮", ha="center", va="center", fontsize=16, gid="ellipsis")
            ax.text(
                x_out + 0.5, y, f"{hidden:,} more", ha="left", va="center", fontsize=8,
                color="0.35", gid="ellipsis-count",
            )  # fmt: skip
            continue
        ax.add_patch(Circle((x_sum, y), radius, facecolor="white", edgecolor="0.2", gid="sum-node"))
        ax.text(x_sum, y, "Σ", ha="center", va="center", fontsize=11)
        ax.add_patch(
            FancyBboxPatch(
                (x_act - box / 2, y - box / 2), box, box, boxstyle="round,pad=0.04",
                facecolor=ACTIVATION_COLOR, edgecolor="0.2", gid="activation",
            )
        )  # fmt: skip
        # The graph of f(z) = z inside the activation box.
        ax.add_line(
            Line2D(
                [x_act - 0.2, x_act + 0.2], [y - 0.2, y + 0.2], color="white", linewidth=2,
                gid="activation-glyph",
            )
        )  # fmt: skip
        ax.add_patch(
            Circle((x_out, y), radius, facecolor=OUTPUT_COLOR, edgecolor="0.2", gid="output-node")
        )
        ax.text(x_out + 0.45, y, f"$y_{{{j + 1}}}$", ha="left", va="center", fontsize=11)
        for x0, x1 in (
            (x_sum + radius, x_act - box / 2 - 0.04),
            (x_act + box / 2 + 0.04, x_out - radius),
        ):
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y), (x1, y), arrowstyle="-|>", mutation_scale=10, color="0.2",
                    linewidth=1.0, gid="arrow",
                )
            )  # fmt: skip

    y_top = max(y_in[0], y_out[0]) + 0.9
    ax.text(x_act, y_top - 0.3, "identity\nf(z) = z", ha="center", va="bottom", fontsize=8,
            color=ACTIVATION_COLOR, fontweight="bold", gid="activation-label")  # fmt: skip
    ax.text(x_in, y_top - 0.3, "inputs", ha="center", va="bottom", fontsize=9, color="0.3")
    ax.text(x_out, y_top - 0.3, "outputs", ha="center", va="bottom", fontsize=9, color="0.3")
    ax.set_title(
        f"neural diagram: {_plural(spec.n_inputs, 'input')} → {_plural(spec.n_outputs, 'output')}",
        fontsize=11,
    )
    y_bottom = min(y_bias, y_out[-1]) - 0.7
    ax.set_xlim(x_in - 2.3, x_out + 2.1)
    ax.set_ylim(y_bottom, y_top + 0.6)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax
