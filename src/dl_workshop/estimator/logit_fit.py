"""The classifier's fits in memory: the checked data, the engine's run, the Newton finish.

:func:`labelled_data` checks ``(X, y, sample_weight)`` as scikit-learn does and encodes the
labels; :func:`fit_in_memory` scales the features (the regressor's change of variables), runs
the engine on :data:`~dl_workshop.estimator.logit.LOGISTIC` with the regressor's optimizers
(``"lbfgs"`` with optax's zoom line search, the loss not being quadratic), then, where the
Hessian is small, ends with Newton steps (:mod:`~dl_workshop.estimator.logit_newton`) so that
the fit reaches the optimum to rounding; :func:`partial_update` is ``partial_fit``'s step.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import numpy as np
import optax
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight, validate_data

from dl_workshop.compilation.executables import register_stable_name
from dl_workshop.estimator.classes import (
    check_labels,
    encode_labels,
    given_classes,
    sample_weights,
    validate_classifier_hyperparameters,
)
from dl_workshop.estimator.fit_data import WEIGHTS_NOT_FINITE_MESSAGE
from dl_workshop.estimator.logit import (
    LOGISTIC,
    build_logit_problem,
    curvature_bound,
    logit_scaling,
    n_logits,
)
from dl_workshop.estimator.logit_newton import damped_newton, in_memory_sums
from dl_workshop.estimator.optimizers import LBFGS_MEMORY
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.partial import Stream, start_stream, stream_update
from dl_workshop.estimator.problem import (
    Scaling,
    initial_params,
    original_units,
    pad_params,
    unpad_params,
)
from dl_workshop.estimator.solve import optimizer_for, run_engine, warn_if_not_converged

NAME = "GradientDescentClassifier"

#: The Newton finish runs when ``n (m k)²`` (the Hessian's work: rows times its size) is at
#: most this (binary 200 000 x 50: 5e8; 10 classes of 100 000 x 50: 2.6e10, left to L-BFGS).
NEWTON_WORK = 5e9

#: The most Newton steps of the finish (taken after the engine's ``max_iter`` at most).
NEWTON_STEPS = 20

SEPARATED_MESSAGE = (
    "GradientDescentClassifier: the classes are linearly separable and alpha=0, so the loss "
    "has no minimum and the coefficients grow without bound (largest |coef| {size:.3g} after "
    "{n_iter} iterations); set alpha > 0 (alpha=1.0 is LogisticRegression's C=1) for a unique, "
    "finite solution"
)


class Labelled(NamedTuple):
    """Checked data: features ``(n, d)``, class codes ``(n,)``, the classes, and the sample
    weights times the class weights ``(n,)``."""

    x: np.ndarray
    codes: np.ndarray
    classes: np.ndarray
    weights: np.ndarray


class Fitted(NamedTuple):
    """What a fit sets on the estimator (``n_passes``: Dask fits only)."""

    classes: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    loss_curve: np.ndarray
    learning_rate: float | None
    scaling: Scaling | None
    n_passes: int | None = None


def settings_of(estimator: Any) -> tuple[Hyperparameters, Any]:
    """The validated hyperparameters and ``class_weight`` of ``estimator``."""
    return validate_classifier_hyperparameters(estimator.get_params(deep=False))


def labelled_data(estimator: Any, X: Any, y: Any, sample_weight: Any, class_weight: Any, *,  # noqa: N803
                  reset: bool, classes: Any = None, given: bool = False) -> Labelled:
    """Check ``(X, y, sample_weight)`` (scikit-learn's ``validate_data``; labels of a
    classification; ``classes`` when ``given``) and weigh the samples by their class."""
    x, y = validate_data(estimator, X, y, reset=reset, dtype=np.float64)
    y = check_labels(y)
    allowed = given_classes(classes) if given else None
    classes, codes = encode_labels(y, allowed)
    weights = _check_sample_weight(sample_weight, x, dtype=np.float64, ensure_non_negative=True)
    if not np.all(np.isfinite(weights)):
        raise ValueError(WEIGHTS_NOT_FINITE_MESSAGE)
    return Labelled(x, codes, classes, sample_weights(class_weight, classes, codes, weights))


@functools.cache
def _zoom_lbfgs() -> optax.GradientTransformation:
    # Named, so that a second process loads its compiled loops whole
    # (dl_workshop.compilation.executables).
    return register_stable_name(optax.lbfgs(memory_size=LBFGS_MEMORY), f"{__name__}._zoom_lbfgs()")


def step_and_optimizer(settings: Hyperparameters, problem: Any) -> tuple[float | None, Any]:
    """``(step size, optimizer)``: the regressor's choices, with ``1/L`` from the logistic
    loss's curvature bound and L-BFGS with a zoom line search."""
    name, rate = settings.optimizer, settings.learning_rate
    if not isinstance(name, str) or (name == "lbfgs" and rate == "auto"):
        step = None
    else:
        step = 1.0 / curvature_bound(problem) if rate == "auto" else rate
    if name == "lbfgs" and step is None:
        return None, _zoom_lbfgs()
    return step, optimizer_for(settings, step)


def _start(previous: Any, classes: np.ndarray, scaling: Scaling, d: int, k: int,
           fit_intercept: bool) -> dict:
    """The previous solution in scaled variables when its classes and shape match, else 0."""
    same = previous is not None and np.array_equal(previous[3], classes)
    return initial_params(previous[:3] if same else None, scaling, d, k, fit_intercept)


def _theta(coef: np.ndarray, d: int, fit_intercept: bool) -> dict:
    k = coef.shape[1]
    return {"w": coef[:d], "b": coef[d] if fit_intercept else np.zeros(k)}


