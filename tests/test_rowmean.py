"""A loss of the user's own that is a mean over rows is padded and masked exactly; any other loss
is left as it is."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dl_workshop import fit, fit_objective, linear_model
from dl_workshop.engine.jaxpr import masked_loss_value, plan_holds, row_mean_plan
from dl_workshop.engine.shapecheck import bucket_rows
from dl_workshop.objectives.full_batch import FullBatchObjective, pad_rows

_EVENTS = {"on": False, "seen": []}


def _listen(name, duration, **kwargs):
    if _EVENTS["on"] and name.startswith("/jax/core/compile/"):
        _EVENTS["seen"].append(name)


jax.monitoring.register_event_duration_secs_listener(_listen)


def _model(theta, x):
    return x @ theta["w"] + theta["b"]


def _data(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal(d) + 0.5 + 0.3 * rng.standard_normal(n)).astype(np.float32)
    return x, y


def _theta(d=3):
    return {"w": np.full(d, 0.3, np.float32), "b": np.float32(0.1)}


def mse(theta, model, x, y):
    return jnp.mean((model(theta, x) - y) ** 2)


def mae_by_len(theta, model, x, y):
    return jnp.sum(jnp.abs(y - model(theta, x))) / len(y) + 0.1 * jnp.mean(theta["w"] ** 2)


def huber(theta, model, x, y):
    return jnp.mean(optax.huber_loss(model(theta, x), y, delta=0.5))


def dot_over_n(theta, model, x, y):
    r = y - model(theta, x)
    return r @ r / r.shape[0]


def centred(theta, model, x, y):
    return jnp.mean((model(theta, x) - (y - jnp.mean(y))) ** 2)


def log_loss(theta, model, x, y):
    z = model(theta, x)
    label = (y > 0).astype(z.dtype)
    return -jnp.mean(label * jax.nn.log_sigmoid(z) + (1 - label) * jax.nn.log_sigmoid(-z))


def int_divisor(theta, model, x, y):
    return jnp.sum((model(theta, x) - y) ** 2) / jnp.int32(len(y))


MEANS = [mse, mae_by_len, huber, dot_over_n, centred, log_loss, int_divisor]

NOT_MEANS = {
    "median": lambda t, m, x, y: jnp.median((m(t, x) - y) ** 2),
    "max": lambda t, m, x, y: jnp.max((m(t, x) - y) ** 2),
    "first rows": lambda t, m, x, y: jnp.mean((m(t, x)[:4] - y[:4]) ** 2),
    "ones of len": lambda t, m, x, y: mse(t, m, x, y) + jnp.sum(jnp.ones(len(y))),
    "weights by arange": lambda t, m, x, y: jnp.mean(jnp.arange(len(y)) * (m(t, x) - y) ** 2),
    "n - 1": lambda t, m, x, y: jnp.sum((m(t, x) - y) ** 2) / (len(y) - 1),
    "n squared": lambda t, m, x, y: jnp.sum((m(t, x) - y) ** 2) / len(y) ** 2,
    "sorted": lambda t, m, x, y: jnp.mean(jnp.sort(m(t, x) - y) * jnp.linspace(0, 1, len(y))),
    "cumulative": lambda t, m, x, y: jnp.mean(jnp.cumsum(m(t, x) - y) ** 2),
    "no rows summed": lambda t, m, x, y: jnp.float32(0.0) * jnp.sum(t["w"]),
}


@pytest.mark.parametrize("loss", MEANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [5, 37, 100])
def test_a_mean_over_rows_on_padded_rows_equals_the_loss_on_the_real_rows(loss, n):
    x, y = _data(n, seed=n)
    rows = bucket_rows(n)
    xp, yp = pad_rows(x, rows), pad_rows(y, rows)
    plan = row_mean_plan(loss, _model, _theta(), xp, yp)
    assert plan is not None and plan_holds(loss, _model, _theta(), x, y, rows)
    value, grads = jax.jit(jax.value_and_grad(
        lambda t, n_rows: masked_loss_value(plan, t, xp, yp, n_rows)
    ))(_theta(), np.int32(n))
    ref_value, ref_grads = jax.value_and_grad(loss)(_theta(), _model, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=2e-6)
    for key in ("w", "b"):
        np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", NOT_MEANS)
def test_a_loss_that_is_not_a_mean_over_rows_is_not_planned(name):
    xp, yp = _data(128)
    assert row_mean_plan(NOT_MEANS[name], _model, _theta(), xp, yp) is None


def test_a_loss_that_branches_on_the_number_of_rows_is_not_padded():
    def branching(theta, model, x, y):  # a mean of squares for 65 rows or more, else of |r|
        r = model(theta, x) - y
        return jnp.mean(r**2) if len(y) > 64 else jnp.mean(jnp.abs(r))

    x, y = _data(40, seed=1)
    xp, yp = pad_rows(x, 128), pad_rows(y, 128)
    assert row_mean_plan(branching, _model, _theta(), xp, yp) is not None  # 128 and 129 agree
    assert not plan_holds(branching, _model, _theta(), x, y, 128)  # 40 rows do not
    result = fit(_theta(), _model, branching, x, y, 50, 0.05, progress=False, record_every=10)
    plain = fit_objective(FullBatchObjective(_model, branching), _theta(), (x, y), 50, 0.05,
                          progress=False, record_every=10)
    np.testing.assert_array_equal(result.losses, plain.losses)


@pytest.mark.parametrize("loss", [mse, huber, centred], ids=lambda f: f.__name__)
def test_a_fit_with_a_users_loss_equals_the_unpadded_fit(loss):
    for n in (23, 90):
        x, y = _data(n, seed=n)
        padded = fit(_theta(), _model, loss, x, y, 150, 0.05, progress=False, record_every=25)
        plain = fit_objective(FullBatchObjective(_model, loss), _theta(), (x, y), 150, 0.05,
                              progress=False, record_every=25)
        got = jax.tree_util.tree_leaves((padded.losses, padded.theta, padded.path))
        want = jax.tree_util.tree_leaves((plain.losses, plain.theta, plain.path))
        assert len(got) == len(want) == 5  # losses, then w and b at the end and on the path
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-7)


def test_another_number_of_rows_with_a_users_loss_compiles_nothing():
    x, y = _data(100, seed=5)
    fit(_theta(), linear_model, huber, x, y, 40, 0.05, progress=False)
    x, y = _data(71, seed=6)  # the same bucket of 128 rows
    _EVENTS["seen"].clear()
    _EVENTS["on"] = True
    try:
        fit(_theta(), linear_model, huber, x, y, 40, 0.05, progress=False)
    finally:
        _EVENTS["on"] = False
    # Nothing lowered or compiled; one trace: the loss for 71 rows, to check the plan holds.
    assert _EVENTS["seen"] == ["/jax/core/compile/jaxpr_trace_duration"]


def test_an_operation_the_readers_do_not_know_means_no_shortcut():
    # A sort within each row keeps rows apart, but "sort" is in none of the readers' tables:
    # no padding (rows_separate False, no plan), and the rewrite of row products leaves it be.
    from dl_workshop.engine.jaxpr import fused_row_products, rows_separate

    def sorted_model(theta, x):
        return jnp.sort(x, axis=1) @ theta["w"] + theta["b"]

    def loss(theta, model, x, y):
        return jnp.mean((model(theta, x) - y) ** 2)

    xp, yp = _data(128)
    assert not rows_separate(sorted_model, _theta(), xp)
    assert row_mean_plan(loss, sorted_model, _theta(), xp, yp) is None
    x, y = _data(1 << 15, d=8)  # enough rows and columns for the rewrite of x^T r
    theta = _theta(8)

    def grad(theta, x, y):
        return jax.grad(loss)(theta, sorted_model, x, y)

    expected = jax.jit(grad)(theta, x, y)
    got = jax.jit(fused_row_products(grad))(theta, x, y)
    for key in ("w", "b"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shortcuts", ["pad-loss", "pad-mse", "pad-minibatch,fused-dots"])
def test_turning_a_shortcut_off_for_the_ab_changes_no_result(monkeypatch, shortcuts):
    from dl_workshop import mseloss
    from dl_workshop.engine.shortcuts import AB_OFF_VARIABLE, enabled

    x, y = _data(90, seed=3)
    runs = {}
    for off in ("", shortcuts):
        monkeypatch.setenv(AB_OFF_VARIABLE, off)
        assert all(enabled(name) != (name in off.split(",")) for name in shortcuts.split(","))
        runs[off] = [
            fit(_theta(), _model, mse, x, y, 60, 0.05, progress=False).losses,
            fit(_theta(), linear_model, mseloss, x, y, 60, 0.05, progress=False,
                fast_path=False).losses,
            fit(_theta(), linear_model, mseloss, x, y, 60, 0.05, progress=False,
                batch_size=16).losses,
        ]
    for a, b in zip(runs[""], runs[shortcuts], strict=True):
        np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-7)
    with pytest.raises(ValueError, match="unknown shortcut"):
        enabled("no-such-shortcut")
