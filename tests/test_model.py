import jax
import numpy as np
import pytest

from dl_workshop import LinearParams, initialize_linear_params, linear_model


@pytest.mark.parametrize("container", ["dict", "tuple", "list", "namedtuple"])
def test_scalar_form_matches_numpy_for_every_container(container):
    x = np.linspace(-3, 3, 7)
    w, b = 1.5, -0.25
    theta = {
        "dict": {"w": w, "b": b},
        "tuple": (w, b),
        "list": [w, b],
        "namedtuple": LinearParams(w, b),
    }[container]
    np.testing.assert_allclose(linear_model(theta, x), w * x + b, rtol=1e-6)


@pytest.mark.parametrize(
    ("d_in", "d_out", "w_shape", "b_shape", "out_shape"),
    [
        (4, 1, (4,), (), (10,)),
        (4, 1, (4, 1), (1,), (10, 1)),
        (3, 2, (3, 2), (2,), (10, 2)),
        (3, 2, (3, 2), (), (10, 2)),
        (1, 1, (1,), (), (10,)),
    ],
)
def test_matrix_form_shapes_and_values(d_in, d_out, w_shape, b_shape, out_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, d_in))
    w = rng.normal(size=w_shape)
    b = rng.normal(size=b_shape)
    out = linear_model({"w": w, "b": b}, x)
    assert out.shape == out_shape
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-5, atol=1e-5)


def test_one_dimensional_x_with_single_input_weight_vector():
    x = np.arange(5.0)
    out = linear_model({"w": np.array([2.0]), "b": 1.0}, x)
    np.testing.assert_allclose(out, 2 * x + 1)


def test_model_is_jit_and_grad_friendly():
    x = np.linspace(0, 1, 5)
    jitted = jax.jit(linear_model)
    np.testing.assert_allclose(jitted({"w": 2.0, "b": 1.0}, x), 2 * x + 1, rtol=1e-6)
    g = jax.grad(lambda t: linear_model(t, x).sum())((2.0, 1.0))
    np.testing.assert_allclose(g, (x.sum(), 5.0), rtol=1e-6)


@pytest.mark.parametrize(
    ("theta", "error", "match"),
    [
        ({"w": 1.0}, ValueError, r"theta must have keys 'w' and 'b'; missing 'b'"),
        ({"b": 1.0}, ValueError, r"missing 'w'"),
        ((1.0, 2.0, 3.0), ValueError, r"must be \(w, b\), of length 2; got length 3"),
        (3.0, TypeError, r"theta must be a dict .* got float"),
    ],
)
def test_bad_theta_names_the_problem(theta, error, match):
    with pytest.raises(error, match=match):
        linear_model(theta, np.ones(3))


def test_matrix_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\) to match w of shape"):
        linear_model({"w": np.ones((3, 2)), "b": np.zeros(2)}, np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"b must be a scalar or have shape \(2,\)"):
        linear_model({"w": np.ones((3, 2)), "b": np.zeros(3)}, np.ones((5, 3)))


def test_initialize_scalar_form_is_a_dict_of_floats_and_seeded():
    theta = initialize_linear_params(seed=3)
    assert set(theta) == {"w", "b"}
    assert isinstance(theta["w"], float) and isinstance(theta["b"], float)
    rng = np.random.default_rng(3)
    assert theta == {"w": rng.normal(), "b": rng.normal()}
    assert initialize_linear_params(seed=3) == theta
    assert initialize_linear_params(seed=4) != theta


@pytest.mark.parametrize(
    ("args", "w_shape", "b_shape"),
    [((5,), (5,), ()), ((5, 3), (5, 3), (3,)), ((1, 1), (1, 1), (1,))],
)
def test_initialize_matrix_shapes_work_with_the_model(args, w_shape, b_shape):
    theta = initialize_linear_params(*args, seed=0)
    assert np.shape(theta["w"]) == w_shape
    assert np.shape(theta["b"]) == b_shape
    x = np.ones((4, args[0]))
    assert linear_model(theta, x).shape[0] == 4


def test_initialize_with_jax_key_is_reproducible():
    a = initialize_linear_params(2, 2, key=jax.random.key(1))
    b = initialize_linear_params(2, 2, key=jax.random.key(1))
    c = initialize_linear_params(2, 2, key=jax.random.key(2))
    np.testing.assert_array_equal(a["w"], b["w"])
    assert not np.array_equal(a["w"], c["w"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_inputs": 0}, ValueError, r"n_inputs must be an integer >= 1; got 0"),
        ({"n_inputs": 2.5}, TypeError, r"n_inputs must be an integer >= 1; got 2.5"),
        ({"n_outputs": 2}, ValueError, r"n_inputs is required when n_outputs is given"),
        ({"seed": -1}, ValueError, r"seed must be an integer >= 0; got -1"),
        ({"key": "abc"}, TypeError, r"key must be a JAX PRNG key"),
    ],
)
def test_initialize_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        initialize_linear_params(**kwargs)


def test_initialize_without_seed_follows_np_random_seed():
    np.random.seed(11)
    scalar, matrix = initialize_linear_params(), initialize_linear_params(3, 2)
    np.random.seed(11)
    assert initialize_linear_params() == scalar
    np.testing.assert_array_equal(initialize_linear_params(3, 2)["w"], matrix["w"])
    # seed= uses its own generator: the same values whatever the global state.
    np.random.seed(12)
    assert initialize_linear_params(seed=3) == initialize_linear_params(seed=3)
