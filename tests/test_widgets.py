"""The lesson's explorers, driven headless: set slider values, read ``.result`` and the figure."""

import builtins
import re
import sys

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dl_workshop.engine.divergence import DivergenceError  # noqa: E402
from dl_workshop.engine.result import FitResult  # noqa: E402
from dl_workshop.lesson.data import make_y, x  # noqa: E402
from dl_workshop.lesson.logistic import logistic, logistic_loss, logistic_model  # noqa: E402
from dl_workshop.teaching import widgets  # noqa: E402
from dl_workshop.teaching.widgets import explore_line, explore_step_size  # noqa: E402

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


def test_explore_step_size_shows_divergence_in_the_learners_words():
    explorer = explore_step_size(x, Y)
    assert explorer.message is None
    explorer.children[0].value = 0.5
    error = explorer.result
    assert isinstance(error, DivergenceError)
    # The practitioner's detail stays in the error; the learner reads plain words.
    assert error.suggested_step_size == pytest.approx(0.0588, rel=0.05)
    assert "eigenvalue" in str(error)
    assert "blew up at step 6" in explorer.figure.axes[0].get_title()
    message = explorer.message
    assert message.startswith("The step size 0.5 is too large")
    assert "eigenvalue" not in message and "Hessian" not in message and "2/L" not in message
    # "try at most X": X is the largest slider value whose run works, and it does; the next
    # slider value up (a factor 10**0.05) does not, as 2/L of this quadratic bowl says.
    good = float(re.search(r"Try a step size of at most ([0-9.]+)\.", message).group(1))
    assert good <= error.max_stable_step_size < good * 10**0.05 * 1.01
    explorer.children[0].value = good
    assert isinstance(explorer.result, FitResult) and explorer.message is None
    assert explorer.result.losses[-1] < explorer.result.losses[0]


def _limits(ax):
    (w_lo, w_hi), (b_lo, b_hi) = ax.get_xlim(), ax.get_ylim()
    return w_lo, w_hi, b_lo, b_hi


def _inside(ax, w, b):
    w_lo, w_hi, b_lo, b_hi = _limits(ax)
    w, b = np.atleast_1d(w), np.atleast_1d(b)
    return bool(np.all((w_lo <= w) & (w <= w_hi) & (b_lo <= b) & (b <= b_hi)))


@pytest.mark.parametrize("step_size", [0.002, 0.02, 0.1, 0.11])  # crawl, good, zig-zag, wide
def test_the_bowl_follows_each_path_start_end_and_minimum_in_view(step_size):
    explorer = explore_step_size(x, Y, start={"w": -3.0, "b": 5.0}, step_size=0.05)
    explorer.children[0].value = step_size
    result, bowl = explorer.result, explorer.figure.axes[1]
    assert isinstance(result, FitResult)
    w_path, b_path = (np.asarray(result.path[k]) for k in ("w", "b"))
    assert w_path.size == result.n_steps + 1  # every step drawn
    drawn_w, drawn_b = _artist(explorer.figure, "path").get_data()
    np.testing.assert_allclose(drawn_w, w_path)
    assert _inside(bowl, w_path, b_path)
    w_best, b_best = np.polyfit(x, Y, 1)
    assert _inside(bowl, w_best, b_best)
    w_lo, w_hi, b_lo, b_hi = _limits(bowl)
    # Rescaled per run: the view is not much larger than what it must hold.
    w_span = max(w_path.max(), w_best) - min(w_path.min(), w_best)
    b_span = max(b_path.max(), b_best) - min(b_path.min(), b_best)
    assert w_hi - w_lo < 1.5 * w_span + 1.5 and b_hi - b_lo < 1.5 * b_span + 1.5


