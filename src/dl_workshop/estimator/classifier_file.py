"""A :class:`~dl_workshop.estimator.GradientDescentClassifier` in the model file.

The file is the regressor's (:mod:`~dl_workshop.estimator.model_file`: ``.npz`` arrays and a
JSON header, never pickle; :func:`~dl_workshop.estimator.save_model` and
:func:`~dl_workshop.estimator.load_model` dispatch here) with ``"estimator":
"GradientDescentClassifier"`` in the header. The labels are stored in the header as JSON (strings
or numbers, with their NumPy kind to restore them), ``class_weight`` as ``[label, weight]`` pairs
(JSON keys would turn labels into strings). A file's labels and shapes are checked before a
model is built from them.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from dl_workshop._validation import float_dtype
from dl_workshop.estimator.classifier import GradientDescentClassifier
from dl_workshop.io.persistence import save_arrays

ESTIMATOR = "GradientDescentClassifier"
LABELS_MESSAGE = "classes_ must be 2 or more distinct strings or numbers"
CLASSIFIER_SHAPES_MESSAGE = (
    "coef must be (1, d) for 2 classes or (n_classes, d), and intercept to match"
)

#: The NumPy kinds of labels a file may restore (strings, integers, floats, booleans).
LABEL_KINDS = {"U": str, "i": int, "u": int, "f": float, "b": bool}


def _label_values(classes: np.ndarray) -> tuple[list, str]:
    kind = "U" if classes.dtype.kind in "OUS" else classes.dtype.kind
    if kind not in LABEL_KINDS:
        raise TypeError(f"classes_ of dtype {classes.dtype} cannot be saved")
    return [LABEL_KINDS[kind](c.item() if isinstance(c, np.generic) else c) for c in classes], kind


def classifier_header(estimator: GradientDescentClassifier, params: dict) -> dict:
    """The header's metadata of a fitted classifier (``params``: its JSON-ready ``get_params``)."""
    check_is_fitted(estimator, "coef_")
    labels, kind = _label_values(estimator.classes_)
    return {
        "estimator": ESTIMATOR,
        "params": params,
        "classes": labels,
        "classes_kind": kind,
        "n_iter": int(estimator.n_iter_),
        "feature_names": (
            [str(name) for name in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_") else None
        ),
        "learning_rate": estimator.learning_rate_,
    }


def save_classifier(path: str | os.PathLike[str], estimator: GradientDescentClassifier,
                    params: dict, *, kind: str) -> Path:
    """Write a fitted classifier (see the module); ``params`` as the regressor's file has
    them."""
    metadata = classifier_header(estimator, params)
    arrays = {
        "coef": np.asarray(estimator.coef_, dtype=np.float64),
        "intercept": np.asarray(estimator.intercept_, dtype=np.float64),
        "loss_curve": np.asarray(estimator.loss_curve_, dtype=np.float64),
    }
    return save_arrays(path, arrays, kind=kind, metadata=metadata)


def _classes(meta: dict) -> np.ndarray:
    labels, kind = meta["classes"], meta["classes_kind"]
    if kind not in LABEL_KINDS or not isinstance(labels, list) or len(labels) < 2:
        raise ValueError(LABELS_MESSAGE)
    wanted = str if kind == "U" else (bool if kind == "b" else numbers.Real)
    if not all(isinstance(v, wanted) for v in labels) or len(set(labels)) != len(labels):
        raise ValueError(LABELS_MESSAGE)
    return np.asarray(sorted(labels))


def load_classifier(arrays: dict, meta: dict) -> GradientDescentClassifier:
    """The classifier of a file's arrays and header (checked; ``ValueError``, ``KeyError`` or
    ``TypeError`` for what does not fit together).

    Example:
        >>> import tempfile
        >>> from dl_workshop.estimator import load_model, save_model
        >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], ["no", "yes"])
        >>> path = save_model(f"{tempfile.mkdtemp()}/model.npz", model)
        >>> load_model(path).predict([[2.0]]).tolist()
        ['yes']
    """
    params = dict(meta["params"])
    if params.get("optimizer") is None:
        params["optimizer"] = "lbfgs"
    weights = params.get("class_weight")
    if isinstance(weights, list):
        params["class_weight"] = {label: float(w) for label, w in weights}
    params["dtype"] = str(float_dtype(params.get("dtype", "float64")))
    model = GradientDescentClassifier(**params)
    classes = _classes(meta)
    coef = np.asarray(arrays["coef"], dtype=np.float64)
    intercept = np.asarray(arrays["intercept"], dtype=np.float64)
    logits = 1 if len(classes) == 2 else len(classes)
    if coef.ndim != 2 or coef.shape[0] != logits or intercept.shape != (logits,):
        raise ValueError(CLASSIFIER_SHAPES_MESSAGE)
    names = meta.get("feature_names")
    if names is not None and len(names) != coef.shape[1]:
        raise ValueError("the number of feature names does not match the coefficients")
    model.classes_, model.coef_, model.intercept_ = classes, coef, intercept
    model.n_features_in_ = coef.shape[1]
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_iter_ = int(meta["n_iter"])
    model.loss_curve_ = np.asarray(arrays["loss_curve"], dtype=np.float64)
    model.learning_rate_ = meta.get("learning_rate")
    return model
