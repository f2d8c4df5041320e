"""``GradientDescentClassifier`` on Dask data: damped Newton, one pass over the data per step.

``fit`` first checks what it can without reading a block (the regressor's checks of ``X`` and
``sample_weight``, :mod:`~dl_workshop.estimator.dask_data`), then makes one *survey* pass (the
labels and their weights, the rows, non-finite values and negative weights, and each label's
weighted Gram matrix, each partition's counted on its worker and combined there), which gives
the loss, gradient and Hessian at the class priors
(:func:`~dl_workshop.estimator.logit_newton.prior_sums`) and so is also the first Newton pass.
The next pass evaluates both the Newton step from there and linear discriminant analysis's point
(:func:`~dl_workshop.estimator.logit_newton.discriminant_start`), keeping the lower; and then
Newton passes: each one computes, for every
partition on its worker, the weighted loss, gradient and Hessian at the current coefficients
(:func:`~dl_workshop.estimator.logit_newton.block_sums`), summed by a tree on the workers, so
that this process receives ``O((m k)²)`` numbers; the damped Newton step is taken here
(:func:`~dl_workshop.estimator.logit_newton.damped_newton`). A line search's trial point is the
next pass's point: an accepted step costs one pass, and the last full step, predicted to leave
a decrement below rounding, none. Well-conditioned data need 4 to 5 passes to a relative loss gap
of 1e-10 (dask-ml's newton: 7). ``n_passes_`` counts the passes.

``predict``, ``predict_proba`` and ``decision_function`` are lazy (``map_blocks``); ``score``
is the accuracy from per-partition sums, one pass.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_feature_names, _check_n_features

from dl_workshop.estimator.classes import ONE_CLASS_MESSAGE, encode_labels
from dl_workshop.estimator.dask_data import (
    NEGATIVE_WEIGHTS_MESSAGE,
    NONFINITE_WEIGHTS_MESSAGE,
    ZERO_WEIGHTS_MESSAGE,
    _features,
    _meta,
    _weights,
)
from dl_workshop.estimator.logit import best_class, n_logits, probabilities
from dl_workshop.estimator.logit_fit import SEPARATED_MESSAGE, Fitted, centred
from dl_workshop.estimator.logit_newton import (
    ARMIJO,
    NEWTON_RTOL,
    LogitSums,
    add_sums,
    block_sums,
    damped_newton,
    discriminant_start,
    newton_direction,
    objective_parts,
    prior_sums,
)
from dl_workshop.io.chunks import aligned_blocks

#: The most Newton steps of a fit on Dask data (each one pass or more).
DASK_NEWTON_STEPS = 100

NONFINITE_X_MESSAGE = "X must be finite; got {count} NaN or infinite value(s)"
NONFINITE_Y_MESSAGE = "y must not contain NaN or infinite labels; got {count}"
NEWTON_NOT_CONVERGED_MESSAGE = (
    "GradientDescentClassifier stopped after {n_iter} Newton steps on Dask data before the "
    "Newton decrement fell to rounding; increase max_iter"
)
LABELS_SHAPE_MESSAGE = "y must be 1-D, one label per row; got a Dask array of shape {shape}"


#: The survey keeps each label's Gram matrix while there are at most this many labels (a
#: continuous ``y`` would otherwise bring one matrix per row before fit refuses it).
SURVEY_GRAM_LABELS = 256


class Survey(NamedTuple):
    """The first pass's counts: rows, non-finite values of X, y and the weights, negative
    weights, each label's count and total weight, and each label's weighted Gram matrix
    ``Σ w x̂ x̂ᵀ`` of ``x̂ = (x, 1)`` (``None`` past :data:`SURVEY_GRAM_LABELS` labels)."""

    n: int
    nonfinite: tuple
    negative: int
    labels: dict
    grams: dict | None


def _label(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def _survey_block(x: Any, y: Any, w: Any = None) -> Survey:
    x, y = np.asarray(x, np.float64), np.asarray(y).reshape(-1)
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64).reshape(-1)
    bad_y = int(np.count_nonzero(~np.isfinite(y))) if y.dtype.kind == "f" else 0
    labels, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(labels))
    totals = np.bincount(inverse, weights=w, minlength=len(labels))
    grams = None
    if len(labels) <= SURVEY_GRAM_LABELS:
        xh = np.hstack([x, np.ones((len(x), 1))])
        grams = {}
        for index, label in enumerate(labels):
            rows = xh[inverse == index]
            grams[_label(label)] = (rows * w[inverse == index, None]).T @ rows
    return Survey(len(y), (int(np.count_nonzero(~np.isfinite(x))), bad_y,
                           int(np.count_nonzero(~np.isfinite(w)))),
                  int(np.count_nonzero(w < 0)),
                  {_label(label): (int(c), float(t))
                   for label, c, t in zip(labels, counts, totals, strict=True)}, grams)


def _combine_surveys(a: Survey, b: Survey) -> Survey:
    labels = dict(a.labels)
    for label, (count, total) in b.labels.items():
        before = labels.get(label, (0, 0.0))
        labels[label] = (before[0] + count, before[1] + total)
    grams = None
    if a.grams is not None and b.grams is not None and len(labels) <= SURVEY_GRAM_LABELS:
        grams = dict(a.grams)
        for label, gram in b.grams.items():
            grams[label] = grams[label] + gram if label in grams else gram
    return Survey(a.n + b.n, tuple(p + q for p, q in zip(a.nonfinite, b.nonfinite, strict=True)),
                  a.negative + b.negative, labels, grams)


def _tree(parts: list[Any], combine: Any) -> Any:
    """One delayed value combining ``parts`` pairwise on the workers, level by level."""
    import dask

    join = dask.delayed(combine, pure=False)
    while len(parts) > 1:
        pairs = [join(*parts[i : i + 2]) for i in range(0, len(parts) - 1, 2)]
        parts = pairs + parts[len(pairs) * 2 :]
    return parts[0]


def _reduce(blocks: list[tuple], function: Any, combine: Any, *args: Any) -> Any:
    """``function(*block, *args)`` on every block's worker, combined there; one pass."""
    import dask

    call = dask.delayed(function, pure=False)
    (total,) = dask.compute(_tree([call(*args, *block) for block in blocks], combine))
    return total


