"""The classifier's problem in scaled variables and its objective: the chapter's logistic loss.

The objective of :class:`~dl_workshop.estimator.GradientDescentClassifier` is

    J(coef, intercept) = (Σ_i s_i ℓ_i + alpha/2 ||coef||²) / Σ_i s_i

with ``ℓ_i`` the logistic loss of row ``i`` (two classes: the chapter's
:func:`~dl_workshop.lesson.logistic.logistic_loss` of
:func:`~dl_workshop.lesson.logistic.logistic_model`,
computed from the logits, row by row) or its softmax generalization (``k >= 3`` classes: the
cross-entropy of the softmax, optax's ``softmax_cross_entropy``), and ``s_i`` the sample weight
times the class weight. ``J`` has the minimizer of scikit-learn's ``LogisticRegression(C=1 /
alpha)``, whose objective is ``Σ s_i ℓ_i / alpha + ||coef||² / 2``.

The features are centred and scaled as the regressor's (:func:`~dl_workshop.estimator.problem.
fit_scaling`, a change of variables), and small problems padded to shared shapes (zero rows of
zero weight, zero feature columns), so that fits on similar data share compiled code. The
classes are not padded (a padded class would change the softmax).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.special import expit, softmax

from dl_workshop.engine.objective import Objective
from dl_workshop.estimator.problem import (
    LOSS_FLOOR,
    Scaling,
    as_dtype,
    fit_scaling,
    padded_shape,
)
from dl_workshop.lesson.logistic import logistic_loss, logistic_model
from dl_workshop.lesson.model import linear_model


class LogitProblem(NamedTuple):
    """The data pytree handed to the engine: the classification problem in scaled variables.

    Attributes:
        z: scaled features, shape ``(n, d)``.
        target: shape ``(n, 1)``, the 0/1 labels of two classes, or ``(n, k)``, one-hot labels.
        weights: sample weights (times class weights) summing to 1, shape ``(n,)``.
        penalty: L2 penalty of each scaled coefficient row, shape ``(d,)``.
        intercept_mask: 1.0, or 0.0 to keep the intercept at zero (``fit_intercept=False``).
        offset: ``LOSS_FLOOR`` times the loss at zero, added to the objective so that the
            engine's relative ``tol`` stays meaningful where the loss tends to zero.
    """

    z: Any
    target: Any
    weights: Any
    penalty: Any
    intercept_mask: Any
    offset: Any


def penalized_loss(params: dict, data: LogitProblem) -> jax.Array:
    """``J̃``: the weighted mean logistic loss plus the penalty, in scaled variables.

    Two classes (``target`` of one column): :func:`~dl_workshop.lesson.logistic.logistic_loss` of
    each
    row, the chapter's definition, stable from the logits. More: the softmax cross-entropy.

    Example:
        >>> import numpy as np
        >>> data = LogitProblem(np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]]),
        ...                     np.full(2, 0.5), np.zeros(1), np.asarray(1.0), np.asarray(0.0))
        >>> round(float(penalized_loss({"w": np.zeros((1, 1)), "b": np.zeros(1)}, data)), 6)
        0.693147
    """
    theta = {"w": params["w"], "b": data.intercept_mask * params["b"]}
    if data.target.shape[1] == 1:
        per_row = jax.vmap(
            lambda z, y: logistic_loss(theta, logistic_model, z[None], y[None])
        )(data.z, data.target)
    else:
        per_row = optax.losses.softmax_cross_entropy(linear_model(theta, data.z), data.target)
    return data.weights @ per_row + jnp.sum(data.penalty[:, None] * params["w"] ** 2)


def objective(params: dict, t: jax.Array, data: LogitProblem) -> tuple[jax.Array, dict]:
    """``(J̃ + offset, ∇J̃)``, the engine's form; a module-level function, so that every fit
    hands the engine the same object and reuses its compiled code.

    Example:
        >>> import numpy as np
        >>> data = LogitProblem(np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]]),
        ...                     np.full(2, 0.5), np.zeros(1), np.asarray(1.0), np.asarray(0.0))
        >>> value, grads = objective({"w": np.zeros((1, 1)), "b": np.zeros(1)}, 0, data)
        >>> grads["w"].tolist()
        [[-0.5]]
    """
    del t
    value, grads = jax.value_and_grad(penalized_loss)(params, data)
    return value + data.offset, grads


def objective_value(params: dict, t: jax.Array, data: LogitProblem) -> jax.Array:
    """:func:`objective`'s value alone (for the line search)."""
    del t
    return penalized_loss(params, data) + data.offset


#: The classifier's penalized logistic objective for the engine (its value alone for line
#: searches).
LOGISTIC = Objective(objective, objective_value)


