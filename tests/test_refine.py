"""Refinement: double-double residuals against exact rational arithmetic, refined fits against
exact least squares, and what is not refined (float32, partial_fit, unconverged fits).

See ``dl_workshop.estimator.refine`` and ``dl_workshop.estimator.extended``.
"""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from test_nist import exact_least_squares

from dl_workshop.estimator import GradientDescentRegressor
from dl_workshop.estimator.extended import (
    dd_sum,
    design,
    powers,
    residual_products,
    two_product,
    two_sum,
)
from dl_workshop.estimator.refine import AccuracyWarning


def _values(seed, n=200):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, size=n)


def test_two_sum_and_two_product_are_exact():
    a, b = _values(0), _values(1)
    s, e = two_sum(a, b)
    p, f = two_product(a, b)
    for i in range(len(a)):
        assert Fraction(s[i]) + Fraction(e[i]) == Fraction(a[i]) + Fraction(b[i])
        assert Fraction(p[i]) + Fraction(f[i]) == Fraction(a[i]) * Fraction(b[i])


def test_a_double_double_sum_survives_cancellation():
    terms = _values(2, 300)
    terms = np.concatenate([terms, -terms[::-1] * (1 + 2.0**-40), [1e-30]])  # near cancellation
    hi, lo = dd_sum(terms, np.zeros_like(terms))
    exact = sum(Fraction(t) for t in terms)
    assert float(hi) == float(exact)  # the nearest float64 to the exact sum
    assert float(hi) != float(np.sum(terms)) and math.fsum(terms) == float(exact)


def test_the_normal_residual_is_the_exact_one_rounded():
    rng = np.random.default_rng(3)
    n, d, k = 40, 3, 2
    x = rng.normal(size=(n, d)) * [1.0, 1e3, 1e-3] + 5.0
    coef = rng.normal(size=(d, k))
    intercept = rng.normal(size=k)
    y = x @ coef + intercept + 1e-12 * rng.normal(size=(n, k))  # residuals ~1e-12 of the terms
    w = rng.uniform(0.5, 2.0, n)
    ones = np.ones(n)
    ones[::5] = 0.0  # rows without the intercept (as an R factor's)
    offset = x.mean(axis=0)
    g, g0 = residual_products(design(x, offset, ones), y, w, ones, coef, intercept)
    for t in range(k):
        r = [Fraction(y[i, t]) - Fraction(ones[i]) * Fraction(intercept[t])
             - sum(Fraction(x[i, j]) * Fraction(coef[j, t]) for j in range(d)) for i in range(n)]
        wr = [Fraction(w[i]) * r[i] for i in range(n)]
        for j in range(d):
            exact = sum((Fraction(x[i, j]) - Fraction(ones[i]) * Fraction(offset[j])) * wr[i]
                        for i in range(n))
            assert g[j, t] == pytest.approx(float(exact), rel=1e-15, abs=0)
        assert g0[t] == pytest.approx(float(sum(wr[i] for i in range(n) if ones[i])), rel=1e-15)


def test_double_double_powers_are_exact_to_thirty_digits():
    x = np.random.default_rng(5).uniform(-9.0, 9.0, 50)
    hi, lo = powers(x, 10)
    for i in range(len(x)):
        for k in range(1, 11):
            exact = Fraction(x[i]) ** k
            assert hi[i, k - 1] == float(exact) or abs(Fraction(hi[i, k - 1]) - exact) <= abs(
                exact) * 2.0**-52  # hi is x^k rounded (to within its last bit)
            error = Fraction(hi[i, k - 1]) + Fraction(lo[i, k - 1]) - exact
            assert abs(error) <= abs(exact) * 1e-30


def test_the_normal_residual_of_exact_powers_is_the_exact_one_rounded():
    """A design given as double-double (``x_lo``): residual and products with the exact powers,
    not with their float64 roundings."""
    rng = np.random.default_rng(6)
    t = rng.uniform(1.0, 3.0, 30)
    hi, lo = powers(t, 5)
    coef = rng.normal(size=(5, 1))
    y = hi @ coef + 1e-13 * rng.normal(size=(30, 1))
    offset = hi.mean(axis=0)
    ones = np.ones(30)
    g, g0 = residual_products(design(hi, offset, ones, lo), y, ones, ones, coef, np.zeros(1))
    r = [Fraction(y[i, 0]) - sum(Fraction(t[i]) ** (j + 1) * Fraction(coef[j, 0])
                                 for j in range(5)) for i in range(30)]
    for j in range(5):
        exact = sum((Fraction(t[i]) ** (j + 1) - Fraction(offset[j])) * r[i] for i in range(30))
        assert g[j, 0] == pytest.approx(float(exact), rel=1e-14, abs=0)
    assert g0[0] == pytest.approx(float(sum(r)), rel=1e-14)
    # With the rounded powers alone the residuals differ by far more than that.
    rounded, _ = residual_products(design(hi, offset, ones), y, ones, ones, coef, np.zeros(1))
    assert abs(rounded[0, 0] - g[0, 0]) > 1e-6 * abs(g[0, 0])