def _labels(y: Any) -> Any:
    """``y`` as a 1-D Dask array of labels (numbers or strings), read lazily."""
    import dask.array as da

    labels = y if isinstance(y, da.Array) else (
        y.to_dask_array() if hasattr(y, "to_dask_array") else da.asarray(np.asarray(y)))
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(LABELS_SHAPE_MESSAGE.format(shape=tuple(labels.shape)))
    return labels


def _checked_survey(survey: Survey, factor: float) -> np.ndarray:
    """The classes of a survey, after fit's checks on data in memory."""
    if survey.n == 0:
        raise ValueError("X must not be empty; got 0 rows")
    for message, count in zip((NONFINITE_X_MESSAGE, NONFINITE_Y_MESSAGE,
                               NONFINITE_WEIGHTS_MESSAGE), survey.nonfinite, strict=True):
        if count:
            raise ValueError(message.format(count=count))
    if survey.negative:
        raise ValueError(NEGATIVE_WEIGHTS_MESSAGE.format(count=survey.negative))
    if factor * sum(total for _, total in survey.labels.values()) <= 0:
        raise ValueError(ZERO_WEIGHTS_MESSAGE.format(n=survey.n))
    classes = np.array(sorted(survey.labels))
    check_classification_targets(classes)
    if len(classes) < 2:
        raise ValueError(ONE_CLASS_MESSAGE.format(label=classes[0].item()))
    return classes


def _class_factors(class_weight: Any, classes: np.ndarray, survey: Survey) -> np.ndarray:
    """Each class's weight: scikit-learn's ``"balanced"`` from the weighted counts, or a dict."""
    if class_weight is None:
        return np.ones(len(classes))
    if isinstance(class_weight, dict):
        return np.array([float(class_weight.get(c.item(), 1.0)) for c in classes])
    totals = np.array([survey.labels[c.item()][1] for c in classes])
    return totals.sum() / (len(classes) * totals)


def _block_sums(coef: np.ndarray, classes: np.ndarray, factors: np.ndarray, intercept: bool,
                x: Any, y: Any, w: Any = None) -> LogitSums:
    """:func:`~dl_workshop.estimator.logit_newton.block_sums` of one partition, its labels
    encoded by ``classes`` and weighed by their class (run on the worker)."""
    _, codes = encode_labels(np.asarray(y).reshape(-1), classes)
    weights = factors[codes]
    if w is not None:
        weights = np.asarray(w, np.float64).reshape(-1) * weights
    return block_sums(np.asarray(x, np.float64), codes, weights, coef, intercept=intercept)


def _block_sums_at(coefs: list, classes: np.ndarray, factors: np.ndarray, intercept: bool,
                   x: Any, y: Any, w: Any = None) -> tuple:
    """:func:`_block_sums` of one partition at each of ``coefs`` (one read of the block)."""
    return tuple(_block_sums(c, classes, factors, intercept, x, y, w) for c in coefs)


