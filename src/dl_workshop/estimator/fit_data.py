"""The estimator's data stage: ``fit`` and ``partial_fit`` read ``X``, ``y`` and
``sample_weight`` here, once (:func:`read_fit_data`): Dask data or data in memory, the
hyperparameters validated, data in memory checked as scikit-learn does plus what it lets
through (no targets, non-finite or all-zero weights, a change in the number of targets), and,
with ``degree``, the powers formed. :class:`MultiOutputTags` holds the scikit-learn tags these
checks read (one or several targets).
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

from dl_workshop.estimator.dask_data import (
    NO_TARGETS_MESSAGE,
    PARTIAL_FIT_DASK_MESSAGE,
    read_once,
)
from dl_workshop.estimator.params import Hyperparameters, validate_hyperparameters
from dl_workshop.estimator.powers import power_design, refuse_dask
from dl_workshop.moments.core import Moments

WEIGHTS_NOT_FINITE_MESSAGE = "sample_weight must be finite; got NaN or infinite weights"
#: scikit-learn >= 1.9 says this itself; older versions let all-zero weights through.
WEIGHTS_ALL_ZERO_MESSAGE = (
    "sample_weight must contain at least one non-zero number; got {n} weights, all zero"
)
TARGETS_CHANGED_MESSAGE = "y has {given} target(s), but this model was fitted with {fitted}"


def validate_fit_data(
    estimator: Any, x: Any, y: Any, sample_weight: Any, *, reset: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(x (n, d), ys (n, k), weights (n,), single)``, float64, checked; ``reset`` sets the
    estimator's ``n_features_in_`` (and feature names), else checks them.

    Raises:
        ValueError: for what scikit-learn refuses, no targets, non-finite or all-zero weights.

    Example:
        >>> from sklearn.base import BaseEstimator
        >>> x, ys, w, single = validate_fit_data(BaseEstimator(), [[1.0], [2.0]], [1.0, 2.0],
        ...                                      None, reset=True)
        >>> ys.shape, w.tolist(), single
        ((2, 1), [1.0, 1.0], True)
    """
    x, y = validate_data(  # reads the estimator's tags: MultiOutputTags, here
        estimator, x, y, reset=reset, multi_output=True, y_numeric=True, dtype=np.float64
    )
    single = y.ndim == 1
    ys = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if ys.shape[1] == 0:
        raise ValueError(NO_TARGETS_MESSAGE)
    weights = _check_sample_weight(sample_weight, x, dtype=np.float64, ensure_non_negative=True)
    if not np.all(np.isfinite(weights)):
        raise ValueError(WEIGHTS_NOT_FINITE_MESSAGE)
    if not np.any(weights > 0):
        raise ValueError(WEIGHTS_ALL_ZERO_MESSAGE.format(n=len(weights)))
    return x, ys, weights, single


def check_n_targets(coef: Any, given: int) -> bool:
    """Refuse a change in the number of targets of a model with ``coef``; returns whether
    ``coef`` is 1-D (one target).

    Example:
        >>> check_n_targets(np.zeros(3), 1)
        True
    """
    single = np.ndim(coef) == 1
    fitted = 1 if single else np.shape(coef)[0]
    if given != fitted:
        raise ValueError(TARGETS_CHANGED_MESSAGE.format(given=given, fitted=fitted))
    return single


def is_dask_input(*values: Any) -> bool:
    """Whether any of ``values`` is a Dask collection (never imports Dask: none can exist
    before Dask is imported).

    Example:
        >>> import numpy as np
        >>> is_dask_input(np.zeros((2, 1)), np.zeros(2), None)
        False
    """
    if "dask" not in sys.modules:
        return False
    import dask

    return any(dask.is_dask_collection(value) for value in values)


class MultiOutputTags:
    """The estimators' scikit-learn tags: ``y`` of one target or several (a mixin, before
    scikit-learn's; read by the data checks of this module)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class FitData(NamedTuple):
    """What the data stage (:func:`read_fit_data`) hands on.

    Attributes:
        settings: the validated hyperparameters.
        x: the design (the powers with ``degree``), shape ``(n, d)``; ``None`` for Dask data.
        ys: the targets, shape ``(n, k)``; ``None`` for Dask data.
        weights: the sample weights, shape ``(n,)``; ``None`` for Dask data.
        single: whether ``y`` is one-dimensional.
        d: the number of features.
        k: the number of targets.
        variable: with ``degree``, the variable whose powers are the design, shape ``(n,)``.
        moments: Dask data's moments, from its one pass (``None`` for data in memory).
    """

    settings: Hyperparameters
    x: np.ndarray | None
    ys: np.ndarray | None
    weights: np.ndarray | None
    single: bool
    d: int
    k: int
    variable: np.ndarray | None = None
    moments: Moments | None = None


def read_fit_data(estimator: Any, X: Any, y: Any, sample_weight: Any = None, *,  # noqa: N803
                  partial: bool = False) -> FitData:
    """The data stage of ``fit`` (``partial=False``) and ``partial_fit``: Dask data read once
    (:func:`~dl_workshop.estimator.dask_data.read_once`; refused by ``partial_fit`` and with
    ``degree``, before the hyperparameters are checked), else the hyperparameters and the data
    checked (:func:`validate_fit_data`; a fitted model's ``partial_fit`` keeps its number of
    features and targets) and, with ``degree``, the powers formed
    (:func:`~dl_workshop.estimator.powers.power_design`).

    Example:
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> data = read_fit_data(GradientDescentRegressor(degree=2), [[1.0], [2.0]], [1.0, 2.0])
        >>> data.x.tolist(), data.variable.tolist(), data.single
        ([[1.0, 1.0], [2.0, 4.0]], [1.0, 2.0], True)
    """
    if is_dask_input(X, y, sample_weight):
        if partial:
            raise ValueError(PARTIAL_FIT_DASK_MESSAGE)
        refuse_dask(estimator.degree)
        settings = validate_hyperparameters(estimator.get_params(deep=False))
        read = read_once(estimator, X, y, sample_weight)
        return FitData(settings, None, None, None, read.single, read.d, read.k,
                       moments=read.moments)
    settings = validate_hyperparameters(estimator.get_params(deep=False))
    fitted = partial and hasattr(estimator, "coef_")
    x, ys, weights, single = validate_fit_data(estimator, X, y, sample_weight, reset=not fitted)
    if fitted:
        single = check_n_targets(estimator.coef_, ys.shape[1])
    variable = None
    if settings.degree is not None:
        x, variable = power_design(x, settings.degree)
    return FitData(settings, x, ys, weights, single, x.shape[1], ys.shape[1], variable)
