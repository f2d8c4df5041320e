"""GradientDescentRegressor against closed-form least squares, ridge and scikit-learn."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_estimators_partial_fit_n_features,
    parametrize_with_checks,
)

from dl_workshop import CollinearityWarning
from dl_workshop.estimator import (
    GradientDescentRegressor,
    load_model,
    quadratic_linesearch,
    save_model,
)
from dl_workshop.fitting.optimization import DivergenceError
from dl_workshop.io.persistence import save_arrays


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def lstsq(x, y, *, intercept=True):
    design = np.column_stack([x, np.ones(len(x))]) if intercept else x
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    return (solution[:-1], solution[-1]) if intercept else (solution, 0.0)


# Every check runs; none is skipped or expected to fail. (The array-API check skips itself
# unless SCIPY_ARRAY_API=1, and the estimator does not claim array-API support.)
# Two of scikit-learn's checks fit 9 or 27 samples of 30 features on purpose: the
# CollinearityWarning is the right answer there, and not what those checks test.
@pytest.mark.filterwarnings("ignore::dl_workshop.CollinearityWarning")
@parametrize_with_checks([GradientDescentRegressor()])
def test_scikit_learn_conventions(estimator, check):
    check(estimator)


def test_partial_fit_rejects_a_change_in_features():
    check_estimators_partial_fit_n_features(
        "GradientDescentRegressor", GradientDescentRegressor(optimizer="gd", learning_rate=0.1)
    )


def test_diabetes_matches_lstsq_and_linear_regression(diabetes):
    x, y = diabetes
    model = GradientDescentRegressor().fit(x, y)
    coef, intercept = lstsq(x, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-12)
    reference = LinearRegression().fit(x, y)
    np.testing.assert_allclose(model.predict(x), reference.predict(x), rtol=1e-10)
    assert model.score(x, y) == pytest.approx(reference.score(x, y), abs=1e-12)
    assert model.n_iter_ == len(model.loss_curve_) >= 1
    residual = y - reference.predict(x)
    assert model.loss_curve_[-1] == pytest.approx(np.mean(residual**2), rel=1e-9)
    assert np.all(np.diff(model.loss_curve_) <= 1e-9 * model.loss_curve_[:-1])


@pytest.mark.parametrize("alpha", [0.01, 1.0, 100.0])
def test_alpha_matches_ridge(diabetes, alpha):
    x, y = diabetes
    model = GradientDescentRegressor(alpha=alpha).fit(x, y)
    reference = Ridge(alpha=alpha, solver="svd").fit(x, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-8, atol=1e-8)
    assert model.intercept_ == pytest.approx(reference.intercept_, rel=1e-10)


def test_multi_output_matches_linear_regression_and_ridge():
    x, y = make_regression(n_samples=120, n_features=6, n_targets=3, noise=5.0, random_state=0)
    model = GradientDescentRegressor().fit(x, y)
    reference = LinearRegression().fit(x, y)
    assert model.coef_.shape == (3, 6) and model.intercept_.shape == (3,)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-9)
    assert model.predict(x).shape == (120, 3)
    ridge = GradientDescentRegressor(alpha=3.0).fit(x, y)
    np.testing.assert_allclose(ridge.coef_, Ridge(alpha=3.0).fit(x, y).coef_, rtol=1e-8)


def test_sample_weight_matches_linear_regression_and_repetition(diabetes):
    x, y = diabetes[0][:150], diabetes[1][:150]  # repeated rows stay within one padded shape
    weights = np.random.default_rng(0).integers(0, 4, size=len(y)).astype(float)
    model = GradientDescentRegressor().fit(x, y, sample_weight=weights)
    reference = LinearRegression().fit(x, y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-8)
    repeated = GradientDescentRegressor().fit(
        np.repeat(x, weights.astype(int), axis=0), np.repeat(y, weights.astype(int))
    )
    np.testing.assert_allclose(model.coef_, repeated.coef_, rtol=1e-8)


def test_without_intercept_matches_lstsq(diabetes):
    x, y = diabetes
    model = GradientDescentRegressor(fit_intercept=False).fit(x, y)
    coef, _ = lstsq(x, y, intercept=False)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9)
    assert model.intercept_ == 0.0


def test_standardize_false_gradient_descent_with_auto_step():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = x @ [1.5, -2.0, 0.5] + 4.0 + 0.1 * rng.normal(size=200)
    model = GradientDescentRegressor(optimizer="gd", standardize=False, random_state=0).fit(x, y)
    # learning_rate="auto" is 1/L, L the largest eigenvalue of the Hessian 2 AᵀA/n, A = [x, 1].
    design = np.column_stack([x, np.ones(len(x))])
    curvature = np.linalg.eigvalsh(2 * design.T @ design / len(x)).max()
    assert model.learning_rate_ == pytest.approx(1 / curvature, rel=1e-4)
    coef, intercept = lstsq(x, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-5)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-6)


def test_first_order_optimizers_approach_least_squares():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 2)) * [1.0, 10.0] + 5.0
    y = x @ [2.0, -1.0] + 3.0 + 0.1 * rng.normal(size=100)
    coef, _ = lstsq(x, y)
    for optimizer, rtol in (("momentum", 1e-6), ("adam", 1e-2)):
        # Their loss is not monotone: tol=None runs all max_iter iterations (see the tol doc).
        model = GradientDescentRegressor(optimizer=optimizer, learning_rate=0.1, tol=None)
        model.fit(x, y)
        np.testing.assert_allclose(model.coef_, coef, rtol=rtol, err_msg=str(optimizer))


def test_partial_fit_streams_minibatches_to_the_solution():
    rng = np.random.default_rng(3)
    truth = np.array([1.0, -2.0, 0.5])
    model = GradientDescentRegressor(optimizer="momentum", learning_rate=0.05)
    for _ in range(300):
        x = rng.normal(size=(32, 3))
        model.partial_fit(x, x @ truth + 3.0)
    assert model.n_iter_ == 300 and len(model.loss_curve_) == 300
    np.testing.assert_allclose(model.coef_, truth, atol=1e-3)
    assert model.intercept_ == pytest.approx(3.0, abs=1e-3)
    assert model.loss_curve_[-1] < 1e-4 * model.loss_curve_[0]


def test_partial_fit_is_not_offered_for_lbfgs():
    assert not hasattr(GradientDescentRegressor(), "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        GradientDescentRegressor(optimizer="lbfgs").partial_fit([[1.0]], [1.0])
    assert "needs a stochastic optimizer" in str(info.value.__cause__)


def test_partial_fit_continues_after_fit(diabetes):
    x, y = diabetes
    model = GradientDescentRegressor().fit(x, y)
    before = model.coef_.copy()
    model.set_params(optimizer="gd").partial_fit(x[:50], y[:50])
    assert model.n_iter_ == 1
    # One small step from the solution moves it a little, not back to zero.
    assert np.max(np.abs(model.coef_ - before)) < 0.1 * np.max(np.abs(before))


def test_warm_start_continues_from_the_previous_solution(diabetes):
    x, y = diabetes
    model = GradientDescentRegressor(warm_start=True, max_iter=3)
    cold = GradientDescentRegressor(max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
        first_end = model.loss_curve_[-1]
        model.fit(x, y)
        cold.fit(x, y)
    assert model.loss_curve_[0] <= first_end * (1 + 1e-12)
    assert cold.loss_curve_[0] > 2 * first_end
    model.set_params(max_iter=1000).fit(x, y)
    np.testing.assert_allclose(model.coef_, lstsq(x, y)[0], rtol=1e-9)


def test_feature_names_from_dataframes():
    frame = load_diabetes(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    model = GradientDescentRegressor().fit(x, y)
    assert list(model.feature_names_in_) == list(x.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_allclose(model.predict(x), model.predict(x.to_numpy()), rtol=1e-15)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(x.rename(columns={"age": "AGE"}))


def test_convergence_warning_when_max_iter_is_reached(diabetes):
    x, y = diabetes
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        model = GradientDescentRegressor(max_iter=3).fit(x, y)
    assert model.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GradientDescentRegressor(max_iter=3, tol=None).fit(x, y)  # tol=None: no criterion


def test_float64_leaves_jax_global_x64_switch_alone(diabetes):
    x, y = diabetes
    before = jax.config.jax_enable_x64

    @jax.jit
    def float32_code(v):
        return jnp.sum(v * 1.1)

    reference = float32_code(jnp.arange(5.0))
    GradientDescentRegressor().fit(x, y)
    assert jax.config.jax_enable_x64 == before
    after = float32_code(jnp.arange(5.0))
    assert after.dtype == reference.dtype == (jnp.float64 if before else jnp.float32)
    assert float(after) == float(reference)
    assert jnp.ones(3).dtype == reference.dtype


def test_float32_is_close_to_float64(diabetes):
    x, y = diabetes
    single = GradientDescentRegressor(dtype="float32").fit(x, y)
    np.testing.assert_allclose(single.coef_, lstsq(x, y)[0], rtol=2e-4, atol=1e-2)


def test_works_in_pipeline_and_grid_search(diabetes):
    x, y = diabetes
    search = GridSearchCV(
        make_pipeline(StandardScaler(), GradientDescentRegressor()),
        {"gradientdescentregressor__alpha": [0.1, 10.0]},
        cv=3,
    ).fit(x, y)
    assert search.best_params_["gradientdescentregressor__alpha"] in (0.1, 10.0)
    assert search.score(x, y) > 0.5


def test_inputs_are_not_mutated(diabetes):
    x, y = diabetes
    x, y, w = x.copy(), y.copy(), np.linspace(0.5, 1.5, len(y))
    copies = x.copy(), y.copy(), w.copy()
    GradientDescentRegressor(alpha=1.0).fit(x, y, sample_weight=w)
    for original, copy in zip((x, y, w), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([[1.0], [np.nan]], [1.0, 2.0], "NaN"),
        ([[1.0], [np.inf]], [1.0, 2.0], "infinity"),
        ([[1.0], [2.0]], [1.0, np.nan], "NaN"),
        (np.empty((0, 2)), [], "0 sample"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "Expected 2D array"),
        ([[1.0], [2.0], [3.0]], [1.0, 2.0], "inconsistent numbers of samples"),
        ([["a"], ["b"]], [1.0, 2.0], "could not convert|dtype"),
    ],
)
def test_bad_data_raises_value_error(x, y, match):
    with pytest.raises(ValueError, match=match):
        GradientDescentRegressor().fit(x, y)


def test_bad_sample_weight_raises():
    x, y = [[1.0], [2.0], [3.0]], [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="Negative values"):
        GradientDescentRegressor().fit(x, y, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="zero"):
        GradientDescentRegressor().fit(x, y, sample_weight=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="sample_weight.shape"):
        GradientDescentRegressor().fit(x, y, sample_weight=[1.0, 1.0])


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"optimizer": "sgdx"}, ValueError, "optimizer must be one of 'gd'.*got 'sgdx'"),
        ({"optimizer": 3}, TypeError, "optimizer must be one of"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate must be a finite number > 0"),
        ({"learning_rate": "fast"}, ValueError, "learning_rate must be 'auto'.*'fast'"),
        ({"max_iter": 0}, ValueError, "max_iter must be an integer >= 1; got 0"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be an integer"),
        ({"tol": -1e-3}, ValueError, "tol must be a finite number >= 0"),
        ({"alpha": -1.0}, ValueError, "alpha must be a finite number >= 0"),
        ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change must be an integer >= 1"),
        ({"fit_intercept": "yes"}, TypeError, "fit_intercept must be True or False"),
        ({"random_state": "seed"}, TypeError, "random_state must be None, an int"),
        ({"degree": 0}, ValueError, "degree must be an integer >= 1; got 0"),
        ({"degree": 2.0}, TypeError, "degree must be an integer >= 1; got 2.0"),
    ],
)
def test_bad_hyperparameters_raise_at_fit(params, error, match):
    model = GradientDescentRegressor(**params)  # scikit-learn: no validation in __init__
    with pytest.raises(error, match=match):
        model.fit([[1.0], [2.0]], [1.0, 2.0])


def test_divergence_names_the_learning_rate_and_the_fix(diabetes):
    x, y = diabetes
    model = GradientDescentRegressor(optimizer="gd", learning_rate=50.0)
    with pytest.raises(DivergenceError, match="learning_rate=50.*learning_rate='auto'"):
        model.fit(x, y)


def test_quadratic_linesearch_takes_the_exact_step():
    matrix = jnp.array([[3.0, 1.0], [1.0, 2.0]])

    def f(p):
        return 0.5 * p @ matrix @ p - p @ jnp.array([1.0, 1.0])

    p = jnp.array([2.0, -1.0])
    g = jax.grad(f)(p)
    opt = optax.chain(optax.scale(-1.0), quadratic_linesearch())
    updates, _ = opt.update(g, opt.init(p), p, value=f(p), grad=g, value_fn=f)
    eta = float(g @ g / (g @ matrix @ g))
    np.testing.assert_allclose(updates, -eta * g, rtol=1e-6)
    # Along a zero direction there is nothing to do: the step is zero, not NaN.
    zero, _ = opt.update(jnp.zeros(2), opt.init(p), p, value=f(p), grad=jnp.zeros(2), value_fn=f)
    np.testing.assert_array_equal(zero, jnp.zeros(2))


def test_save_and_load_round_trip(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame[["target"]].assign(twice=2 * frame["target"])
    model = GradientDescentRegressor(alpha=0.5).fit(x, y)
    path = save_model(tmp_path / "model.npz", model)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_params() == model.get_params()
    assert list(loaded.feature_names_in_) == list(x.columns)
    assert loaded.n_iter_ == model.n_iter_
    np.testing.assert_array_equal(loaded.loss_curve_, model.loss_curve_)
    # Plain arrays: the file loads without pickle.
    with np.load(path, allow_pickle=False) as archive:
        assert {"coef", "intercept", "loss_curve"} <= set(archive.files)


def test_saved_custom_optimizer_loads_with_the_default(tmp_path):
    model = GradientDescentRegressor(optimizer=optax.sgd(0.1))
    model.fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    assert model.learning_rate_ is None
    np.testing.assert_allclose(model.coef_, [2.0], rtol=1e-6)
    loaded = load_model(save_model(tmp_path / "m.npz", model))
    assert loaded.optimizer == "lbfgs"
    np.testing.assert_array_equal(loaded.predict([[3.0]]), model.predict([[3.0]]))


def test_load_model_rejects_other_and_corrupt_files(tmp_path):
    other = save_arrays(tmp_path / "params.npz", {"w": np.ones(2)}, kind="params")
    with pytest.raises(ValueError, match="holds a 'params', not a 'model'"):
        load_model(other)
    model = GradientDescentRegressor().fit([[0.0], [1.0]], [1.0, 3.0])
    path = save_model(tmp_path / "model.npz", model)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    with pytest.raises(TypeError, match="GradientDescentRegressor"):
        save_model(tmp_path / "x.npz", LinearRegression())


def test_dataframe_with_a_text_column_is_rejected():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    with pytest.raises(ValueError, match="could not convert|dtype"):
        GradientDescentRegressor().fit(frame, [1.0, 2.0, 3.0])


def test_degree_fits_a_polynomial_in_one_variable():
    """``degree=d``: X is the variable itself; coef_ has d entries, matching least squares on
    the powers (and numpy.polynomial), and predict/score form the same powers."""
    rng = np.random.default_rng(7)
    t = rng.uniform(-2.0, 2.0, 50)
    y = 1.0 - 2.0 * t + 0.5 * t**3 + 0.1 * rng.normal(size=50)
    model = GradientDescentRegressor(degree=3).fit(t[:, None], y)
    powers = np.column_stack([t, t**2, t**3])
    coef, intercept = lstsq(powers, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-12)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-12)
    reference = np.polynomial.Polynomial.fit(t, y, 3).convert().coef  # b0 ... b3
    np.testing.assert_allclose([model.intercept_, *model.coef_], reference, rtol=1e-9)
    assert model.n_features_in_ == 1 and model.accuracy_ > 13
    new = np.array([[0.5], [3.0]])
    expected = np.polynomial.polynomial.polyval(new[:, 0], [model.intercept_, *model.coef_])
    np.testing.assert_allclose(model.predict(new), expected, rtol=1e-13)
    assert model.score(t[:, None], y) == pytest.approx(
        LinearRegression().fit(powers, y).score(powers, y), rel=1e-12)
    # Several targets, no intercept, a DataFrame's column name.
    frame = pd.DataFrame({"t": t})
    two = GradientDescentRegressor(degree=2, fit_intercept=False)
    two.fit(frame, np.column_stack([y, -y]))
    assert two.coef_.shape == (2, 2) and list(two.feature_names_in_) == ["t"]
    np.testing.assert_allclose(two.coef_[0], lstsq(powers[:, :2], y, intercept=False)[0],
                               rtol=1e-12)


def test_degree_refuses_what_it_cannot_fit():
    x = np.column_stack([np.arange(5.0), np.ones(5)])
    with pytest.raises(ValueError, match=r"X must have exactly one column .*degree is set; "
                                         r"got 2 columns with degree=3"):
        GradientDescentRegressor(degree=3).fit(x, np.arange(5.0))
    with pytest.raises(ValueError, match="degree=400 is too large for this X: x\\*\\*degree "
                                         "overflows float64"):
        GradientDescentRegressor(degree=400).fit([[1e3], [2.0]], [1.0, 2.0])
    # Two distinct values cannot determine a cubic: the warning names the powers.
    with pytest.warns(CollinearityWarning, match=r"columns 't', 't\*\*2' and 't\*\*3' are"):
        GradientDescentRegressor(degree=3).fit(pd.DataFrame({"t": [1.0, 2.0] * 3}), [1.0, 2] * 3)
    model = GradientDescentRegressor(degree=2).fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 5.0])
    with pytest.raises(ValueError, match="X has 2 features"):
        model.predict(x)
    model.set_params(degree=3)  # changed after fit: predict refuses rather than mispredicts
    with pytest.raises(ValueError, match="degree=3 gives 3 coefficients, but this model was "
                                         "fitted with 2"):
        model.predict([[1.0]])
    dask_array = pytest.importorskip("dask.array")
    column = dask_array.from_array(np.arange(6.0)[:, None], chunks=3)
    with pytest.raises(ValueError, match=r"degree must be None for Dask data .*; got degree=3"):
        GradientDescentRegressor(degree=3).fit(column, dask_array.arange(6.0, chunks=3))
    with pytest.raises(ValueError, match="degree must be None for Dask data"):
        model.set_params(degree=2).predict(column)


def test_degree_warm_start_and_partial_fit():
    t = np.linspace(-1.0, 1.0, 40)
    y = 2.0 + t - 3.0 * t**2
    cold = GradientDescentRegressor(degree=2).fit(t[:, None], y)
    warm = GradientDescentRegressor(degree=2, warm_start=True).fit(t[:, None], y)
    warm.fit(t[:, None], y)  # starts at the solution
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-12)
    assert warm.n_iter_ < cold.n_iter_
    stream = GradientDescentRegressor(degree=2, optimizer="adam", learning_rate=0.05)
    for _ in range(300):
        stream.partial_fit(t[:, None], y)
    np.testing.assert_allclose(stream.coef_, [1.0, -3.0], atol=1e-2)


def test_save_and_load_keep_degree(tmp_path):
    t = np.linspace(0.5, 3.0, 30)
    model = GradientDescentRegressor(degree=4).fit(pd.DataFrame({"t": t}), np.exp(t))
    loaded = load_model(save_model(tmp_path / "poly.npz", model))
    assert loaded.degree == 4 and loaded.n_features_in_ == 1
    frame = pd.DataFrame({"t": [0.7, 2.5]})
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    # A file whose degree disagrees with its coefficients is refused.
    model.set_params(degree=3)  # 4 coefficients saved under degree=3
    save_model(tmp_path / "bad.npz", model)
    with pytest.raises(ValueError, match="its degree must be the number of coefficients"):
        load_model(tmp_path / "bad.npz")
