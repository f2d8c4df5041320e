"""The data checks that ``fit`` and ``partial_fit`` share for data in memory: ``X``, ``y`` and
``sample_weight`` validated as scikit-learn does, plus what it lets through (no targets,
non-finite or all-zero weights, a change in the number of targets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

from dl_workshop.estimator.dask_data import NO_TARGETS_MESSAGE

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
    x, y = validate_data(
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
