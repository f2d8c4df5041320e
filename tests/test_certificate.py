"""The estimator's stopping certificate: the exact gap to the minimum, held only at rounding noise.

See ``dl_workshop.estimator.certificate``: the least-squares objective is quadratic, so
``||Wᵀ g||² / (4 inv_k)`` is exactly ``J(θ) - J*``; when the loss's rounding noise exceeds ``tol``
and that gap is down to the gradient's own rounding noise, the gradient is reported as zero.
"""

import jax
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning

import dl_workshop.estimator.regressor as regressor_module
from dl_workshop.engine.result import FitResult
from dl_workshop.estimator import GradientDescentRegressor
from dl_workshop.estimator.finish import NEWTON_STEPS, REFINE_STEPS, UNCERTIFIED, finish
from dl_workshop.estimator.params import validate_hyperparameters
from dl_workshop.estimator.problem import (
    build_problem,
    certified_objective,
    fit_scaling,
    objective,
    objective_for,
)
from dl_workshop.estimator.solve import warn_if_not_converged


def scaled_problem(*, alpha=0.0, fit_intercept=True, k=1, weights=False, certify_tol=1e-12):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4)) + rng.normal(size=4)
    ys = x @ rng.normal(size=(4, k)) + rng.normal(size=(60, k))
    w = rng.uniform(0.5, 2.0, 60) if weights else np.ones(60)
    scaling = fit_scaling(x, ys, w, fit_intercept, True)
    problem, shape, conditioning = build_problem(
        x, ys, w, scaling, alpha=alpha, fit_intercept=fit_intercept, dtype=np.float64,
        certify_tol=certify_tol,
    )
    return problem, shape


def minimizer(problem):
    """The minimizer in scaled variables: least squares on the weighted design, the penalty as
    extra rows (backward stable, so its gradient is rounding noise)."""
    z, t, root = problem.z, problem.target, np.sqrt(problem.weights)[:, None]
    columns = np.column_stack([z, np.full(len(root), float(problem.intercept_mask))])
    penalty = np.diag(np.sqrt(np.concatenate([problem.penalty, [0.0]])))
    design = np.vstack([root * columns, penalty])
    rhs = np.vstack([root * t, np.zeros((len(penalty), t.shape[1]))])
    theta = np.linalg.lstsq(design, rhs, rcond=None)[0]
    params = {"w": theta[:-1], "b": theta[-1] * float(problem.intercept_mask)}
    # Two Newton steps with the objective's own gradient (H⁺ = W Wᵀ / (2 inv_k)): the minimizer
    # of the arithmetic the fit uses, whose gradient is its rounding noise.
    with jax.enable_x64(True):
        for _ in range(2):
            grads = objective(params, 0, problem)[1]
            stacked = np.concatenate([np.asarray(grads["w"]), np.asarray(grads["b"])[None, :]])
            step = problem.whiten @ (problem.whiten.T @ stacked) / (2 * problem.inv_k)
            params = {"w": params["w"] - step[:-1], "b": params["b"] - step[-1]}
    return params


def gap(problem, params):
    _, grads = objective(params, 0, problem)
    stacked = np.concatenate([np.asarray(grads["w"]), np.asarray(grads["b"])[None, :]])
    return float(np.sum((problem.whiten.T @ stacked) ** 2) / (4 * problem.inv_k))


@pytest.mark.parametrize(
    "options",
    [{}, {"alpha": 3.0}, {"fit_intercept": False}, {"k": 3}, {"weights": True}],
    ids=["plain", "ridge", "no-intercept", "three-targets", "weighted"],
)
def test_the_gap_is_exactly_the_distance_to_the_minimum(options):
    problem, (rows, cols, outs) = scaled_problem(**options)
    best = minimizer(problem)
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        j_best = float(objective(best, 0, problem)[0])
        for scale in (1.0, 1e-3):
            params = {
                "w": best["w"] + scale * rng.normal(size=(cols, outs)),
                "b": best["b"] + scale * rng.normal(size=outs),
            }
            excess = float(objective(params, 0, problem)[0]) - j_best
            assert gap(problem, params) == pytest.approx(excess, rel=1e-6)


