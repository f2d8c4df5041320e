import jax
import numpy as np
import pytest

from dl_workshop import LinearParams, dmseloss, linear_model, mse, mseloss


def test_mse_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 50))
    np.testing.assert_allclose(mse(a, b), np.mean((a - b) ** 2), rtol=1e-6)


def test_mse_rejects_shape_mismatch_instead_of_broadcasting():
    with pytest.raises(ValueError, match=r"same shape .* got y of shape \(5,\) and predictions"):
        mse(np.ones(5), np.ones((5, 1)))


def _hand_gradient(w, b, x, y):
    r = w * x + b - y
    return 2 * np.mean(r * x), 2 * np.mean(r)


def test_gradient_mirrors_structure_and_matches_hand_derivation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=30)
    y = 3 * x - 1 + rng.normal(size=30)
    gw, gb = _hand_gradient(0.3, 0.5, x, y)
    g_dict = dmseloss({"w": 0.3, "b": 0.5}, linear_model, x, y)
    g_tuple = dmseloss((0.3, 0.5), linear_model, x, y)
    g_named = dmseloss(LinearParams(0.3, 0.5), linear_model, x, y)
    assert isinstance(g_dict, dict) and set(g_dict) == {"w", "b"}
    assert isinstance(g_tuple, tuple) and len(g_tuple) == 2
    assert isinstance(g_named, LinearParams)
    for w_grad, b_grad in ((g_dict["w"], g_dict["b"]), g_tuple, (g_named.w, g_named.b)):
        np.testing.assert_allclose([w_grad, b_grad], [gw, gb], rtol=1e-5)


def test_matrix_form_loss_and_gradient_match_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3))
    y = rng.normal(size=(40, 2))
    w = rng.normal(size=(3, 2))
    b = rng.normal(size=2)
    r = x @ w + b - y
    np.testing.assert_allclose(mseloss((w, b), linear_model, x, y), np.mean(r**2), rtol=1e-5)
    gw, gb = dmseloss((w, b), linear_model, x, y)
    np.testing.assert_allclose(gw, 2 * x.T @ r / r.size, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb, 2 * r.sum(axis=0) / r.size, rtol=1e-4, atol=1e-6)


def test_dmseloss_is_jax_grad_of_mseloss():
    x = np.linspace(-1, 1, 9)
    y = 2 * x
    expected = jax.grad(mseloss)({"w": 1.0, "b": 0.0}, linear_model, x, y)
    got = dmseloss({"w": 1.0, "b": 0.0}, linear_model, x, y)
    np.testing.assert_allclose(got["w"], expected["w"])