def _add_each(a: tuple, b: tuple) -> tuple:
    return tuple(add_sums(p, q) for p, q in zip(a, b, strict=True))


def _evaluate(blocks: list[tuple], classes: np.ndarray, factors: np.ndarray, intercept: bool,
              coefs: list) -> tuple:
    """The :class:`LogitSums` of all the data at each of ``coefs``: one pass."""
    return _reduce(blocks, _block_sums_at, _add_each, coefs, classes, factors, intercept)


def _prior_start(classes: np.ndarray, factors: np.ndarray, survey: Survey, d: int,
                 fit_intercept: bool) -> np.ndarray:
    """Zero coefficients and the intercepts of the class frequencies (log-odds)."""
    totals = np.array([survey.labels[c.item()][1] for c in classes]) * factors
    logs = np.log(np.maximum(totals, np.finfo(np.float64).tiny))
    intercept = logs[1:] - logs[0] if len(classes) == 2 else logs - logs.mean()
    coef = np.zeros((d + int(fit_intercept), n_logits(len(classes))))
    if fit_intercept:
        coef[d] = intercept
    return coef


def _blocks(estimator: Any, X: Any, y: Any, sample_weight: Any, *,  # noqa: N803
            reset: bool) -> tuple[list[tuple], float, int]:
    """``(blocks, weight factor, d)``: the aligned partitions of ``(X, y, sample_weight)``,
    after the checks that read nothing (scikit-learn's feature names and count)."""
    x = _features(X)
    labels = _labels(y)
    weights, factor = _weights(sample_weight, x)
    meta = _meta(X, x)
    _check_feature_names(estimator, meta, reset=reset)
    _check_n_features(estimator, meta, reset=reset)
    blocks = aligned_blocks(*((x, labels) if weights is None else (x, labels, weights)))
    return blocks, factor, x.shape[1]


