"""The scikit-learn classifier :class:`GradientDescentClassifier`: logistic regression on the
regressor's machinery.

It shares with :class:`~dl_workshop.estimator.GradientDescentRegressor` the hyperparameters'
constraint table (:mod:`~dl_workshop.estimator.params`, plus ``class_weight``:
:mod:`~dl_workshop.estimator.classes`), the change of variables and padding
(:mod:`~dl_workshop.estimator.problem`), the optimizers and step sizes
(:mod:`~dl_workshop.estimator.optimizers`), the one call of the engine and its warnings
(:mod:`~dl_workshop.estimator.solve`) and ``partial_fit``'s updates
(:mod:`~dl_workshop.estimator.partial`); what differs is the objective
(:mod:`~dl_workshop.estimator.logit`: the chapter's logistic loss), the Newton finish
(:mod:`~dl_workshop.estimator.logit_newton`) and the fit on Dask data
(:mod:`~dl_workshop.estimator.logit_dask`). The training steps are in
:mod:`~dl_workshop.estimator.logit_fit`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optax
from scipy.special import log_expit, log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from dl_workshop.estimator.classes import BALANCED_PARTIAL_MESSAGE, CLASSES_CHANGED_MESSAGE
from dl_workshop.estimator.dask_data import PARTIAL_FIT_DASK_MESSAGE
from dl_workshop.estimator.fit_data import is_dask_input
from dl_workshop.estimator.logit import best_class, probabilities
from dl_workshop.estimator.logit_dask import predict_dask_scores
from dl_workshop.estimator.logit_fit import (
    Fitted,
    fit_in_memory,
    labelled_data,
    partial_update,
    settings_of,
)
from dl_workshop.estimator.regressor import NO_PARTIAL_FIT_MESSAGE


def _is_stochastic(estimator: GradientDescentClassifier) -> bool:
    if isinstance(estimator.optimizer, str) and estimator.optimizer == "lbfgs":
        raise AttributeError(NO_PARTIAL_FIT_MESSAGE)
    return True


class GradientDescentClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression (two classes, or softmax over several) fitted by gradient-based
    optimization in JAX, finished by Newton's method.

    Minimizes ``J = (Σ_i s_i ℓ_i + alpha/2 ||coef||²) / Σ_i s_i`` with ``ℓ_i`` the chapter's
    logistic loss (:func:`~dl_workshop.lesson.logistic.logistic_loss`, from the logits) or, for
    three
    classes or more, the softmax cross-entropy, and ``s_i`` the sample weight times the class
    weight: the objective of scikit-learn's ``LogisticRegression(C=1/alpha)`` divided by
    ``C Σ s_i``, so the solutions agree (``alpha=1``, the default, is ``C=1``). The iterations
    run in the compiled engine; where the Hessian is small enough (``n (m k)² <=``
    :data:`~dl_workshop.estimator.logit_fit.NEWTON_WORK`, ``m`` coefficients per logit and ``k``
    logits), Newton steps end the fit at the optimum to rounding. Dask data is fitted by damped
    Newton steps on the client with sums over each partition reduced on the workers, one pass
    per step (:mod:`~dl_workshop.estimator.logit_dask`).

    Args:
        alpha: L2 penalty on ``coef_`` (not on the intercept), >= 0; ``1 / C`` of
            ``LogisticRegression``. ``0``: unpenalized (on separable data the coefficients
            then grow without bound, and the fit warns).
        class_weight: ``None``, ``"balanced"`` (class ``c`` weighs ``W / (k W_c)``) or a dict
            ``{label: weight}``; multiplies the sample weights.
        optimizer: as :class:`~dl_workshop.estimator.GradientDescentRegressor`'s (``"lbfgs"``
            is optax's L-BFGS with its zoom line search here, the loss not being quadratic).
            The other hyperparameters (``learning_rate``, ``max_iter``, ``tol``,
            ``n_iter_no_change``, ``fit_intercept``, ``standardize``, ``dtype``, ``warm_start``,
            ``random_state``, ``verbose``) are the regressor's too.

    Attributes:
        classes_: the sorted labels, shape ``(n_classes,)`` (any kind: strings too).
        coef_: shape ``(1, n_features)`` for two classes (the logit of ``classes_[1]``), else
            ``(n_classes, n_features)``.
        intercept_: shape ``(1,)`` or ``(n_classes,)`` (summing to zero for several classes).
        n_iter_: iterations of the last ``fit`` (engine and Newton steps; on Dask, Newton
            steps), or the number of ``partial_fit`` updates.
        n_passes_: passes over the data of the last fit on Dask data.
        loss_curve_: ``J`` before each iteration and, after a Newton finish, at its end.
        n_features_in_, feature_names_in_: as scikit-learn's.
        learning_rate_: the step size used (``None`` for a line search or an optax optimizer).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> model = GradientDescentClassifier().fit(X, y)
        >>> model.coef_.shape, round(model.score(X, y), 2)
        ((3, 4), 0.97)
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        class_weight: dict | str | None = None,
        optimizer: str | optax.GradientTransformation = "lbfgs",
        learning_rate: float | str = "auto",
        max_iter: int = 1000,
        tol: float | None = 1e-10,
        n_iter_no_change: int = 5,
        fit_intercept: bool = True,
        standardize: bool = True,
        dtype: str = "float64",
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.alpha = alpha
        self.class_weight = class_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.dtype = dtype
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GradientDescentClassifier:  # noqa: N803
        """Fit the model to ``X`` and the labels ``y``.

        Args:
            X: features, shape ``(n_samples, n_features)``: array-like, DataFrame, or a Dask
                array or DataFrame (then ``y`` a Dask array or Series).
            y: labels, shape ``(n_samples,)``, of any kind (at least two distinct).
            sample_weight: non-negative weights, shape ``(n_samples,)``; integer weights are
                equivalent to repeated rows.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: one class only, continuous ``y``, NaN or infinite values, negative or
                all-zero weights, invalid hyperparameters.
            DivergenceError: if the optimization diverged (a learning rate too large).

        Warns:
            ConvergenceWarning: when ``max_iter`` ran out, or when ``alpha=0`` and the classes
                are linearly separable (the loss has no minimum: the coefficients grow without
                bound; set ``alpha > 0``).

        Example:
            >>> import numpy as np
            >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
            >>> model = GradientDescentClassifier().fit(X, ["no", "yes", "no", "yes"])
            >>> model.classes_.tolist(), model.predict([[10.0]]).tolist()
            (['no', 'yes'], ['yes'])
        """
        settings, class_weight = settings_of(self)
        previous = self._previous() if self.warm_start and hasattr(self, "coef_") else None
        if is_dask_input(X, y, sample_weight):
            from dl_workshop.estimator.logit_dask import fit_dask

            fitted = fit_dask(self, X, y, sample_weight, settings, class_weight, previous)
        else:
            data = labelled_data(self, X, y, sample_weight, class_weight, reset=True)
            fitted = fit_in_memory(data, settings, previous)
        self._store(fitted)
        self.__dict__.pop("_stream", None)
        return self

    @available_if(_is_stochastic)
    def partial_fit(self, X: Any, y: Any, classes: Any = None,  # noqa: N803
                    sample_weight: Any = None) -> GradientDescentClassifier:
        """One optimizer update on the minibatch ``(X, y)``, continuing from the current state.

        The first call needs ``classes`` (every label the stream may hold) and fixes the
        features' scaling from its batch (``standardize=True``); later calls keep the
        optimizer's state. Each update minimizes the batch's own ``J`` (its penalty weighed
        against the batch's total weight). Not available for ``optimizer="lbfgs"``.

        Args:
            X: features, shape ``(n_batch, n_features)``.
            y: labels, shape ``(n_batch,)``, all in ``classes``.
            classes: the labels of the whole stream (first call; later calls may repeat them).
            sample_weight: non-negative weights, shape ``(n_batch,)``.

        Returns:
            ``self``.

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> model = GradientDescentClassifier(optimizer="gd", alpha=0.0)
            >>> for _ in range(100):
            ...     X = rng.normal(size=(64, 2))
            ...     y = np.where(X[:, 0] + rng.logistic(size=64) > 0, "pos", "neg")
            ...     model = model.partial_fit(X, y, classes=["neg", "pos"])
            >>> model.n_iter_, model.classes_.tolist(), bool(model.coef_[0, 0] > 0.5)
            (100, ['neg', 'pos'], True)
        """
        if is_dask_input(X, y, sample_weight):
            raise ValueError(PARTIAL_FIT_DASK_MESSAGE)
        settings, class_weight = settings_of(self)
        if isinstance(class_weight, str):
            raise ValueError(BALANCED_PARTIAL_MESSAGE)
        fitted = hasattr(self, "classes_")
        if fitted and classes is not None:
            given = np.unique(np.asarray(classes))
            if given.shape != self.classes_.shape or np.any(given != self.classes_):
                raise ValueError(CLASSES_CHANGED_MESSAGE.format(
                    fitted=self.classes_.tolist(), given=given.tolist()))
        classes = self.classes_ if fitted else classes
        data = labelled_data(self, X, y, sample_weight, class_weight, reset=not fitted,
                             classes=classes, given=True)
        stream = getattr(self, "_stream", None)
        previous = self._previous() if fitted and stream is None else None
        update = partial_update(data, settings, stream, previous,
                                getattr(self, "_scaling", None) if fitted else None,
                                history=getattr(self, "loss_curve_", np.zeros(0)) if stream
                                else np.zeros(0), learning_rate=self.learning_rate)
        self._stream = update.stream
        self._store(update.fitted)
        return self

    def decision_function(self, X: Any) -> Any:  # noqa: N803
        """The logits ``X @ coef_.T + intercept_``: shape ``(n,)`` for two classes (positive
        for ``classes_[1]``), else ``(n, n_classes)``. Lazy for Dask data.

        Example:
            >>> import numpy as np
            >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], [0, 1])
            >>> model.decision_function([[0.0], [1.0]]).round(4).tolist()
            [-0.2223, 0.2223]
        """
        check_is_fitted(self, "coef_")
        if is_dask_input(X):
            return predict_dask_scores(self, X, "decision")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        scores = x @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> Any:  # noqa: N803
        """Probabilities of each class, shape ``(n, n_classes)``; rows sum to 1.

        Example:
            >>> import numpy as np
            >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], [0, 1])
            >>> model.predict_proba([[0.5]]).round(6).tolist()
            [[0.5, 0.5]]
        """
        if is_dask_input(X):
            return predict_dask_scores(self, X, "proba")
        return probabilities(self.decision_function(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Logarithms of :meth:`predict_proba`, computed from the logits (finite where the
        probabilities round to 0).

        Example:
            >>> import numpy as np
            >>> model = GradientDescentClassifier(alpha=1e-6).fit([[0.0], [1.0]], [0, 1])
            >>> bool(np.all(np.isfinite(model.predict_log_proba([[1e6]]))))
            True
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def predict(self, X: Any) -> Any:  # noqa: N803
        """The most probable class of each row, shape ``(n,)`` (lazy for Dask data).

        Example:
            >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], ["a", "b"])
            >>> model.predict([[-1.0], [2.0]]).tolist()
            ['a', 'b']
        """
        check_is_fitted(self, "coef_")
        if is_dask_input(X):
            return predict_dask_scores(self, X, "label")
        return self.classes_[best_class(self.decision_function(X))]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        """Accuracy of :meth:`predict` (weighted by ``sample_weight``); one pass over Dask data.

        Example:
            >>> model = GradientDescentClassifier().fit([[0.0], [1.0]], [0, 1])
            >>> model.score([[-1.0], [2.0]], [0, 0])
            0.5
        """
        if is_dask_input(X, y, sample_weight):
            from dl_workshop.estimator.logit_dask import score_dask

            check_is_fitted(self, "coef_")
            return score_dask(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    # ----------------------------------------------------------------------------- internals
    def _previous(self) -> tuple[Any, Any, int, np.ndarray]:
        """The fitted solution, to start from (warm start, or ``partial_fit`` after ``fit``)."""
        return self.coef_, self.intercept_, self.n_features_in_, self.classes_

    def _store(self, fitted: Fitted) -> None:
        self.classes_ = fitted.classes
        self.coef_ = fitted.coef
        self.intercept_ = fitted.intercept
        self.n_iter_ = fitted.n_iter
        self.loss_curve_ = fitted.loss_curve
        self.learning_rate_ = fitted.learning_rate
        self._scaling = fitted.scaling
        if fitted.n_passes is not None:
            self.n_passes_ = fitted.n_passes
        else:
            self.__dict__.pop("n_passes_", None)

