"""``plots.animate_descent``: a GIF of the path moving over the bowl beside the loss curve."""

import numpy as np
import pytest
from PIL import Image

from dl_workshop import fit, linear_model, mseloss
from dl_workshop.lesson.data import make_y, x
from dl_workshop.teaching.plots import animate_descent
from dl_workshop.teaching.plots.animation import _frame_indices

Y = make_y(x, seed=0)


@pytest.fixture(scope="module")
def result():
    return fit({"w": -4.0, "b": -5.0}, linear_model, mseloss, x, Y, 600, 0.02, record_every=6,
               progress=False)  # fmt: skip


def _frames(path):
    with Image.open(path) as image:
        pictures = []
        for index in range(image.n_frames):
            image.seek(index)
            pictures.append(np.asarray(image.convert("RGB")))
        return image.format, image.info, pictures


def test_the_gif_has_the_frames_asked_for_and_they_move(result, tmp_path):
    path = animate_descent(result, tmp_path / "descent.gif", x=x, y=Y, frames=12, fps=5)
    assert path == tmp_path / "descent.gif"
    kind, info, pictures = _frames(path)
    assert kind == "GIF" and len(pictures) == 12
    assert info["duration"] == 200 and info["loop"] == 0  # 5 frames per second, looping
    assert pictures[0].shape == (360, 864, 3)
    # Consecutive frames differ (the head moves); the bowl on the left stays where it is (up to
    # the GIF palette's rounding, one level in 255).
    assert all(np.any(a != b) for a, b in zip(pictures, pictures[1:], strict=False))
    corner = (slice(60, 120), slice(80, 140))  # a patch of contours far from the path
    difference = np.abs(pictures[0][corner].astype(int) - pictures[-1][corner].astype(int))
    assert difference.max() <= 2


def test_without_data_the_path_moves_over_plain_axes(result, tmp_path):
    path = animate_descent(result, tmp_path / "plain.gif", frames=10)
    assert len(_frames(path)[2]) == 10


def test_fewer_recorded_points_than_frames_gives_one_frame_per_point(tmp_path):
    short = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, 20, 0.01, record_every=5,
                progress=False)  # fmt: skip
    assert len(short.path_steps) == 5
    path = animate_descent(short, tmp_path / "short.gif", x=x, y=Y, frames=30)
    assert len(_frames(path)[2]) == 5


@pytest.mark.parametrize(("n_points", "n_frames"), [(201, 16), (201, 10), (37, 30), (10, 10)])
def test_frames_start_and_end_with_the_path_and_are_spaced_geometrically(n_points, n_frames):
    shown = _frame_indices(n_points, n_frames)
    assert shown.size == n_frames
    assert shown[0] == 0 and shown[-1] == n_points - 1
    assert np.all(np.diff(shown) > 0)
    if n_points > 3 * n_frames:
        gaps = np.diff(shown)
        assert gaps[-1] > gaps[0]  # more frames at the fast start


def test_bad_arguments_are_refused(result, tmp_path):
    unrecorded = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, Y, 20, 0.01, progress=False)
    gif = tmp_path / "a.gif"
    cases = [
        ((result.losses, gif), {}, TypeError, r"result must be a FitResult"),
        ((unrecorded, gif), {}, ValueError, r"run fit\(..., record_every=k\)"),
        ((result, tmp_path / "a.mp4"), {}, ValueError, r"path must name a .gif file; got '.*mp4'"),
        ((result, 3), {}, TypeError, r"path must name a .gif file; got 3"),
        ((result, gif), {"x": x}, ValueError, r"pass both x and y .* got only x"),
        ((result, gif), {"frames": 0}, ValueError, r"frames must be an integer >= 1"),
        ((result, gif), {"fps": 0}, ValueError, r"fps must be a finite number > 0"),
    ]
    for args, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            animate_descent(*args, **kwargs)
    assert not (tmp_path / "a.gif").exists()
