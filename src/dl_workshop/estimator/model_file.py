"""The model file: :func:`save_model` and :func:`load_model` (``.npz`` arrays + a JSON header).

Only arrays and JSON are written (no pickle), so loading never runs code. The header records
the hyperparameters (``get_params()``, less those that name a file to write:
:data:`~dl_workshop.estimator.params.FILE_PARAMETERS`), the iteration count, whether ``y`` was
1-D, the feature names and the step size; the arrays are ``coef``, ``intercept`` and
``loss_curve``. Loading checks every part (see :mod:`dl_workshop.io.persistence` for the file
itself): hyperparameters as ``fit`` checks them, shapes, finite coefficients and intercepts.
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
from dl_workshop.estimator.params import FILE_PARAMETERS, validate_hyperparameters
from dl_workshop.estimator.regressor import GradientDescentRegressor
from dl_workshop.io.persistence import load_arrays, save_arrays

#: Kind of the files written by :func:`save_model`.
MODEL_KIND = "model"

NOT_A_REGRESSOR_MESSAGE = (
    "estimator must be a GradientDescentRegressor or GradientDescentClassifier; got {}"
)
INVALID_MODEL_MESSAGE = "{path!r} is not a valid GradientDescentRegressor model: {reason}"
SHAPES_MESSAGE = "coefficient and intercept shapes do not match"
NAMES_MESSAGE = "the feature names must be as many strings as there are coefficients"
NOT_FINITE_MESSAGE = "its {} are not all finite"
HEADER_MESSAGE = "its {} must be {}"

#: The estimators a model file may hold, by the name its header gives.
ESTIMATORS = {"GradientDescentRegressor": GradientDescentRegressor}


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
        params["class_weight"] = _label_pairs(params["class_weight"])
    params = {
        key: _json_value(value) for key, value in params.items() if key not in FILE_PARAMETERS
    }
    if classifier:
        return save_classifier(path, estimator, params, kind=MODEL_KIND)
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
        meta = _expect(header["metadata"], dict, "metadata", "an object")
        if meta.get("estimator") == CLASSIFIER:
            return _finite(load_classifier(arrays, meta))
        model = _estimator(meta)
        fitted = _fitted(arrays, meta)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ValueError(INVALID_MODEL_MESSAGE.format(path=str(path), reason=exc)) from exc
    for name, value in fitted.items():
        setattr(model, name, value)
    return model


def _finite(model: Any) -> Any:
    """``model``, once its coefficients and intercepts are all finite (else ``ValueError``)."""
    for name, attribute in (("coefficients", "coef_"), ("intercepts", "intercept_")):
        if not np.all(np.isfinite(getattr(model, attribute))):
            raise ValueError(NOT_FINITE_MESSAGE.format(name))
    return model


def _expect(value: Any, expected: type | tuple, what: str, description: str) -> Any:
    if not isinstance(value, expected) or isinstance(value, bool) is not (expected is bool):
        raise ValueError(HEADER_MESSAGE.format(what, description))
    return value


def _estimator(meta: dict[str, Any]) -> Any:
    """The unfitted estimator the header describes: its kind and hyperparameters (checked as
    ``fit`` checks them; those that name a file to write are left at their defaults)."""
    kind = ESTIMATORS.get(meta.get("estimator", "GradientDescentRegressor"))
    if kind is None:
        raise ValueError(HEADER_MESSAGE.format("estimator", f"one of {sorted(ESTIMATORS)}"))
    params = dict(_expect(meta["params"], dict, "hyperparameters", "an object"))
    for name in FILE_PARAMETERS:
        params.pop(name, None)
    if params.get("optimizer") is None:
        params["optimizer"] = "lbfgs"
    model = kind(**params)
    validate_hyperparameters(model.get_params())
    return model


def _fitted(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    """The fitted attributes, from the arrays and the header; ``ValueError`` for any part that
    is malformed, inconsistent or not finite."""
    coef = np.asarray(arrays["coef"], dtype=np.float64)
    intercept = np.asarray(arrays["intercept"], dtype=np.float64)
    single = _expect(meta["single_output"], bool, "single_output", "true or false")
    if (single and (coef.ndim != 1 or intercept.ndim != 0)) or (
        not single and (coef.ndim != 2 or intercept.shape != (coef.shape[0],))
    ):
        raise ValueError(SHAPES_MESSAGE)
    for name, values in (("coefficients", coef), ("intercepts", intercept)):
        if not np.all(np.isfinite(values)):
            raise ValueError(NOT_FINITE_MESSAGE.format(name))
    n_features = coef.shape[-1]
    degree = meta["params"].get("degree")
    if degree is not None:  # a polynomial in one variable: degree coefficients, one feature
        if degree != n_features:
            raise ValueError(HEADER_MESSAGE.format("degree", "the number of coefficients"))
        n_features = 1
    names = meta.get("feature_names")
    if names is not None and (
        not isinstance(names, list)
        or len(names) != n_features
        or not all(isinstance(n, str) for n in names)
    ):
        raise ValueError(NAMES_MESSAGE)
    learning_rate = meta.get("learning_rate")
    if learning_rate is not None:
        _expect(learning_rate, (int, float), "learning_rate", "a number or null")
    loss_curve = np.asarray(arrays["loss_curve"], dtype=np.float64)
    if loss_curve.ndim != 1:
        raise ValueError(HEADER_MESSAGE.format("loss curve", "1-D"))
    fitted = {
        "coef_": coef,
        "intercept_": float(intercept) if single else intercept,
        "n_features_in_": n_features,
        "n_iter_": _expect(meta["n_iter"], int, "n_iter", "a whole number"),
        "loss_curve_": loss_curve,
        "learning_rate_": learning_rate,
    }
    if names is not None:
        fitted["feature_names_in_"] = np.asarray(names, dtype=object)
    return fitted


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