def test_a_diverging_run_is_drawn_up_to_its_last_finite_step_with_an_arrow_off_the_edge():
    explorer = explore_step_size(x, Y, step_size=0.01)
    explorer.children[0].value = 0.3
    error = explorer.result
    assert isinstance(error, DivergenceError)
    w_path, b_path = (np.asarray(error.result.path[k]) for k in ("w", "b"))
    assert np.all(np.isfinite(w_path)) and w_path.size == error.step + 1
    bowl = explorer.figure.axes[1]
    drawn_w, drawn_b = _artist(explorer.figure, "path").get_data()
    # Drawn up to its last point in view, which the view holds with the start and minimum ...
    assert 1 <= len(drawn_w) < w_path.size
    np.testing.assert_allclose(drawn_w, w_path[: len(drawn_w)])
    assert _inside(bowl, drawn_w, drawn_b) and _inside(bowl, *np.polyfit(x, Y, 1))
    assert not _inside(bowl, w_path[len(drawn_w)], b_path[len(drawn_w)])
    # ... and an arrow from that point to the edge, towards the next one.
    arrow = _artist(explorer.figure, "off-view")
    tail, head = np.array(arrow.xyann), np.array(arrow.xy)
    np.testing.assert_allclose(tail, [drawn_w[-1], drawn_b[-1]])
    towards = np.array([w_path[len(drawn_w)], b_path[len(drawn_w)]]) - tail
    along = head - tail
    assert np.dot(along, towards) / (np.linalg.norm(along) * np.linalg.norm(towards)) > 0.999
    w_lo, w_hi, b_lo, b_hi = _limits(bowl)
    margin = np.array([w_hi - w_lo, b_hi - b_lo]) * 0.05
    near_edge = (head - [w_lo, b_lo] < margin) | ([w_hi, b_hi] - head < margin)
    assert near_edge.any() and _inside(bowl, *head)
    label = _artist(explorer.figure, "off-view-label").get_text()
    assert label.startswith(f"step {len(drawn_w)} left the view")


