"""The classifier's labels, class weights and hyperparameters.

:func:`encode_labels` turns labels of any kind (integers, strings, booleans) into codes
``0..k-1`` of the sorted ``classes_``, with the house's messages for one class only and for
labels outside the ``classes`` of ``partial_fit``; :func:`sample_weights` multiplies the sample
weights by the class weights (``None``, ``"balanced"`` or a dict, computed by scikit-learn's
``compute_class_weight``). :func:`validate_classifier_hyperparameters` checks the classifier's
constructor arguments against the regressor's constraint table
(:data:`~dl_workshop.estimator.params.PARAMETER_CONSTRAINTS`) plus ``class_weight``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from dl_workshop._validation import describe
from dl_workshop.estimator.params import Hyperparameters, validate_hyperparameters

ONE_CLASS_MESSAGE = (
    "y must contain at least 2 classes to train a classifier; got 1 class only: {label!r}"
)
NOT_IN_CLASSES_MESSAGE = (
    "y contains label(s) not in classes: {labels}; classes are {classes}"
)
CLASSES_NEEDED_MESSAGE = (
    "classes must be given on the first call of partial_fit (every label the stream may "
    "contain, e.g. classes=np.unique(y_all)); got None"
)
CLASSES_CHANGED_MESSAGE = (
    "classes must equal the classes_ of the first call of partial_fit, {fitted}; got {given}"
)
CLASSES_TOO_FEW_MESSAGE = "classes must hold at least 2 distinct labels; got {classes}"
CLASS_WEIGHT_MESSAGE = "class_weight must be None, 'balanced' or a dict {{label: weight}}; got {}"
CLASS_WEIGHT_VALUE_MESSAGE = (
    "class_weight must map labels to finite numbers >= 0; got {value!r} for label {label!r}"
)
BALANCED_PARTIAL_MESSAGE = (
    "class_weight='balanced' needs the class counts of all the data, which partial_fit does not "
    "see; give class_weight as a dict computed from them "
    "(sklearn.utils.class_weight.compute_class_weight)"
)

#: The regressor's checkpoint options, which the classifier does not have.
NO_CHECKPOINT = {"checkpoint": None, "checkpoint_every": None, "resume": False}


class ClassWeight(NamedTuple):
    """``None``, ``"balanced"`` or a dict of finite weights ``>= 0`` by label."""

    def __call__(self, value: Any, name: str) -> Any:
        if value is None or (isinstance(value, str) and value == "balanced"):
            return value
        if not isinstance(value, dict):
            raise ValueError(CLASS_WEIGHT_MESSAGE.format(describe(value)))
        for label, weight in value.items():
            number = isinstance(weight, (int, float, np.integer, np.floating))
            if isinstance(weight, bool) or not number or not np.isfinite(weight) or weight < 0:
                raise ValueError(CLASS_WEIGHT_VALUE_MESSAGE.format(value=weight, label=label))
        return value


def validate_classifier_hyperparameters(params: dict[str, Any]) -> tuple[Hyperparameters, Any]:
    """``(settings, class_weight)``: the regressor's constraint table applied to the
    classifier's ``get_params()``, then ``class_weight``.

    Example:
        >>> settings, weights = validate_classifier_hyperparameters({
        ...     "optimizer": "lbfgs", "learning_rate": "auto", "tol": 0.0, "fit_intercept": True,
        ...     "standardize": True, "warm_start": False, "verbose": False, "random_state": None,
        ...     "max_iter": 10, "n_iter_no_change": 5, "alpha": 1.0, "dtype": "float64",
        ...     "class_weight": "balanced"})
        >>> settings.tol, weights
        (None, 'balanced')
    """
    settings = validate_hyperparameters({**params, **NO_CHECKPOINT})
    return settings, ClassWeight()(params["class_weight"], "class_weight")


def check_labels(y: Any) -> np.ndarray:
    """``y`` as a 1-D array of classification labels (scikit-learn's check of the label type:
    continuous targets are refused)."""
    check_classification_targets(y)
    return np.asarray(y)


def encode_labels(y: np.ndarray,
                  classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)``: the sorted distinct labels (or the given ``classes``) and each
    label's index in them.

    Args:
        y: labels, shape ``(n,)``, of any kind NumPy can sort.
        classes: the labels allowed (``partial_fit``); ``None``: those of ``y``, at least 2.

    Raises:
        ValueError: for one class only, or labels not in ``classes``.

    Example:
        >>> classes, codes = encode_labels(np.array(["b", "a", "b"]))
        >>> classes.tolist(), codes.tolist()
        (['a', 'b'], [1, 0, 1])
        >>> encode_labels(np.array([1, 1]))
        Traceback (most recent call last):
        ...
        ValueError: y must contain at least 2 classes to train a classifier; got 1 class only: 1
    """
    if classes is None:
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(ONE_CLASS_MESSAGE.format(label=_plain(classes[0])))
    codes = np.searchsorted(classes, y)
    codes = np.minimum(codes, len(classes) - 1)
    unknown = classes[codes] != y
    if np.any(unknown):
        labels = sorted({_plain(v) for v in np.asarray(y)[unknown]}, key=repr)[:5]
        raise ValueError(NOT_IN_CLASSES_MESSAGE.format(
            labels=labels, classes=[_plain(c) for c in classes]))
    return classes, codes


def given_classes(classes: Any) -> np.ndarray:
    """The ``classes`` argument of ``partial_fit`` as sorted distinct labels (at least 2)."""
    if classes is None:
        raise ValueError(CLASSES_NEEDED_MESSAGE)
    unique = np.unique(np.asarray(classes))
    if len(unique) < 2:
        raise ValueError(CLASSES_TOO_FEW_MESSAGE.format(classes=[_plain(c) for c in unique]))
    return unique


def sample_weights(class_weight: Any, classes: np.ndarray, codes: np.ndarray,
                   weights: np.ndarray) -> np.ndarray:
    """The sample weights times the class weight of each sample's class.

    ``"balanced"`` weighs class ``c`` by ``W / (k W_c)`` (``W_c`` the total sample weight of
    class ``c``), as ``LogisticRegression`` does; a dict's missing labels weigh 1.

    Example:
        >>> sample_weights("balanced", np.array([0, 1]), np.array([0, 0, 0, 1]), np.ones(4))
        array([0.66666667, 0.66666667, 0.66666667, 2.        ])
    """
    if class_weight is None:
        return weights
    if isinstance(class_weight, dict):
        per_class = np.array([float(class_weight.get(_plain(c), 1.0)) for c in classes])
    else:
        per_class = compute_class_weight(
            class_weight, classes=classes, y=classes[codes], sample_weight=weights
        )
    return weights * per_class[codes]


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages and dict keys)."""
    return value.item() if isinstance(value, np.generic) else value
