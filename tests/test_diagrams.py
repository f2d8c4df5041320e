"""Diagrams drawn from a model's shape or parameters: the right nodes, edges, cells and colours."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from dl_workshop.lesson.model import LinearParams, initialize_linear_params
from dl_workshop.teaching.diagrams import (
    BIAS_COLOR,
    WEIGHT_COLOR,
    draw_matrix_form,
    draw_neural_diagram,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def shown(count, limit):
    """How many items a layer of ``count`` draws with at most ``limit`` slots (one is ``⋮``)."""
    return count if count <= limit else limit - 1


SHAPES = [(1, 1), (4, 1), (3, 2), (1000, 10)]


# --- neural diagram ------------------------------------------------------------------------


@pytest.mark.parametrize(("d_in", "d_out"), SHAPES)
def test_neural_diagram_from_shape_counts_nodes_and_edges(d_in, d_out):
    ax = draw_neural_diagram((d_in, d_out))
    n_in, n_out = shown(d_in, 8), shown(d_out, 8)
    assert len(by_gid(ax, "input-node")) == n_in
    assert len(by_gid(ax, "output-node")) == n_out
    assert len(by_gid(ax, "sum-node")) == n_out
    assert len(by_gid(ax, "activation")) == n_out  # the identity, once per output
    assert len(by_gid(ax, "bias-node")) == 1
    assert len(by_gid(ax, "weight-edge")) == n_in * n_out
    assert len(by_gid(ax, "bias-edge")) == n_out
    elided = (d_in > 8) + (d_out > 8)
    # One ⋮ for the inputs; three (sum, activation, output) for the outputs.
    assert len(by_gid(ax, "ellipsis")) == (d_in > 8) + 3 * (d_out > 8)
    assert len(by_gid(ax, "ellipsis-count")) == elided
    assert f"{d_in:,} input" in ax.get_title() and f"{d_out:,} output" in ax.get_title()


def test_neural_diagram_1000_inputs_shows_first_last_and_how_many_are_hidden():
    ax = draw_neural_diagram((1000, 10))
    labels = texts(ax)
    assert [f"$x_{{{i}}}$" for i in (1, 2, 3, 4, 5, 6, 1000)] == [
        t for t in labels if t.startswith("$x_")
    ]
    assert "993 more" in labels and "3 more" in labels
    assert "$y_{10}$" in labels and "$y_{7}$" not in labels


def test_neural_diagram_max_nodes_controls_elision():
    ax = draw_neural_diagram((20, 1), max_nodes=5)
    assert [t for t in texts(ax) if t.startswith("$x_")] == ["$x_{1}$", "$x_{2}$", "$x_{3}$",
                                                             "$x_{20}$"]  # fmt: skip
    assert "16 more" in texts(ax)


def test_neural_diagram_from_params_labels_and_weights_edges():
    theta = {"w": np.array([0.5, -2.0, 1.0, 0.1]), "b": 3.0}
    ax = draw_neural_diagram(theta)
    assert len(by_gid(ax, "input-node")) == 4 and len(by_gid(ax, "output-node")) == 1
    labels = [t.get_text() for t in by_gid(ax, "edge-label")]
    assert labels == [
        "$w_{1,1}$ = 0.5",
        "$w_{2,1}$ = \N{MINUS SIGN}2",
        "$w_{3,1}$ = 1",
        "$w_{4,1}$ = 0.1",
        "$b_{1}$ = 3",
    ]
    widths = [line.get_linewidth() for line in by_gid(ax, "weight-edge")]
    assert np.argmax(widths) == 1 and np.argmin(widths) == 3  # |w| orders the thickness
    assert not by_gid(draw_neural_diagram(theta, annotate=False), "edge-label")


def test_neural_diagram_scalar_params_is_one_to_one():
    ax = draw_neural_diagram(LinearParams(2.0, 20.0))
    assert len(by_gid(ax, "input-node")) == len(by_gid(ax, "output-node")) == 1
    assert len(by_gid(ax, "weight-edge")) == 1
    assert "$w_{1,1}$ = 2" in texts(ax) and "$b_{1}$ = 20" in texts(ax)


def _extent(artist, renderer):
    """An artist's box on the canvas (a text's with its background box, when it has one)."""
    patch = getattr(artist, "get_bbox_patch", lambda: None)()
    box = artist.get_window_extent(renderer)
    return box if patch is None else box.union([box, patch.get_window_extent(renderer)])


@pytest.mark.parametrize("size", [(5.5, 4.0), (3.0, 2.2)])  # the lesson's half figure, smaller
def test_small_neural_diagram_labels_cover_no_edge_and_headers_keep_apart(size):
    fig, (ax, _) = plt.subplots(1, 2, figsize=(2 * size[0], size[1]))
    draw_neural_diagram({"w": 2.07, "b": 19.6}, ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = by_gid(ax, "edge-label")
    edges = [*by_gid(ax, "weight-edge"), *by_gid(ax, "bias-edge")]
    assert len(labels) == len(edges) == 2
    for label, edge in zip(labels, edges, strict=True):
        box = _extent(label, renderer)
        # 200 points along the edge, on the canvas: none of them under the label.
        xs, ys = edge.get_data()
        t = np.linspace(0, 1, 200)
        points = ax.transData.transform(
            np.column_stack([xs[0] + t * (xs[1] - xs[0]), ys[0] + t * (ys[1] - ys[0])])
        )
        assert not any(box.contains(px, py) for px, py in points), label.get_text()
    (activation,) = by_gid(ax, "activation-label")
    (outputs,) = by_gid(ax, "outputs-label")
    assert activation.get_text() == "identity\nf(z) = z" and outputs.get_text() == "outputs"
    gap = _extent(outputs, renderer).x0 - _extent(activation, renderer).x1
    assert gap > 2  # pixels of space between "f(z) = z" and "outputs"


# --- matrix form ---------------------------------------------------------------------------


@pytest.mark.parametrize(("d_in", "d_out"), SHAPES)
def test_matrix_form_cells_follow_the_shapes(d_in, d_out):
    ax = draw_matrix_form((d_in, d_out), n_samples=100)
    rows = shown(100, 6)
    n_in, n_out = shown(d_in, 6), shown(d_out, 6)
    assert len(by_gid(ax, "cell-X")) == rows * n_in
    assert len(by_gid(ax, "cell-w")) == n_in * n_out
    assert len(by_gid(ax, "cell-b")) == n_out
    assert len(by_gid(ax, "cell-Y")) == rows * n_out
    for name in "Xwb" + "Y":
        assert len(by_gid(ax, f"box-{name}")) == 1
    shapes = [by_gid(ax, f"shape-{name}")[0].get_text() for name in ("X", "w", "b", "Y")]
    assert shapes == [f"(100 × {d_in:,})", f"({d_in:,} × {d_out:,})", f"({d_out:,})",
                      f"(100 × {d_out:,})"]  # fmt: skip
    # Boxes are sized by shape: w is as tall as X is wide, and as wide as Y.
    box = {name: by_gid(ax, f"box-{name}")[0] for name in "XwbY"}
    assert box["w"].get_height() == box["X"].get_width()
    assert box["w"].get_width() == box["Y"].get_width() == box["b"].get_width()
    assert [t.get_text() for t in by_gid(ax, "operator")] == ["·", "+", "="]


def test_matrix_form_without_n_samples_writes_n():
    ax = draw_matrix_form((2, 3))
    assert by_gid(ax, "shape-X")[0].get_text() == "(n × 2)"
    assert by_gid(ax, "shape-Y")[0].get_text() == "(n × 3)"


def test_matrix_form_annotates_current_values():
    theta = initialize_linear_params(3, 2, seed=4)
    ax = draw_matrix_form(theta, annotate=True)
    shown_w = [float(t.get_text().replace("\N{MINUS SIGN}", "-")) for t in by_gid(ax, "value-w")]
    np.testing.assert_allclose(shown_w, theta["w"].ravel(), rtol=5e-3)
    shown_b = [float(t.get_text().replace("\N{MINUS SIGN}", "-")) for t in by_gid(ax, "value-b")]
    np.testing.assert_allclose(shown_b, theta["b"], rtol=5e-3)
    assert not by_gid(draw_matrix_form(theta), "value-w")


def test_matrix_form_scalar_params_and_vector_w():
    ax = draw_matrix_form({"w": 2.0, "b": 20.0}, annotate=True)
    assert [t.get_text() for t in by_gid(ax, "value-w")] == ["2"]
    assert ax.get_title().startswith("scalar form")
    ax = draw_matrix_form((np.ones(4), 0.5))  # w of shape (4,), scalar b: 4 -> 1
    assert len(by_gid(ax, "cell-w")) == 4 and len(by_gid(ax, "cell-b")) == 1


def test_weight_and_bias_colours_match_between_the_two_diagrams():
    theta = initialize_linear_params(3, 2, seed=0)
    matrix = draw_matrix_form(theta)
    neural = draw_neural_diagram(theta)
    w_cells = {to_rgb(p.get_facecolor()) for p in by_gid(matrix, "cell-w")}
    w_edges = {to_rgb(line.get_color()) for line in by_gid(neural, "weight-edge")}
    assert w_cells == w_edges == {to_rgb(WEIGHT_COLOR)}
    b_cells = {to_rgb(p.get_facecolor()) for p in by_gid(matrix, "cell-b")}
    b_nodes = {to_rgb(p.get_facecolor()) for p in by_gid(neural, "bias-node")}
    b_edges = {to_rgb(line.get_color()) for line in by_gid(neural, "bias-edge")}
    assert b_cells == b_nodes == b_edges == {to_rgb(BIAS_COLOR)}
    assert to_rgb(WEIGHT_COLOR) != to_rgb(BIAS_COLOR)


# --- shape or parameters -------------------------------------------------------------------


def test_tuple_of_ints_is_a_shape_and_tuple_of_floats_is_params():
    as_shape = draw_neural_diagram((2, 20))
    assert len(by_gid(as_shape, "input-node")) == 2
    assert len(by_gid(as_shape, "output-node")) == shown(20, 8)
    as_params = draw_neural_diagram((2.0, 20.0))
    assert len(by_gid(as_params, "input-node")) == len(by_gid(as_params, "output-node")) == 1
    assert len(by_gid(draw_neural_diagram((np.int64(3), np.int64(2))), "input-node")) == 3
    # Integer values in a dict or NamedTuple are parameters.
    assert len(by_gid(draw_neural_diagram(LinearParams(2, 20)), "input-node")) == 1


@pytest.mark.parametrize("draw", [draw_matrix_form, draw_neural_diagram])
@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ([2, 20], ValueError, "is ambiguous: pass a shape as a tuple of two ints"),
        ((0, 3), ValueError, "n_inputs must be an integer >= 1; got 0"),
        ((3, -1), ValueError, "n_outputs must be an integer >= 1; got -1"),
        ((True, 2.0), TypeError, "w must be real numbers"),
        ("3x2", TypeError, "params_or_shape must be parameters"),
        (None, TypeError, "params_or_shape must be parameters"),
        ((1, 2, 3), ValueError, "as a tuple or list must be \\(w, b\\), of length 2"),
        ({"w": np.ones((2, 3)), "b": np.ones(2)}, ValueError, r"b must be a scalar or have shape"),
        ({"w": np.ones((2, 2, 2)), "b": 0.0}, ValueError, r"w must be a scalar, shape"),
        ({"w": 1.0}, ValueError, "must have keys 'w' and 'b'"),
    ],
)
def test_bad_params_or_shape(draw, bad, error, match):
    with pytest.raises(error, match=match):
        draw(bad)


def test_bad_options():
    with pytest.raises(ValueError, match="annotate=True needs parameter values"):
        draw_matrix_form((3, 2), annotate=True)
    with pytest.raises(ValueError, match="max_nodes must be an integer >= 3; got 2"):
        draw_neural_diagram((3, 2), max_nodes=2)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        draw_matrix_form((3, 2), n_samples=0)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        draw_neural_diagram((3, 2), ax=object())


def test_given_axes_are_used_and_figures_render():
    fig, (left, right) = plt.subplots(1, 2)
    assert draw_matrix_form((1000, 10), ax=left) is left
    assert draw_neural_diagram((1000, 10), ax=right) is right
    fig.canvas.draw()  # a full render, as saving a PNG does
    # Nothing is drawn outside the axes' limits (no clipping of nodes or boxes).
    for ax in (left, right):
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        for patch in ax.patches:
            box = patch.get_extents().transformed(ax.transData.inverted())
            assert x0 <= box.x0 + 1e-6 and box.x1 <= x1 + 1e-6
            assert y0 <= box.y0 + 1e-6 and box.y1 <= y1 + 1e-6


def test_importing_the_modules_does_not_import_matplotlib():
    code = (
        "import sys, dl_workshop, dl_workshop.teaching.plots, dl_workshop.teaching.diagrams, "
        "dl_workshop.cli; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
