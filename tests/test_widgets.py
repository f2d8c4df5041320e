"""The lesson's explorers, driven headless: set slider values, read ``.result`` and the figure."""

import builtins
import sys

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dl_workshop import widgets  # noqa: E402
from dl_workshop.data import make_y, x  # noqa: E402
from dl_workshop.engine.divergence import DivergenceError  # noqa: E402
from dl_workshop.engine.result import FitResult  # noqa: E402
from dl_workshop.logistic import logistic, logistic_loss, logistic_model  # noqa: E402
from dl_workshop.widgets import explore_line, explore_step_size  # noqa: E402

Y = make_y(x, 2.0, 20.0, seed=0)


def _artist(figure, gid):
    found = [
        artist
        for ax in figure.axes
        for artist in ax.get_children()
        if getattr(artist, "get_gid", lambda: None)() == gid
    ]
    assert found, gid
    return found[0]


def test_explore_line_result_is_the_mse_at_the_sliders():
    explorer = explore_line(x, Y)
    w_slider, b_slider = explorer.children[:2]
    assert (w_slider.description, b_slider.description) == ("w", "b")
    line = w_slider.value * x + b_slider.value
    assert explorer.result == pytest.approx(np.mean((Y - line) ** 2))
    for w, b in [(1.0, 15.0), (2.0, 20.0), (-1.5, 5.0)]:
        w_slider.value, b_slider.value = w, b
        assert explorer.result == pytest.approx(np.mean((Y - (w * x + b)) ** 2), rel=1e-9)


def test_explore_line_draws_the_line_residuals_and_the_point_on_the_bowl():
    explorer = explore_line(x, Y, w=1.0, b=10.0)
    w_slider, b_slider = explorer.children[:2]
    w_slider.value, b_slider.value = 3.0, 18.0
    figure = explorer.figure
    line_x, line_y = _artist(figure, "fit").get_data()
    np.testing.assert_allclose(line_y, 3.0 * np.asarray(line_x) + 18.0)
    residuals = _artist(figure, "residuals").get_segments()
    assert len(residuals) == len(x)
    np.testing.assert_allclose([s[1][1] for s in residuals], 3.0 * x + 18.0)
    head_w, head_b = _artist(figure, "current").get_data()
    assert (float(head_w[0]), float(head_b[0])) == (3.0, 18.0)
    assert _artist(figure, "optimum") is not None  # the least-squares star on the bowl
    expected = f"w = 3, b = 18: mse = {explorer.result:.4g}"
    assert _artist(figure, "current-mse").get_text() == expected


def test_explore_line_sliders_cover_the_least_squares_line():
    explorer = explore_line(x, Y)
    w_best, b_best = np.polyfit(x, Y, 1)
    w_slider, b_slider = explorer.children[:2]
    assert w_slider.min < w_best < w_slider.max and b_slider.min < b_best < b_slider.max
    w_slider.value, b_slider.value = w_best, b_best
    best = np.mean((Y - np.polyval([w_best, b_best], x)) ** 2)
    assert explorer.result == pytest.approx(best, rel=1e-3)


def test_explore_step_size_reruns_the_fit_on_every_change():
    explorer = explore_step_size(x, Y)
    step, steps, choice = explorer.children[:3]
    assert (step.description, steps.description, choice.description) == (
        "step size", "steps", "optimizer",
    )  # fmt: skip
    assert list(choice.options) == ["gradient descent", "momentum", "adam"]
    first = explorer.result
    assert isinstance(first, FitResult) and first.n_steps == 200
    step.value = 0.05
    faster = explorer.result
    assert isinstance(faster, FitResult) and faster.losses[-1] < first.losses[-1]
    steps.value = 400
    assert explorer.result.n_steps == 400
    choice.value = "adam"
    assert isinstance(explorer.result, FitResult)
    adam = explorer.result.losses
    assert adam.size == 400 and not np.allclose(adam[: faster.losses.size], faster.losses)


def test_explore_step_size_shows_divergence_and_its_suggested_step():
    explorer = explore_step_size(x, Y)
    explorer.children[0].value = 0.5
    error = explorer.result
    assert isinstance(error, DivergenceError)
    assert error.suggested_step_size == pytest.approx(0.0588, rel=0.05)
    assert "diverged at step" in explorer.figure.axes[0].get_title()
    explorer.children[0].value = round(error.suggested_step_size, 3)
    assert isinstance(explorer.result, FitResult)


def test_explore_step_size_draws_the_loss_curve_and_the_path():
    explorer = explore_step_size(x, Y, start={"w": -3.0, "b": 5.0}, step_size=0.02, n_steps=300)
    result = explorer.result
    loss_x, loss_y = _artist(explorer.figure, "loss").get_data()
    np.testing.assert_allclose(loss_y, result.losses)
    path_w, path_b = _artist(explorer.figure, "path").get_data()
    np.testing.assert_allclose(path_w, np.asarray(result.path["w"]))
    assert (path_w[0], path_b[0]) == (-3.0, 5.0)


def test_explore_step_size_takes_another_model_and_loss():
    xs = np.linspace(-5, 5, 100)
    labels = np.round(np.asarray(logistic(2 * xs + 1 + np.random.default_rng(0).random(100))))
    explorer = explore_step_size(
        xs, labels, model=logistic_model, loss=logistic_loss, step_size=0.001, n_steps=500
    )
    result = explorer.result
    assert isinstance(result, FitResult)
    assert result.losses[-1] < result.losses[0]
    assert float(result.theta["w"]) > 0


def test_explorers_check_their_data():
    with pytest.raises(ValueError, match=r"x must be 1-D; got shape \(100, 1\)"):
        explore_line(x[:, None], Y)
    with pytest.raises(ValueError, match=r"x and y must have the same number of samples"):
        explore_step_size(x, Y[:50])


def test_without_ipywidgets_the_error_names_the_lesson_extra(monkeypatch):
    real_import = builtins.__import__

    def no_ipywidgets(name, *args, **kwargs):
        if name == "ipywidgets" or name.startswith("ipywidgets."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ipywidgets", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_ipywidgets)
    for explorer in (explore_line, explore_step_size):
        with pytest.raises(ImportError, match=r'pip install "dl-workshop\[lesson\]"'):
            explorer(x, Y)
    assert "lesson extra" in widgets.NEEDS_IPYWIDGETS
