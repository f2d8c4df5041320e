"""The estimator's engine call (``dl_workshop.estimator.solve.run_engine``): straight to the
solver, it gives what the public ``fit_objective`` gives on the same problem, and still goes
through ``fit_objective`` (which writes the file) when there is a checkpoint.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from dl_workshop.estimator import GradientDescentRegressor
from dl_workshop.estimator.problem import LEAST_SQUARES, initial_params, pad_params
from dl_workshop.estimator.solve import (
    CHUNK_STEPS,
    engine_tol,
    optimizer_for,
    run_engine,
    step_size_for,
)
from dl_workshop.fitting.optimization import DivergenceError, fit_objective


def _prepared(**hyperparameters):
    x, y = load_diabetes(return_X_y=True)
    model = GradientDescentRegressor(**hyperparameters)
    prep = model._prepare(x, y, None, partial=False)
    params0 = pad_params(initial_params(None, prep.scaling, prep.d, prep.k, True), prep.shape)
    return prep, params0


@pytest.mark.parametrize("hyperparameters", [{}, {"optimizer": "gd", "max_iter": 40},
                                             {"dtype": "float32", "optimizer": "adam"}])
def test_the_direct_call_equals_fit_objective(hyperparameters):
    prep, params0 = _prepared(**hyperparameters)
    step = step_size_for(prep.settings, params0, prep.problem)
    optimizer = optimizer_for(prep.settings, step)
    tol = engine_tol(prep.settings.tol, prep.conditioning.loss_noise)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_engine(prep.problem, params0, prep.settings, step_size=step,
                          optimizer=optimizer, tol=tol)
        public = fit_objective(
            LEAST_SQUARES, params0, prep.problem, n_steps=prep.settings.max_iter,
            step_size=step if step is not None else 1.0, optimizer=optimizer, progress=False,
            tol=tol, patience=prep.settings.n_iter_no_change, dtype=prep.settings.dtype,
            checkpoint_every=CHUNK_STEPS,
        )
    assert ours.status == public.status and ours.n_steps == public.n_steps
    np.testing.assert_array_equal(np.asarray(ours.losses), np.asarray(public.losses))
    for name in ("w", "b"):
        assert np.asarray(ours.theta[name]).dtype == prep.settings.dtype
        np.testing.assert_array_equal(np.asarray(ours.theta[name]),
                                      np.asarray(public.theta[name]))


def test_a_fit_with_a_checkpoint_equals_one_without(tmp_path):
    x, y = load_diabetes(return_X_y=True)
    plain = GradientDescentRegressor().fit(x, y)
    saved = GradientDescentRegressor(checkpoint=tmp_path / "fit.npz").fit(x, y)
    assert (tmp_path / "fit.npz").is_file()
    assert saved.n_iter_ == plain.n_iter_
    np.testing.assert_array_equal(saved.coef_, plain.coef_)
    assert saved.intercept_ == plain.intercept_


def test_a_divergence_keeps_the_estimators_advice():
    x, y = load_diabetes(return_X_y=True)
    with pytest.raises(DivergenceError, match="learning_rate=1e\\+06"):
        GradientDescentRegressor(optimizer="gd", learning_rate=1e6, standardize=False).fit(x, y)
