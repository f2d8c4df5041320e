"""The model file: :func:`save_model` and :func:`load_model` (``.npz`` arrays + a JSON header).

Only arrays and JSON are written (no pickle), so loading never runs code. The header records
the hyperparameters (``get_params()``), the iteration count, whether ``y`` was 1-D, the feature
names and the step size; the arrays are ``coef``, ``intercept`` and ``loss_curve``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from dl_workshop._validation import describe, float_dtype
from dl_workshop.estimator.classifier import GradientDescentClassifier
from dl_workshop.estimator.classifier_file import ESTIMATOR as CLASSIFIER
from dl_workshop.estimator.classifier_file import load_classifier, save_classifier
from dl_workshop.estimator.regressor import GradientDescentRegressor
from dl_workshop.persistence import load_arrays, save_arrays

#: Kind of the files written by :func:`save_model`.
MODEL_KIND = "model"

NOT_A_REGRESSOR_MESSAGE = (
    "estimator must be a GradientDescentRegressor or GradientDescentClassifier; got {}"
)
INVALID_MODEL_MESSAGE = "{path!r} is not a valid GradientDescentRegressor model: {reason}"
SHAPES_MESSAGE = "coefficient and intercept shapes do not match"
NAMES_MESSAGE = "the number of feature names does not match the coefficients"


def save_model(path: str | os.PathLike[str], estimator: GradientDescentRegressor) -> Path:
    """Save a fitted :class:`GradientDescentRegressor` in a safe format (``.npz`` + JSON).

    A fitted :class:`~dl_workshop.estimator.GradientDescentClassifier` is saved in the same
    format, with its labels (:mod:`~dl_workshop.estimator.classifier_file`).

    Only arrays and JSON are written (no pickle), so loading never runs code. A custom optax
    optimizer cannot be stored: it is recorded as ``None`` and :func:`load_model` restores the
    default ``"lbfgs"`` (the saved model predicts the same either way).

    Args:
        path: destination file (``.npz``); its folder must exist. Written atomically.
        estimator: a fitted :class:`GradientDescentRegressor`.

    Returns:
        The path written.

    Raises:
        TypeError: if ``estimator`` is not a :class:`GradientDescentRegressor`.
        sklearn.exceptions.NotFittedError: if it is not fitted.

    Example:
        >>> import tempfile, numpy as np
        >>> model = GradientDescentRegressor().fit([[0.0], [1.0]], [1.0, 3.0])
        >>> path = save_model(f"{tempfile.mkdtemp()}/model.npz", model)
        >>> load_model(path).predict([[2.0]]).round(6)
        array([5.])
    """
    classifier = isinstance(estimator, GradientDescentClassifier)
    if not classifier and not isinstance(estimator, GradientDescentRegressor):
        raise TypeError(NOT_A_REGRESSOR_MESSAGE.format(describe(estimator)))
    check_is_fitted(estimator, "coef_")
    params = estimator.get_params()
    if not isinstance(params["optimizer"], str):
        params["optimizer"] = None
    if isinstance(params["random_state"], np.random.RandomState):
        params["random_state"] = None
    params["dtype"] = str(float_dtype(params["dtype"]))
    if classifier:
        params["class_weight"] = _json_value(_label_pairs(params["class_weight"]))
        params = {key: _json_value(value) for key, value in params.items()}
        return save_classifier(path, estimator, params, kind=MODEL_KIND)
    params = {key: _json_value(value) for key, value in params.items()}
    metadata = {
        "estimator": "GradientDescentRegressor",
        "params": params,
        "n_iter": int(estimator.n_iter_),
        "single_output": np.ndim(estimator.coef_) == 1,
        "feature_names": (
            [str(name) for name in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
        "learning_rate": estimator.learning_rate_,
    }
    arrays = {
        "coef": np.asarray(estimator.coef_, dtype=np.float64),
        "intercept": np.asarray(estimator.intercept_, dtype=np.float64),
        "loss_curve": np.asarray(estimator.loss_curve_, dtype=np.float64),
    }
    return save_arrays(path, arrays, kind=MODEL_KIND, metadata=metadata)


def load_model(path: str | os.PathLike[str]) -> GradientDescentRegressor:
    """Load a model written by :func:`save_model`; it predicts exactly as the saved one.

    Args:
        path: the ``.npz`` file.

    Returns:
        A fitted :class:`GradientDescentRegressor` (``coef_``, ``intercept_``, ``n_iter_``,
        ``loss_curve_``, ``n_features_in_`` and, if saved, ``feature_names_in_``). The optimizer
        state of ``partial_fit`` is not saved: further ``partial_fit`` calls start it afresh.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a dl-workshop model, or is corrupted or inconsistent.

    Example:
        >>> import tempfile
        >>> model = GradientDescentRegressor().fit([[0.0], [1.0]], [1.0, 3.0])
        >>> path = save_model(f"{tempfile.mkdtemp()}/model.npz", model)
        >>> load_model(path).n_features_in_
        1
    """
    arrays, header = load_arrays(path, kind=MODEL_KIND)
    try:
        meta = header["metadata"]
        if meta.get("estimator") == CLASSIFIER:
            return load_classifier(arrays, meta)
        params = dict(meta["params"])
        if params.get("optimizer") is None:
            params["optimizer"] = "lbfgs"
        model = GradientDescentRegressor(**params)
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        single = bool(meta["single_output"])
        n_features = coef.shape[-1]
        if (single and (coef.ndim != 1 or intercept.ndim != 0)) or (
            not single and (coef.ndim != 2 or intercept.shape != (coef.shape[0],))
        ):
            raise ValueError(SHAPES_MESSAGE)
        names = meta.get("feature_names")
        if names is not None and len(names) != n_features:
            raise ValueError(NAMES_MESSAGE)
        n_iter = int(meta["n_iter"])
        learning_rate = meta.get("learning_rate")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(INVALID_MODEL_MESSAGE.format(path=str(path), reason=exc)) from exc
    model.coef_ = coef
    model.intercept_ = float(intercept) if single else intercept
    model.n_features_in_ = n_features
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_iter_ = n_iter
    model.loss_curve_ = np.asarray(arrays["loss_curve"], dtype=np.float64)
    model.learning_rate_ = learning_rate
    return model


def _label_pairs(weights: Any) -> Any:
    """A ``class_weight`` dict as ``[label, weight]`` pairs (JSON keys would be strings)."""
    if not isinstance(weights, dict):
        return weights
    return [[_json_value(label), float(weight)] for label, weight in weights.items()]


def _json_value(value: Any) -> Any:
    """Hyperparameter values as plain JSON (NumPy scalars to Python numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    json.dumps(value)
    return value
