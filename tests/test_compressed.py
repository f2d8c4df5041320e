"""Large fits in memory run on the rows with the data's moments: the same fit as on the rows."""

import warnings

import jax
import numpy as np
import pytest

from dl_workshop.estimator import GradientDescentRegressor, compressed
from dl_workshop.estimator.conditioning import CollinearityWarning

#: JAX's compilation events, recorded while ``_EVENTS["on"]``.
_EVENTS = {"on": False, "seen": []}


def _listen(name, duration, **kwargs):
    if _EVENTS["on"] and name == "/jax/core/compile/backend_compile_duration":
        _EVENTS["seen"].append(kwargs.get("fun_name"))


jax.monitoring.register_event_duration_secs_listener(_listen)


def _data(n, d=6, k=1, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    x = (rng.normal(size=(n, d)) @ mixing) * rng.uniform(0.1, 10.0, size=d) * scale + 3.0
    y = x @ rng.normal(size=(d, k)) + 2.0 + rng.normal(size=(n, k))
    return x, (y[:, 0] if k == 1 else y)


def _lstsq(x, y, w=None):
    design = np.column_stack([x, np.ones(len(x))])
    root = np.ones(len(x)) if w is None else np.sqrt(w)
    y2 = y if y.ndim == 2 else y[:, None]
    solution = np.linalg.lstsq(design * root[:, None], y2 * root[:, None], rcond=None)[0]
    return solution[:-1], solution[-1]


def _rows_fit(monkeypatch, model, *args, **kwargs):
    """``model.fit(*args)`` on the rows, as fits of at most COMPRESS_MIN_ROWS rows are."""
    with monkeypatch.context() as m:
        m.setattr(compressed, "COMPRESS_MIN_ROWS", 10**9)
        return model.fit(*args, **kwargs)


def test_which_fits_are_compressed():
    limit = compressed.COMPRESS_MIN_ROWS
    assert not compressed.compresses(limit, 3)
    assert compressed.compresses(limit + 1, 3)
    assert not compressed.compresses(10 * limit, 10 * limit // 16 + 1)


@pytest.mark.parametrize(
    "options",
    [dict(), dict(alpha=3.0), dict(fit_intercept=False), dict(optimizer="gd",
                                                             learning_rate="auto")],
    ids=["default", "ridge", "no intercept", "gd"],
)
def test_a_large_fit_equals_the_fit_on_its_rows(monkeypatch, options):
    x, y = _data(20_000, seed=1)
    ours = GradientDescentRegressor(**options).fit(x, y)
    rows = _rows_fit(monkeypatch, GradientDescentRegressor(**options), x, y)
    np.testing.assert_allclose(ours.coef_, rows.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, rows.intercept_, rtol=1e-7, atol=1e-9)
    assert abs(ours.n_iter_ - rows.n_iter_) <= 3
    # The loss curve is the training objective, whichever rows the fit ran on (the MSE
    # without a penalty).
    assert ours.loss_curve_[-1] == pytest.approx(rows.loss_curve_[-1], rel=1e-9)
    if "alpha" not in options:
        mse = np.mean((y - ours.predict(x)) ** 2)
        assert ours.loss_curve_[-1] == pytest.approx(mse, rel=1e-9)
    assert ours.rank_ == rows.rank_ == x.shape[1]
    assert ours.condition_number_ == pytest.approx(rows.condition_number_, rel=1e-6)


def test_a_large_weighted_multi_target_fit_equals_weighted_least_squares():
    x, y = _data(30_000, d=5, k=3, seed=2)
    w = np.random.default_rng(3).uniform(0.0, 2.0, size=len(x))
    w[:100] = 0.0
    model = GradientDescentRegressor().fit(x, y, sample_weight=w)
    coef, intercept = _lstsq(x, y, w)
    np.testing.assert_allclose(model.coef_, coef.T, rtol=1e-8)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-8)


def test_a_large_float32_fit_equals_least_squares_to_float32_accuracy():
    x, y = _data(20_000, seed=4)
    model = GradientDescentRegressor(dtype="float32").fit(x, y)
    coef, intercept = _lstsq(x, y)
    np.testing.assert_allclose(model.coef_, coef[:, 0], rtol=2e-4)
    assert model.intercept_ == pytest.approx(intercept[0], rel=2e-4)


def test_large_fits_of_other_numbers_of_rows_compile_nothing_again():
    x, y = _data(12_000, seed=5)
    GradientDescentRegressor().fit(x, y)
    _EVENTS["seen"].clear()
    _EVENTS["on"] = True
    try:
        for n in (9_000, 10_001, 11_111):
            model = GradientDescentRegressor().fit(x[:n], y[:n])
    finally:
        _EVENTS["on"] = False
    assert _EVENTS["seen"] == []
    coef, intercept = _lstsq(x[:11_111], y[:11_111])
    np.testing.assert_allclose(model.coef_, coef[:, 0], rtol=1e-8)


def test_a_large_rank_deficient_fit_warns_and_predicts_as_least_squares():
    x, y = _data(10_000, d=4, seed=6)
    x = np.column_stack([x, x[:, 0] - 2.0 * x[:, 1]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GradientDescentRegressor().fit(x, y)
    assert any(issubclass(w.category, CollinearityWarning) for w in caught)
    assert model.rank_ == 4
    coef, intercept = _lstsq(x, y)
    reference = x @ coef[:, 0] + intercept[0]
    np.testing.assert_allclose(model.predict(x), reference, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (dict(sample_weight=np.zeros(6_000)), "at least one non-zero"),
        (dict(sample_weight=np.r_[-1.0, np.ones(5_999)]), "Negative values"),
        (dict(X=np.r_[[[np.nan] * 3], np.ones((5_999, 3))]), "NaN"),
    ],
    ids=["zero weights", "negative weight", "NaN in X"],
)
def test_bad_large_data_gets_the_messages_of_small_data(bad, message):
    x, y = _data(6_000, d=3, seed=7)
    arguments = {"X": x, "y": y, **bad}
    with pytest.raises(ValueError, match=message):
        GradientDescentRegressor().fit(**arguments)