def polynomial(n=60, degree=7, seed=4):
    """An ill-conditioned design (powers of non-dyadic x, each rounded) and noisy targets."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(1.0, 3.0, n))
    x = np.column_stack([t**p for p in range(1, degree + 1)])
    y = np.sin(3 * t) + 0.01 * rng.normal(size=n)
    return x, y


def test_a_refined_fit_is_the_exact_least_squares_solution_of_its_data():
    x, y = polynomial()
    model = GradientDescentRegressor().fit(x, y)
    exact = [float(v) for v in exact_least_squares(np.column_stack([np.ones(len(y)), x]), y)]
    ours = np.concatenate([[model.intercept_], model.coef_])
    np.testing.assert_allclose(ours, exact, rtol=1e-13)
    assert model.condition_number_ > 1e6  # where the optimizer alone loses digits
    # accuracy_ includes the rounding of the powers: fewer digits than agree with `exact`.
    assert 6 <= model.accuracy_ <= 14


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_any_optimizer_that_converged_is_refined(optimizer):
    x, y = load_diabetes(return_X_y=True)
    model = GradientDescentRegressor(optimizer=optimizer, max_iter=3000, tol=1e-9).fit(x, y)
    reference = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y, rcond=None)[0]
    np.testing.assert_allclose(model.coef_, reference[:-1], rtol=1e-12)
    assert model.intercept_ == pytest.approx(reference[-1], rel=1e-13)
    assert model.accuracy_ > 10


def test_ridge_weights_and_several_targets_are_refined():
    rng = np.random.default_rng(5)
    x, _ = polynomial(degree=4)
    ys = np.column_stack([x @ rng.normal(size=4), np.cos(x[:, 0])]) + 1.0
    w = rng.uniform(0.1, 3.0, len(x))
    model = GradientDescentRegressor(alpha=1e-3).fit(x, ys, sample_weight=w)
    ridge = Ridge(alpha=1e-3, solver="svd").fit(x, ys, sample_weight=w)
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-9)
    np.testing.assert_allclose(model.intercept_, ridge.intercept_, rtol=1e-9)
    assert model.accuracy_ > 8


def test_float32_fits_and_partial_fit_are_not_refined():
    x, y = polynomial(degree=3)
    exact = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y, rcond=None)[0]
    single = GradientDescentRegressor(dtype="float32").fit(x, y)
    assert single.accuracy_ is None
    # float32 accuracy: a refined fit would agree to 1e-12.
    assert np.max(np.abs(single.coef_ - exact[:-1]) / np.abs(exact[:-1])) > 1e-9
    x, y = polynomial(degree=1)
    stream = GradientDescentRegressor(optimizer="gd").fit(x, y)
    assert stream.accuracy_ is not None
    assert stream.partial_fit(x, y).accuracy_ is None


def test_an_unconverged_fit_is_measured_not_refined():
    x, y = polynomial()
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        model = GradientDescentRegressor(max_iter=3).fit(x, y)
    exact = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y, rcond=None)[0]
    ours = np.concatenate([model.coef_, [model.intercept_]])
    error = np.max(np.abs(ours - exact) / np.abs(exact))
    assert error > 1e-3  # three iterations, as asked
    assert model.accuracy_ == pytest.approx(-np.log10(error), abs=1.0)


def test_data_that_determine_few_digits_warn():
    x, y = polynomial(degree=12)
    with pytest.warns(AccuracyWarning, match=r"about \d+\.\d correct significant digits"):
        model = GradientDescentRegressor(max_iter=5000).fit(x, y)
    assert model.accuracy_ < 6
    x, y = polynomial(degree=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GradientDescentRegressor().fit(x, y).accuracy_ > 10


def test_with_degree_the_refined_fit_is_the_exact_solution_of_x_itself():
    """``degree=7`` on the column ``t``: the exact least-squares solution of ``t`` and ``y``
    with the powers computed exactly, not that of the rounded powers the matrix route sees."""
    x, y = polynomial()
    t = x[:, 0]
    model = GradientDescentRegressor(degree=7).fit(t[:, None], y)
    exact = [float(v) for v in exact_least_squares(t, y, degree=7)]
    ours = np.concatenate([[model.intercept_], model.coef_])
    np.testing.assert_allclose(ours, exact, rtol=1e-13)
    matrix = GradientDescentRegressor().fit(x, y)
    assert model.accuracy_ > matrix.accuracy_ + 1  # no rounded powers in its data
    rounded = np.concatenate([[matrix.intercept_], matrix.coef_])
    assert np.max(np.abs(rounded - exact) / np.abs(exact)) > 1e-12  # they are other problems