def test_the_certified_objective_holds_only_at_rounding_noise():
    problem, (_, cols, outs) = scaled_problem(certify_tol=0.0)  # 0: the loss test counts as blind
    best = minimizer(problem)
    with jax.enable_x64(True):
        value, grads = certified_objective(best, 0, problem)
        assert float(value) == pytest.approx(float(objective(best, 0, problem)[0]), rel=1e-15)
        assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads))
        near = {"w": best["w"] + 1e-6, "b": best["b"]}
        _, grads = certified_objective(near, 0, problem)
        reference = objective(near, 0, problem)[1]
        np.testing.assert_array_equal(np.asarray(grads["w"]), np.asarray(reference["w"]))


def test_a_tol_the_loss_can_resolve_leaves_the_gradient_alone():
    problem, _ = scaled_problem(certify_tol=1e-12)
    best = minimizer(problem)
    with jax.enable_x64(True):
        _, grads = certified_objective(best, 0, problem)
        reference = objective(best, 0, problem)[1]
    # This well-conditioned loss resolves 1e-12: the engine's own test decides, as before.
    np.testing.assert_array_equal(np.asarray(grads["w"]), np.asarray(reference["w"]))


def test_fits_without_a_certificate_use_the_plain_objective():
    assert objective_for(scaled_problem(certify_tol=None)[0]) is objective
    assert objective_for(scaled_problem()[0]) is certified_objective


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("options", [{}, {"optimizer": "gd", "random_state": 0}, {"alpha": 1.0}])
def test_the_certificate_changes_nothing_where_the_loss_test_works(monkeypatch, options):
    x, y = load_diabetes(return_X_y=True)
    with_certificate = GradientDescentRegressor(**options).fit(x, y)
    monkeypatch.setattr(regressor_module, "_certify_tol", lambda settings: None)
    without = GradientDescentRegressor(**options).fit(x, y)
    assert with_certificate.n_iter_ == without.n_iter_
    np.testing.assert_array_equal(with_certificate.coef_, without.coef_)
    np.testing.assert_array_equal(with_certificate.loss_curve_, without.loss_curve_)


def stopped_at(problem, params, n_steps, status="converged"):
    return FitResult(theta=params, losses=np.zeros(n_steps), n_steps=n_steps, status=status)


def test_the_finisher_takes_newton_steps_where_a_blind_loss_test_stopped_early():
    problem, _ = scaled_problem(certify_tol=0.0)  # 0: the loss test counts as blind
    best = minimizer(problem)
    away = {"w": best["w"] + 0.1, "b": best["b"] - 0.2}
    settings = validate_hyperparameters(GradientDescentRegressor().get_params())
    finished = finish(stopped_at(problem, away, 7), problem, settings)
    # Newton steps to the first certified point (one or two), then REFINE_STEPS more.
    assert finished.status == "converged"
    assert 7 + REFINE_STEPS + 1 <= finished.n_steps <= 7 + NEWTON_STEPS
    assert len(finished.losses) == finished.n_steps
    with jax.enable_x64(True):
        grads = certified_objective(finished.theta, 0, problem)[1]
        assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads))
        assert gap(problem, finished.theta) < 1e-25
    # Where the loss test resolves tol, or without a certificate, nothing is changed.
    resolved, _ = scaled_problem(certify_tol=1e-12)
    result = stopped_at(resolved, away, 7)
    assert finish(result, resolved, settings) is result
    plain, _ = scaled_problem(certify_tol=None)
    assert finish(stopped_at(plain, away, 7), plain, settings).theta is away


def test_the_finisher_says_when_it_could_not_certify():
    problem, _ = scaled_problem(certify_tol=0.0)
    best = minimizer(problem)
    away = {"w": best["w"] + 0.1, "b": best["b"]}
    settings = validate_hyperparameters(GradientDescentRegressor(max_iter=7).get_params())
    assert finish(stopped_at(problem, away, 7), problem, settings).status == UNCERTIFIED
    ran_out = finish(stopped_at(problem, away, 7, "max_steps"), problem, settings)
    assert ran_out.status == "max_steps" and ran_out.n_steps == 7


def test_an_uncertified_stop_warns():
    settings = validate_hyperparameters(GradientDescentRegressor().get_params())
    result = FitResult(theta=None, losses=np.zeros(40), n_steps=40, status=UNCERTIFIED)
    with pytest.warns(ConvergenceWarning, match="stopped after 40 iterations where the loss's"):
        warn_if_not_converged(result, settings)
