"""Plots render headless and show what they claim: the data, the path, the optimum."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import optax
import pytest

from dl_workshop.fitting.optimization import fit
from dl_workshop.lesson.data import make_y, x
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import LinearParams, linear_model
from dl_workshop.teaching.plots import (
    plot_fit,
    plot_loss,
    plot_loss_landscape,
    plot_optimizer_paths,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return np.asarray(x), make_y(x, 2.0, 20.0, seed=3)


@pytest.fixture(scope="module")
def run(data):
    xs, ys = data
    return fit({"w": -1.0, "b": 0.0}, linear_model, mseloss, xs, ys, 400, 0.02, record_every=10,
               progress=False)  # fmt: skip


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def lstsq(xs, ys):
    return np.linalg.lstsq(np.column_stack([xs, np.ones_like(xs)]), ys, rcond=None)[0]


# --- plot_loss -----------------------------------------------------------------------------


def test_plot_loss_draws_every_loss_with_lesson_labels(run):
    ax = plot_loss(run.losses)
    (line,) = by_gid(ax, "loss")
    np.testing.assert_array_equal(line.get_ydata(), run.losses)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(len(run.losses)))
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("iteration", "mse", "linear")


def test_plot_loss_accepts_fit_result_log_scale_and_given_axes(run):
    fig, given = plt.subplots()
    ax = plot_loss(run, ax=given, log_scale=True)
    assert ax is given
    assert ax.get_yscale() == "log"
    assert len(by_gid(ax, "loss")[0].get_ydata()) == run.n_steps


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ([], ValueError, "non-empty 1-D"),
        (np.ones((3, 2)), ValueError, r"1-D sequence; got shape \(3, 2\)"),
        ("loss", TypeError, "losses must be a 1-D sequence of numbers"),
        (None, TypeError, "losses must be"),
    ],
)
def test_plot_loss_rejects_bad_losses(bad, error, match):
    with pytest.raises(error, match=match):
        plot_loss(bad)


def test_plot_loss_rejects_non_axes():
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_loss([1.0, 0.5], ax="axes")


# --- plot_fit ------------------------------------------------------------------------------


def test_plot_fit_scalar_form_draws_data_and_fitted_line(data):
    xs, ys = data
    theta = {"w": 2.5, "b": 19.0}
    ax = plot_fit(theta, xs, ys)
    (points,) = by_gid(ax, "data")
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([xs, ys]))
    (line,) = by_gid(ax, "fit")
    np.testing.assert_allclose(line.get_ydata(), 2.5 * line.get_xdata() + 19.0, rtol=1e-6)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")


def test_plot_fit_matrix_form_draws_predicted_vs_true_per_output():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(40, 3))
    w = rng.normal(size=(3, 2))
    b = np.array([1.0, -2.0])
    ys = xs @ w + b + 0.1 * rng.normal(size=(40, 2))
    ax = plot_fit(LinearParams(w, b), xs, ys)
    clouds = by_gid(ax, "predictions")
    assert len(clouds) == 2
    for j, cloud in enumerate(clouds):
        np.testing.assert_allclose(
            cloud.get_offsets(), np.column_stack([ys[:, j], xs @ w[:, j] + b[j]]), atol=1e-5
        )
    assert len(by_gid(ax, "identity")) == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true y", "predicted y")


def test_plot_fit_one_feature_matrix_form_draws_one_line_per_output():
    xs = np.linspace(0, 1, 10)[:, None]
    theta = {"w": np.array([[1.0, -1.0]]), "b": np.array([0.0, 3.0])}
    ax = plot_fit(theta, xs, xs @ theta["w"] + theta["b"])
    assert len(by_gid(ax, "fit")) == 2
    ax = plot_fit(theta, xs, xs @ theta["w"] + theta["b"], kind="parity")
    assert len(by_gid(ax, "predictions")) == 2


def test_plot_fit_rejects_bad_input(data):
    xs, ys = data
    with pytest.raises(ValueError, match="kind must be"):
        plot_fit({"w": 1.0, "b": 0.0}, xs, ys, kind="scatter")
    with pytest.raises(ValueError, match="kind='line' needs one input feature"):
        plot_fit({"w": np.ones(2), "b": 0.0}, np.ones((5, 2)), np.ones(5), kind="line")
    with pytest.raises(ValueError, match="same number of samples"):
        plot_fit({"w": 1.0, "b": 0.0}, xs, ys[:10])
    with pytest.raises(ValueError, match=r"predictions must have the shape of y"):
        plot_fit({"w": np.ones((1, 2)), "b": np.zeros(2)}, xs, ys)


# --- plot_loss_landscape -------------------------------------------------------------------


def test_landscape_draws_the_recorded_path_start_end_and_least_squares_optimum(data, run):
    xs, ys = data
    ax = plot_loss_landscape(xs, ys, path=run)
    (path,) = by_gid(ax, "path")
    assert len(path.get_xdata()) == len(run.path_steps) == 41
    np.testing.assert_allclose(path.get_xdata(), run.path["w"])
    np.testing.assert_allclose(path.get_ydata(), run.path["b"])
    (start,) = by_gid(ax, "path-start")
    (end,) = by_gid(ax, "path-end")
    assert (start.get_xdata()[0], start.get_ydata()[0]) == (-1.0, 0.0)
    np.testing.assert_allclose(
        [end.get_xdata()[0], end.get_ydata()[0]], [run.theta["w"], run.theta["b"]]
    )
    (optimum,) = by_gid(ax, "optimum")
    np.testing.assert_allclose([optimum.get_xdata()[0], optimum.get_ydata()[0]], lstsq(xs, ys))
    assert optimum.get_label() == "least squares"
    assert by_gid(ax, "landscape")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w", "b")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["path", "start", "end", "least squares"]
    # The grid covers the whole path and the optimum.
    (w_lo, w_hi), (b_lo, b_hi) = ax.get_xlim(), ax.get_ylim()
    assert w_lo <= min(run.path["w"]) and max(run.path["w"]) <= w_hi
    assert b_lo <= min(run.path["b"]) and max(run.path["b"]) <= b_hi


def test_landscape_end_marker_shows_above_the_star_when_the_path_ends_there(data):
    from matplotlib.colors import to_rgb

    xs, ys = data
    done = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, xs, ys, 2000, 0.05, record_every=10,
               progress=False)  # fmt: skip
    ax = plot_loss_landscape(xs, ys, path=done)
    (end,) = by_gid(ax, "path-end")
    (optimum,) = by_gid(ax, "optimum")
    np.testing.assert_allclose(end.get_xydata()[0], optimum.get_xydata()[0], atol=1e-3)
    assert end.get_zorder() > optimum.get_zorder()
    figure = ax.figure
    figure.canvas.draw()
    # The pixel at the end's centre is the end marker's red, not the star's black outline.
    px, py = ax.transData.transform(end.get_xydata()[0])
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3] / 255
    row, col = int(round(image.shape[0] - py)), int(round(px))
    centre = image[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3)
    assert np.all(np.abs(centre - to_rgb(end.get_color())).max(axis=1) < 0.1)
    # The legend has an entry for it.
    legend = ax.get_legend()
    assert "end" in [t.get_text() for t in legend.get_texts()]


def test_landscape_contours_are_the_mse_over_the_grid(data):
    xs, ys = data
    ax = plot_loss_landscape(xs, ys, resolution=15)
    (filled,) = by_gid(ax, "landscape")
    w_opt, b_opt = lstsq(xs, ys)
    lowest = np.mean((ys - (w_opt * xs + b_opt)) ** 2)
    # The lowest band starts at the grid's minimum loss, which is at or above the optimum's.
    assert filled.levels[0] >= lowest - 1e-4
    assert filled.levels[0] == pytest.approx(lowest, rel=0.1)


@pytest.mark.parametrize(
    "as_path",
    [
        lambda r: (np.asarray(r.path["w"]), np.asarray(r.path["b"])),
        lambda r: r.path,
        lambda r: LinearParams(r.path["w"], r.path["b"]),
        lambda r: [list(map(float, r.path["w"])), list(map(float, r.path["b"]))],
    ],
    ids=["tuple", "dict", "namedtuple", "lists"],
)
def test_landscape_accepts_paths_in_any_container(data, run, as_path):
    xs, ys = data
    ax = plot_loss_landscape(xs, ys, path=as_path(run))
    (path,) = by_gid(ax, "path")
    np.testing.assert_allclose(path.get_xdata(), run.path["w"], rtol=1e-6)


def test_landscape_surface_draws_path_on_the_bowl(data, run):
    xs, ys = data
    ax = plot_loss_landscape(xs, ys, path=run, surface=True, resolution=20)
    assert ax.name == "3d"
    assert ax.get_zlabel() == "mse"
    (path,) = by_gid(ax, "path")
    w_path, b_path, z_path = path.get_data_3d()
    expected = [np.mean((ys - (w * xs + b)) ** 2) for w, b in zip(w_path, b_path, strict=True)]
    np.testing.assert_allclose(z_path, expected, rtol=1e-4)
    assert len(w_path) == len(run.path_steps)


def test_landscape_with_custom_loss_marks_lowest_grid_point(data):
    xs, ys = data

    def mae(theta, model, x, y):
        return abs(model(theta, x) - y).mean()

    ax = plot_loss_landscape(xs, ys, loss=mae, resolution=41)
    (optimum,) = by_gid(ax, "optimum")
    assert optimum.get_label() == "lowest grid point"
    w_opt, b_opt = lstsq(xs, ys)
    assert optimum.get_xdata()[0] == pytest.approx(w_opt, abs=0.2)
    assert optimum.get_ydata()[0] == pytest.approx(b_opt, abs=2.0)


def test_landscape_rejects_bad_input(data):
    xs, ys = data
    no_path = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, xs, ys, 5, 0.01, progress=False)
    with pytest.raises(ValueError, match=r"without a parameter path; run fit\(\.\.\., record_ev"):
        plot_loss_landscape(xs, ys, path=no_path)
    with pytest.raises(ValueError, match="scalar w and b; path's w has shape"):
        plot_loss_landscape(xs, ys, path=(np.ones((4, 2)), np.ones(4)))
    with pytest.raises(ValueError, match="same number of steps; got 4 and 3"):
        plot_loss_landscape(xs, ys, path=(np.ones(4), np.ones(3)))
    with pytest.raises(ValueError, match="path's b must be finite"):
        plot_loss_landscape(xs, ys, path=(np.ones(2), np.array([1.0, np.nan])))
    _, flat_ax = plt.subplots()
    with pytest.raises(ValueError, match="surface=True needs a 3-D Axes"):
        plot_loss_landscape(xs, ys, surface=True, ax=flat_ax)
    with pytest.raises(ValueError, match="resolution must be an integer >= 10"):
        plot_loss_landscape(xs, ys, resolution=3)
    with pytest.raises(ValueError, match="could not be evaluated over scalar"):
        plot_loss_landscape(np.ones((100, 3)), ys)


# --- plot_optimizer_paths ------------------------------------------------------------------


def test_optimizer_paths_share_one_bowl_with_a_legend(data):
    xs, ys = data
    optimizers = {
        "gradient descent": optax.sgd(0.02),
        "momentum": optax.sgd(0.02, momentum=0.9),
        "adam": optax.adam(0.5),
    }
    runs = {
        name: fit({"w": -1.0, "b": 0.0}, linear_model, mseloss, xs, ys, 60, optimizer=opt,
                  record_every=3, progress=False)
        for name, opt in optimizers.items()
    }  # fmt: skip
    ax = plot_optimizer_paths(xs, ys, runs)
    paths = by_gid(ax, "path")
    assert [p.get_label() for p in paths] == list(runs)
    for line, result in zip(paths, runs.values(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), result.path["w"])
        assert len(line.get_xdata()) == len(result.path_steps) == 21
    assert len({matplotlib.colors.to_hex(p.get_color()) for p in paths}) == 3
    assert len(by_gid(ax, "path-start")) == len(by_gid(ax, "path-end")) == 3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(runs) <= set(legend) and "least squares" in legend


def test_optimizer_paths_rejects_bad_mapping(data):
    xs, ys = data
    with pytest.raises(ValueError, match="at least one path"):
        plot_optimizer_paths(xs, ys, {})
    with pytest.raises(TypeError, match="paths must be a mapping"):
        plot_optimizer_paths(xs, ys, [(np.ones(2), np.ones(2))])
    with pytest.raises(ValueError, match=r"paths\['adam'\]'s w must have a leading axis"):
        plot_optimizer_paths(xs, ys, {"adam": (1.0, 2.0)})