def _start(previous: Any, classes: np.ndarray, factors: np.ndarray, survey: Survey, d: int,
           fit_intercept: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``(start, the classes' weighted Gram matrices or None)``: the previous solution (warm
    start, same classes), else :func:`_prior_start` and the survey's Gram matrices."""
    if previous is None or not np.array_equal(previous[3], classes):
        start = _prior_start(classes, factors, survey, d, fit_intercept)
        if survey.grams is None:
            return start, None
        return start, np.stack([survey.grams[c.item()] * f for c, f in zip(classes, factors,
                                                                            strict=True)])
    start = np.asarray(previous[0], np.float64).T
    if not fit_intercept:
        return start, None
    return np.vstack([start, np.asarray(previous[1], np.float64)[None]]), None


class Opening(NamedTuple):
    """Where the Newton passes go on from: the point, its sums, the losses before it and the
    passes taken (:func:`_opening`)."""

    coef: np.ndarray
    sums: LogitSums | None
    losses: list
    passes: int


def _opening(evaluate: Any, start: np.ndarray, grams: np.ndarray | None, penalty: np.ndarray,
             intercept: bool) -> Opening:
    """The first step, from the class priors with the survey's sums there
    (:func:`~dl_workshop.estimator.logit_newton.prior_sums`): one pass evaluates both the Newton
    step and linear discriminant analysis's point, and the lower of the two that decreases
    the loss enough (Armijo) is kept; neither: the priors, their pass spent."""
    if grams is None:
        return Opening(start, None, [], 0)
    first = prior_sums(grams, start, intercept=intercept)
    value, grad, hess = objective_parts(first, start, penalty, intercept=intercept)
    direction = newton_direction(grad, hess)
    decrement = -float(np.sum(grad * direction))
    candidates = [start + direction, discriminant_start(grams, intercept=intercept)]
    if not (decrement > 2 * NEWTON_RTOL * abs(value) and np.all(np.isfinite(candidates[0]))):
        return Opening(start, first, [], 0)
    candidates = [c for c in candidates if np.all(np.isfinite(c))]
    best = None
    for coef, sums in zip(candidates, evaluate(candidates), strict=True):
        loss = objective_parts(sums, coef, penalty, intercept=intercept)[0]
        if loss <= value - ARMIJO * decrement and (best is None or loss < best[0]):
            best = (loss, coef, sums)
    if best is None:
        return Opening(start, first, [], 1)
    return Opening(best[1], best[2], [value], 1)


def fit_dask(estimator: Any, X: Any, y: Any, sample_weight: Any, settings: Any,  # noqa: N803
             class_weight: Any, previous: Any) -> Fitted:
    """Fit on Dask data: the survey pass (also the first Newton pass's sums), then damped
    Newton passes."""
    blocks, factor, d = _blocks(estimator, X, y, sample_weight, reset=True)
    survey = _reduce(blocks, _survey_block, _combine_surveys)
    classes = _checked_survey(survey, factor)
    factors = _class_factors(class_weight, classes, survey) * factor
    fit_intercept = settings.fit_intercept
    penalty = np.full(d, settings.alpha / (2 * _weighted_total(survey, classes, factors)))
    start, grams = _start(previous, classes, factors, survey, d, fit_intercept)
    evaluate = functools.partial(_evaluate, blocks, classes, factors, fit_intercept)
    opening = _opening(evaluate, start, grams, penalty, fit_intercept)
    result = damped_newton(
        lambda c: evaluate([c])[0], opening.coef, penalty, intercept=fit_intercept,
        max_steps=min(settings.max_iter, DASK_NEWTON_STEPS) - len(opening.losses),
        stop_if_separated=settings.alpha == 0, first=opening.sums, extrapolate=True,
    )
    result = result._replace(losses=opening.losses + result.losses,
                             n_iter=result.n_iter + len(opening.losses),
                             evaluations=result.evaluations + opening.passes)
    w = result.coef[:d].T
    coef, intercept = centred(w, result.coef[d] if fit_intercept else np.zeros(len(w)),
                              len(classes))
    if result.status == "separated":
        warnings.warn(SEPARATED_MESSAGE.format(size=float(np.max(np.abs(coef))),
                                               n_iter=result.n_iter), ConvergenceWarning,
                      stacklevel=3)
    elif result.status == "max_steps":
        warnings.warn(NEWTON_NOT_CONVERGED_MESSAGE.format(n_iter=result.n_iter),
                      ConvergenceWarning, stacklevel=3)
    return Fitted(classes, coef, intercept, result.n_iter, np.asarray(result.losses), None,
                  None, n_passes=1 + result.evaluations)


def _weighted_total(survey: Survey, classes: np.ndarray, factors: np.ndarray) -> float:
    return float(sum(survey.labels[c.item()][1] * f for c, f in zip(classes, factors,
                                                                      strict=True)))


def _scores_block(block: Any, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray,
                  kind: str) -> np.ndarray:
    scores = np.asarray(block, np.float64) @ coef.T + intercept
    scores = scores[:, 0] if scores.shape[1] == 1 else scores
    if kind == "decision":
        return scores
    if kind == "proba":
        return probabilities(scores)
    return classes[best_class(scores)]


def predict_dask_scores(model: Any, X: Any, kind: str) -> Any:  # noqa: N803
    """Lazy ``decision_function`` (``kind="decision"``), ``predict_proba`` (``"proba"``) or
    ``predict`` (``"label"``) of Dask ``X``: a Dask array.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator.classifier import GradientDescentClassifier
        >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], ["a", "b"])
        >>> x = da.from_array(np.array([[-1.0], [2.0]]), chunks=1)
        >>> predict_dask_scores(model, x, "label").compute().tolist()
        ['a', 'b']
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "coef_")
    x = _features(X)
    meta = _meta(X, x)
    _check_feature_names(model, meta, reset=False)
    _check_n_features(model, meta, reset=False)
    args = (np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64),
            model.classes_, kind)
    k = len(model.classes_)
    if kind == "label" or (kind == "decision" and k == 2):
        dtype = model.classes_.dtype if kind == "label" else np.float64
        return x.map_blocks(_scores_block, *args, drop_axis=1, dtype=dtype)
    return x.map_blocks(_scores_block, *args, chunks=(x.chunks[0], (k,)), dtype=np.float64)


def _accuracy_block(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, x: Any,
                    y: Any, w: Any = None) -> np.ndarray:
    predicted = _scores_block(x, coef, intercept, classes, "label")
    w = np.ones(len(predicted)) if w is None else np.asarray(w, np.float64).reshape(-1)
    return np.array([w @ (predicted == np.asarray(y).reshape(-1)), w.sum()])


def score_dask(model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
    """Accuracy on Dask data (weighted by ``sample_weight``), from per-partition sums: one
    pass.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator.classifier import GradientDescentClassifier
        >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], [0, 1])
        >>> x = da.from_array(np.array([[-1.0], [2.0]]), chunks=1)
        >>> score_dask(model, x, da.from_array(np.array([0, 0]), chunks=1))
        0.5
    """
    blocks, _, _ = _blocks(model, X, y, sample_weight, reset=False)
    correct, total = _reduce(blocks, _accuracy_block, np.add, np.asarray(model.coef_, np.float64),
                             np.asarray(model.intercept_, np.float64), model.classes_)
    return float(correct / total)
