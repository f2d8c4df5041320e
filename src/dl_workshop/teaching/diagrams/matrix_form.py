"""Linear regression as matrices: ``X (n × d_in) · w (d_in × d_out) + b (d_out) = Y (n × d_out)``.

:func:`draw_matrix_form` is a pipeline: read the model -> check the options -> lay out the four
boxes -> draw each box (cells, outline, labels) and the operator after it -> title and limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dl_workshop._validation import check_int
from dl_workshop.teaching.diagrams._common import finish, format_value, new_axes, shape_title
from dl_workshop.teaching.diagrams._layout import Spec, read_spec, slots
from dl_workshop.teaching.diagrams.colors import BIAS_COLOR, INPUT_COLOR, OUTPUT_COLOR, WEIGHT_COLOR

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_matrix_form"]

_ANNOTATE_NEEDS_VALUES = "annotate=True needs parameter values; got only a shape {}"

#: Side of one cell, and the space between two boxes (holding the operator), in data units.
_CELL = 1.0
_GAP = 1.3
#: The operators between the boxes X, w, b and Y.
_OPERATORS = ["·", "+", "="]


class _Box(NamedTuple):
    """One array: its name, the row and column slots drawn, colour, values and shape label."""

    name: str
    rows: list[int | None]
    cols: list[int | None]
    color: str
    values: np.ndarray | None  # (n_rows, n_cols) indexed by the slots, or None
    shape_label: str


class _Frame(NamedTuple):
    """Where the boxes go: each box's width, the total width and the top of the tallest box."""

    widths: list[float]
    total_width: float
    top: float


def _check_options(spec: Spec, n_samples: Any, annotate: bool, max_cells: Any):
    """``(n_samples, max_cells)`` checked; ``annotate`` needs parameter values."""
    max_cells = check_int(max_cells, "max_cells", minimum=3)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
    if annotate and spec.w is None:
        raise ValueError(_ANNOTATE_NEEDS_VALUES.format((spec.n_inputs, spec.n_outputs)))
    return n_samples, max_cells


def _boxes(spec: Spec, n_samples: int | None, max_cells: int) -> list[_Box]:
    """The boxes X, w, b and Y, each with the slots of its dimensions."""
    n_label = "n" if n_samples is None else f"{n_samples:,}"
    row_slots = slots(n_samples if n_samples is not None else max_cells + 1, max_cells)
    in_slots = slots(spec.n_inputs, max_cells)
    out_slots = slots(spec.n_outputs, max_cells)
    b_values = None if spec.b is None else spec.b[None, :]
    d_in, d_out = f"{spec.n_inputs:,}", f"{spec.n_outputs:,}"
    return [
        _Box("X", row_slots, in_slots, INPUT_COLOR, None, f"{n_label} × {d_in}"),
        _Box("w", in_slots, out_slots, WEIGHT_COLOR, spec.w, f"{d_in} × {d_out}"),
        _Box("b", [0], out_slots, BIAS_COLOR, b_values, d_out),
        _Box("Y", row_slots, out_slots, OUTPUT_COLOR, None, f"{n_label} × {d_out}"),
    ]


def _frame(boxes: list[_Box]) -> tuple[_Frame, tuple[float, float]]:
    """The boxes' frame, and the size in inches of a figure that fits it."""
    widths = [len(box.cols) * _CELL for box in boxes]
    heights = [len(box.rows) * _CELL for box in boxes]
    total_width = sum(widths) + _GAP * (len(boxes) - 1)
    top = max(heights) / 2
    size = (max(5.0, 0.42 * total_width + 1.0), max(2.6, 0.42 * (2 * top + 2.6) + 0.6))
    return _Frame(widths, total_width, top), size


def _draw_cells(ax: Axes, box: _Box, left: float, annotate: bool, value_size: float) -> None:
    """One cell per entry of ``box`` (an ellipsis in elided slots), its value if annotated."""
    from matplotlib.patches import Rectangle

    y0 = -len(box.rows) * _CELL / 2
    for r, row in enumerate(box.rows):
        for c, col in enumerate(box.cols):
            x_cell = left + c * _CELL
            y_cell = y0 + (len(box.rows) - 1 - r) * _CELL
            center = (x_cell + _CELL / 2, y_cell + _CELL / 2)
            if row is None or col is None:
                symbol = "⋱" if row is None and col is None else ("⋮" if row is None else "⋯")
                ax.text(
                    *center, symbol, ha="center", va="center", fontsize=11, color="0.25",
                    gid="ellipsis",
                )  # fmt: skip
                continue
            ax.add_patch(
                Rectangle(
                    (x_cell, y_cell), _CELL, _CELL, facecolor=box.color, alpha=0.45,
                    edgecolor="white", linewidth=1.0, gid=f"cell-{box.name}",
                )
            )  # fmt: skip
            if annotate and box.values is not None:
                ax.text(
                    *center, format_value(box.values[row, col]), ha="center", va="center",
                    fontsize=value_size, color="black", gid=f"value-{box.name}",
                )  # fmt: skip


def _draw_outline(ax: Axes, box: _Box, left: float, width: float, top: float) -> None:
    """The box's outline, and its name and shape written below the boxes."""
    from matplotlib.patches import Rectangle

    height = len(box.rows) * _CELL
    ax.add_patch(
        Rectangle(
            (left, -height / 2), width, height, fill=False, edgecolor=box.color, linewidth=2.0,
            gid=f"box-{box.name}",
        )
    )  # fmt: skip
    ax.text(
        left + width / 2, -top - 0.35, box.name, ha="center", va="top", fontsize=14,
        fontweight="bold", color=box.color, gid=f"label-{box.name}",
    )  # fmt: skip
    ax.text(
        left + width / 2, -top - 1.25, f"({box.shape_label})", ha="center", va="top",
        fontsize=9, color="0.2", gid=f"shape-{box.name}",
    )  # fmt: skip


def _draw_operator(ax: Axes, left: float, operator: str) -> None:
    """The operator in the gap starting at ``left``."""
    ax.text(
        left + _GAP / 2, 0, operator, ha="center", va="center",
        fontsize=30 if operator == "·" else 18, gid="operator",
    )  # fmt: skip


def _draw_boxes(ax: Axes, boxes: list[_Box], frame: _Frame, annotate: bool) -> None:
    """Each box left to right, with the operator after it."""
    # Smaller values when w has many cells, so that they fit their cells.
    w_box = boxes[1]
    value_size = 8 if max(len(w_box.rows), len(w_box.cols)) <= 4 else 6.5
    left = 0.0
    for index, box in enumerate(boxes):
        width = frame.widths[index]
        _draw_cells(ax, box, left, annotate, value_size)
        _draw_outline(ax, box, left, width, frame.top)
        left += width
        if index < len(_OPERATORS):
            _draw_operator(ax, left, _OPERATORS[index])
            left += _GAP


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
    spec = read_spec(params_or_shape)
    n_samples, max_cells = _check_options(spec, n_samples, annotate, max_cells)
    boxes = _boxes(spec, n_samples, max_cells)
    frame, size = _frame(boxes)
    ax = new_axes(ax, size)
    _draw_boxes(ax, boxes, frame, annotate)
    form = "scalar form y = w·x + b" if spec.scalar else "matrix form Y = X·w + b"
    ax.set_title(shape_title(form, spec.n_inputs, spec.n_outputs), fontsize=11)
    xlim = (-0.4, frame.total_width + 0.4)
    return finish(ax, xlim, (-frame.top - 1.95, frame.top + 0.5))