def curvature_bound(problem: LogitProblem) -> float:
    """``L``, an upper bound of the largest eigenvalue of ``J̃``'s Hessian anywhere.

    The Hessian of the logistic loss is at most ``1/4`` (two classes) or ``1/2`` (softmax,
    Böhning's bound) times ``Z̃ᵀ P Z̃`` (``Z̃`` the features with the intercept's column),
    plus twice the penalty; ``1/L`` is a step size at which gradient descent cannot diverge.

    Example:
        >>> import numpy as np
        >>> data = LogitProblem(np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]]),
        ...                     np.full(2, 0.5), np.zeros(1), np.asarray(1.0), np.asarray(0.0))
        >>> curvature_bound(data)
        0.25
    """
    z = np.asarray(problem.z, np.float64)
    p = np.asarray(problem.weights, np.float64)
    if float(problem.intercept_mask):
        z = np.hstack([z, np.ones((len(z), 1))])
    gram = (z * p[:, None]).T @ z
    factor = 0.25 if problem.target.shape[1] == 1 else 0.5
    top = float(np.linalg.eigvalsh(gram)[-1]) if gram.size else 0.0
    bound = factor * top + 2 * float(np.max(problem.penalty, initial=0.0))
    return bound if np.isfinite(bound) and bound > 0 else 1.0


def one_hot(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """The targets of :class:`LogitProblem`: ``(n, 1)`` 0/1 for two classes, else one-hot.

    Example:
        >>> one_hot(np.array([0, 1]), 2).tolist(), one_hot(np.array([2, 0]), 3).tolist()
        ([[0.0], [1.0]], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    """
    if n_classes == 2:
        return codes.astype(np.float64)[:, None]
    return np.eye(n_classes)[codes]


def n_logits(n_classes: int) -> int:
    """Columns of ``coef_``: one logit for two classes, one per class otherwise."""
    return 1 if n_classes == 2 else n_classes


def logit_scaling(x: np.ndarray, weights: np.ndarray, k: int, fit_intercept: bool,
                  standardize: bool, alpha: float = 0.0) -> Scaling:
    """The regressor's change of variables for the features (targets left as they are), each
    scale then multiplied by ``sqrt(1 + 2 penalty_j / c)`` (``c = 1/4``, the logistic loss's
    largest curvature) so that the penalty of a feature of small scale, huge in standardized
    variables, does not make the problem ill-conditioned: every diagonal entry of the Hessian
    at zero becomes at most ``c`` (a Jacobi preconditioner; the minimizer is unchanged).

    Example:
        >>> s = logit_scaling(np.array([[0.0], [2.0]]), np.ones(2), 1, True, True, alpha=0.5)
        >>> s.x_offset.tolist(), s.x_scale.tolist()
        ([1.0], [1.4142135623730951])
    """
    scaling = fit_scaling(x, np.zeros((len(x), k)), weights, fit_intercept, standardize)
    if not standardize or alpha == 0:
        return scaling
    penalty = alpha / (2 * weights.sum() * scaling.x_scale**2)
    return scaling._replace(x_scale=scaling.x_scale * np.sqrt(1 + 2 * penalty / 0.25))


def build_logit_problem(
    x: np.ndarray, codes: np.ndarray, n_classes: int, weights: np.ndarray, scaling: Scaling, *,
    alpha: float, fit_intercept: bool, dtype: np.dtype, pad_features: bool = True,
) -> tuple[LogitProblem, tuple[int, int, int]]:
    """The scaled problem, padded (rows; with ``pad_features`` the feature columns too) and in
    ``dtype``, and its padded ``(rows, cols, logits)``.

    Example:
        >>> import numpy as np
        >>> x, codes, w = np.array([[0.0], [1.0]]), np.array([0, 1]), np.ones(2)
        >>> problem, shape = build_logit_problem(
        ...     x, codes, 2, w, logit_scaling(x, w, 1, True, True), alpha=1.0,
        ...     fit_intercept=True, dtype=np.float64)
        >>> shape, problem.penalty[:1].tolist()
        ((512, 32, 1), [1.0])
    """
    total = float(weights.sum())
    z = (x - scaling.x_offset) / scaling.x_scale
    target = one_hot(codes, n_classes)
    k = target.shape[1]
    rows, cols, _ = padded_shape(len(x), x.shape[1], k, features=pad_features)
    problem = LogitProblem(
        z=np.pad(z, ((0, rows - len(x)), (0, cols - x.shape[1]))),
        target=np.pad(target, ((0, rows - len(x)), (0, 0))),
        weights=np.pad(weights / total, (0, rows - len(x))),
        penalty=np.pad(alpha / (2 * total * scaling.x_scale**2), (0, cols - x.shape[1])),
        intercept_mask=np.asarray(1.0 if fit_intercept else 0.0),
        offset=np.asarray(LOSS_FLOOR * np.log(n_classes)),
    )
    return as_dtype(problem, dtype), (rows, cols, k)


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Class probabilities from logits: ``(n,)`` (two classes) or ``(n, k)``.

    Example:
        >>> probabilities(np.array([0.0])).tolist()
        [[0.5, 0.5]]
    """
    if scores.ndim == 1:
        p = expit(scores)
        return np.column_stack([1 - p, p])
    return softmax(scores, axis=1)


def best_class(scores: np.ndarray) -> np.ndarray:
    """Index of the predicted class from logits (``(n,)``: positive means class 1).

    Example:
        >>> best_class(np.array([-1.0, 2.0])).tolist(), best_class(np.eye(2)[::-1]).tolist()
        ([0, 1], [1, 0])
    """
    if scores.ndim == 1:
        return (scores > 0).astype(np.intp)
    return np.argmax(scores, axis=1)