def _stacked(theta: dict, fit_intercept: bool) -> np.ndarray:
    w = np.asarray(theta["w"], np.float64)
    return np.vstack([w, np.asarray(theta["b"], np.float64)[None]]) if fit_intercept else w


def newton_finish(data: Labelled, scaling: Scaling, settings: Hyperparameters, theta: dict,
                  budget: int) -> tuple[dict, list, str, int]:
    """``(theta, losses after each step, status, errors)``: Newton steps from ``theta`` on the
    scaled data in float64 when the Hessian is small (``status`` ``"skipped"`` otherwise;
    ``errors`` counts misclassified rows at the end, 0 when separated)."""
    z = (data.x - scaling.x_offset) / scaling.x_scale
    fit_intercept = settings.fit_intercept
    penalty = settings.alpha / (2 * data.weights.sum() * scaling.x_scale**2)
    coef = _stacked(theta, fit_intercept)
    size = coef.size
    named = isinstance(settings.optimizer, str) and settings.optimizer in ("lbfgs", "gd")
    if not (named and settings.tol is not None and budget > 0
            and len(z) * size**2 <= NEWTON_WORK):
        errors = in_memory_sums(z, data.codes, data.weights, coef, intercept=fit_intercept,
                                hessian=False).errors
        return theta, [], "skipped", errors
    result = damped_newton(
        lambda c: in_memory_sums(z, data.codes, data.weights, c, intercept=fit_intercept),
        coef, penalty, intercept=fit_intercept, max_steps=min(NEWTON_STEPS, budget),
        stop_if_separated=settings.alpha == 0,
    )
    errors = 0 if result.status == "separated" else 1
    return _theta(result.coef, z.shape[1], fit_intercept), result.losses[1:], result.status, errors


def fit_in_memory(data: Labelled, settings: Hyperparameters, previous: Any) -> Fitted:
    """Fit on data in memory: the engine, then the Newton finish; the warnings."""
    n_classes, d = len(data.classes), data.x.shape[1]
    k = n_logits(n_classes)
    scaling = logit_scaling(data.x, data.weights, k, settings.fit_intercept, settings.standardize,
                            settings.alpha)
    problem, shape = build_logit_problem(
        data.x, data.codes, n_classes, data.weights, scaling, alpha=settings.alpha,
        fit_intercept=settings.fit_intercept, dtype=settings.dtype,
    )
    params0 = pad_params(_start(previous, data.classes, scaling, d, k, settings.fit_intercept),
                         shape)
    step, optimizer = step_and_optimizer(settings, problem)
    result = run_engine(problem, params0, settings, step_size=step, optimizer=optimizer,
                        objective=LOGISTIC, estimator=NAME)
    losses = list(np.asarray(result.losses, np.float64) - float(problem.offset))
    theta, finish_losses, status, errors = newton_finish(
        data, scaling, settings, unpad_params(result.theta, d, k),
        NEWTON_STEPS,
    )
    coef, intercept = original_units(theta, scaling, settings.fit_intercept)
    coef, intercept = centred(coef.T, intercept, n_classes)
    n_iter = int(result.n_steps) + len(finish_losses)
    separated = settings.alpha == 0 and errors == 0
    if separated:
        warnings.warn(SEPARATED_MESSAGE.format(size=float(np.max(np.abs(coef))), n_iter=n_iter),
                      ConvergenceWarning, stacklevel=3)
    elif status not in ("converged", "stalled"):
        warn_if_not_converged(result, settings, NAME)
    return Fitted(data.classes, coef, intercept, n_iter,
                  np.maximum(np.asarray(losses + finish_losses, np.float64), 0.0), step, scaling)


def centred(coef: np.ndarray, intercept: np.ndarray, n_classes: int) -> tuple[Any, Any]:
    """``(coef_ (k, d), intercept_ (k,))``; several classes' intercepts summing to zero (the
    softmax is unchanged by a constant added to every logit)."""
    intercept = np.asarray(intercept, np.float64).reshape(-1)
    if n_classes > 2:
        intercept = intercept - intercept.mean()
    return np.ascontiguousarray(coef), intercept


class Update(NamedTuple):
    """``partial_fit``'s result: the stream to keep and what to store."""

    stream: Stream
    fitted: Fitted


def partial_update(data: Labelled, settings: Hyperparameters, stream: Stream | None,
                   previous: Any, scaling: Scaling | None, *, history: np.ndarray,
                   learning_rate: Any) -> Update:
    """One optimizer update on the batch ``data`` (the regressor's ``partial_fit`` step on
    the classifier's objective); the first batch fixes the scaling."""
    n_classes, d = len(data.classes), data.x.shape[1]
    k = n_logits(n_classes)
    if scaling is None:
        scaling = logit_scaling(data.x, data.weights, k, settings.fit_intercept,
                                settings.standardize, settings.alpha)
    problem, _ = build_logit_problem(
        data.x, data.codes, n_classes, data.weights, scaling, alpha=settings.alpha,
        fit_intercept=settings.fit_intercept, dtype=settings.dtype, pad_features=False,
    )
    if stream is None:
        params = _start(previous, data.classes, scaling, d, k, settings.fit_intercept)
        stream = start_stream(settings, params, problem,
                              step_size=step_and_optimizer(settings, problem)[0])
        history = np.zeros(0)
    stream, loss = stream_update(stream, settings, problem, update=len(history) + 1,
                                 learning_rate=learning_rate, objective=LOGISTIC)
    coef, intercept = original_units(stream.params, scaling, settings.fit_intercept)
    coef, intercept = centred(coef.T, intercept, n_classes)
    curve = np.append(history, max(loss - float(problem.offset), 0.0))
    return Update(stream, Fitted(data.classes, coef, intercept, len(curve), curve, stream.step,
                                 scaling))