def test_a_diverging_runs_loss_axis_shows_its_points_on_integer_ticks():
    explorer = explore_step_size(x, Y)
    explorer.children[0].value = 0.5
    error = explorer.result
    ax = explorer.figure.axes[0]
    loss = _artist(explorer.figure, "loss")
    steps, values = loss.get_data()
    np.testing.assert_allclose(values, error.result.losses)
    assert loss.get_marker() == "o"  # points, visible even when there is one
    x_lo, x_hi = ax.get_xlim()
    assert x_lo < 0 and error.step < x_hi  # every point and the step that blew up in view
    y_lo, y_hi = ax.get_ylim()
    assert y_lo < values.min() and values.max() < y_hi
    ticks = [t for t in ax.get_xticks() if x_lo <= t <= x_hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    assert _artist(explorer.figure, "blew-up").get_xdata()[0] == error.step


def _logistic_lesson_data():
    """The logistic lesson's data and the learner's own functions, written as the lesson asks
    (the probabilities clipped by binary_cross_entropy; the logistic by its formula)."""
    import jax.numpy as jnp

    from dl_workshop import binary_cross_entropy

    def learner_logistic(z):
        return 1 / (1 + jnp.exp(-z))

    def model(theta, x):
        return learner_logistic(theta["w"] * x + theta["b"])

    def loss(theta, model, x, y):
        return -binary_cross_entropy(y, model(theta, x))

    xs = np.linspace(-5, 5, 100)
    noise = np.random.default_rng(2024).normal(size=100)
    labels = (2 * xs + 1 + noise > 0).astype(int)
    return xs, labels, model, loss


def test_logistic_explorer_suggests_a_step_that_works_and_matches_what_the_run_showed():
    xs, labels, model, loss = _logistic_lesson_data()
    explorer = explore_step_size(xs, labels, model=model, loss=loss, step_size=0.001, n_steps=500)
    explorer.children[0].value = 0.1
    smooth = explorer.result
    assert isinstance(smooth, FitResult) and explorer.message is None
    explorer.children[0].value = 1.0
    error = explorer.result
    assert isinstance(error, DivergenceError) and error.step == 1
    message = explorer.message
    assert "after 1 step" in message and "eigenvalue" not in message
    # The overshoot is shown: an arrow from the start towards where step 1 went, w - 1.0 * dw
    # with the gradient at the start written out by hand (p = 1/2 there).
    w_step1 = -1.0 * float(np.sum((0.5 - labels) * xs))
    b_step1 = -1.0 * float(np.sum(0.5 - labels))
    arrow = _artist(explorer.figure, "off-view")
    np.testing.assert_allclose(arrow.xyann, [0.0, 0.0])
    direction = np.array(arrow.xy) / np.linalg.norm(arrow.xy)
    np.testing.assert_allclose(direction, np.array([w_step1, b_step1]) / np.hypot(w_step1, b_step1),
                               atol=1e-3)  # fmt: skip
    label = _artist(explorer.figure, "off-view-label").get_text()
    assert label == f"step 1 left the view, to w = {w_step1:.3g}, b = {b_step1:.3g}"
    good = float(re.search(r"at most ([0-9.]+)\.", message).group(1))
    # Not the start's 2/L (0.0094, far below what the learner saw work): at least 0.1.
    assert error.max_stable_step_size < 0.02 and good >= 0.1
    explorer.children[0].value = good
    assert isinstance(explorer.result, FitResult)
    assert explorer.result.losses[-1] < smooth.losses[0]


def test_one_large_first_step_that_recovers_is_not_divergence():
    from dl_workshop.teaching.widgets.verdict import judge

    xs, labels, *_ = _logistic_lesson_data()
    # The package's loss, exact from z, recovers from step size 0.5's first overshoot.
    explorer = explore_step_size(
        xs, labels, model=logistic_model, loss=logistic_loss, step_size=0.5, n_steps=500
    )
    result = explorer.result
    assert isinstance(result, FitResult) and judge(result).kind == "recovered"
    assert result.losses[1] > result.losses[0] > result.losses[-1]
    assert explorer.message.startswith("The first steps overshot")
    assert "too large" not in explorer.message


def test_a_sustained_rise_is_divergence_though_finite():
    explorer = explore_step_size(x, Y, step_size=0.12)  # just above 2/L = 0.1176
    result = explorer.result
    assert isinstance(result, FitResult)  # fit's own test (a 1e8-fold loss) is not reached
    assert np.all(np.diff(result.losses[20:]) > 0)
    assert explorer.message.startswith("The step size 0.12 is too large: the loss kept rising")
    assert "keeps rising" in explorer.figure.axes[0].get_title()


@pytest.mark.parametrize(
    ("losses", "kind"),
    [
        ([5.0, 4.0, 3.0, 2.0, 1.9, 1.85], "fine"),
        ([5.0, 9.0, 4.0, 2.0, 1.5, 1.4], "recovered"),
        ([5.0, 4.0, 6.0, 8.0, 11.0, 15.0], "rising"),
        ([5.0, 1.0, 4.0, 1.0, 4.0, 1.0, 4.0, 1.0, 4.0, 1.0, 4.0, 1.0], "bouncing"),
        ([5.0, 4.0, 3.0, 2.0, 1.0, 0.4], "fine"),  # a steep but steady fall is not bouncing
    ],
)
def test_judge_decides_on_non_finite_values_or_a_sustained_rise(losses, kind):
    from dl_workshop.teaching.widgets.verdict import judge

    result = FitResult({"w": 0.0, "b": 0.0}, np.array(losses), len(losses), "max_steps")
    assert judge(result).kind == kind


def test_a_loss_that_is_not_finite_at_the_start_is_not_blamed_on_the_step_size():
    import jax.numpy as jnp

    def log_loss(theta, model, x, y):  # log of a negative number at the start: NaN
        return jnp.mean(jnp.log(model(theta, x) - 100.0))

    explorer = explore_step_size(x, Y, loss=log_loss, start={"w": 0.0, "b": 0.0})
    error = explorer.result
    assert isinstance(error, DivergenceError) and error.step == 0
    assert explorer.message.startswith("The loss or its gradient is not a number at the start")
    assert "Try a step size" not in explorer.message
    assert _artist(explorer.figure, "blew-up").get_xdata()[0] == 0


def test_explorers_carry_a_note_to_rerun_the_cell_after_a_kernel_restart():
    for explorer in (explore_line(x, Y), explore_step_size(x, Y)):
        note = explorer.children[-2]
        assert "kernel restart" in note.value and "run this cell again" in note.value
        assert explorer.children[-1] is explorer.out


def test_explore_step_size_draws_the_loss_curve_and_the_path():
    explorer = explore_step_size(x, Y, start={"w": -3.0, "b": 5.0}, step_size=0.02, n_steps=300)
    result = explorer.result
    loss_x, loss_y = _artist(explorer.figure, "loss").get_data()
    np.testing.assert_allclose(loss_y, result.losses)
    path_w, path_b = _artist(explorer.figure, "path").get_data()
    np.testing.assert_allclose(path_w, np.asarray(result.path["w"]))
    assert (path_w[0], path_b[0]) == (-3.0, 5.0)
    assert np.asarray(result.path["w"]).size == 301  # every step, not every fifth


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
