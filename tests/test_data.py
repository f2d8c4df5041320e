import numpy as np
import pytest

from dl_workshop.lesson.data import b_true, make_y, w_true, x


def test_lesson_data():
    np.testing.assert_array_equal(x, np.linspace(-5, 5, 100))
    assert (w_true, b_true) == (2, 20)
    with pytest.raises(ValueError):
        x[0] = 1.0  # the module's data is read-only: nobody can change it for everybody else


def test_make_y_honours_w_and_b():
    np.testing.assert_allclose(make_y(x, 3.0, -1.0, noise=0.0), 3 * x - 1, rtol=1e-6)
    np.testing.assert_allclose(make_y(x, -0.5, 7.0, noise=0.0), -0.5 * x + 7, rtol=1e-6)
    noisy = make_y(x, 3.0, -1.0, seed=0)
    residual = noisy - (3 * x - 1)
    assert 0.7 < residual.std() < 1.3  # noise=1.0 by default


def test_make_y_is_seeded():
    np.testing.assert_array_equal(make_y(x, seed=5), make_y(x, seed=5))
    assert not np.array_equal(make_y(x, seed=5), make_y(x, seed=6))


def test_make_y_matrix_form():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(20, 3))
    w = rng.normal(size=(3, 2))
    b = np.array([1.0, -1.0])
    np.testing.assert_allclose(make_y(inputs, w, b, noise=0.0), inputs @ w + b, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise": -1.0}, ValueError, r"noise must be a finite number >= 0; got -1.0"),
        ({"seed": 1.5}, TypeError, r"seed must be an integer >= 0; got 1.5"),
    ],
)
def test_make_y_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_y(x, **kwargs)


def test_make_y_without_seed_follows_np_random_seed():
    np.random.seed(11)
    first = make_y(x)
    np.random.seed(11)
    np.testing.assert_array_equal(make_y(x), first)
    assert not np.array_equal(make_y(x), first)  # the global generator moved on
