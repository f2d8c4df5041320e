"""The scikit-learn regressor :class:`GradientDescentRegressor` (see :mod:`dl_workshop.estimator`).

``fit`` is a pipeline of stages, each one call into one module: the data and hyperparameters
(:func:`~dl_workshop.estimator.fit_data.read_fit_data`), the problem
(:func:`~dl_workshop.estimator.compressed.prepare_fit`), the engine
(:func:`~dl_workshop.estimator.solve.fit_engine`), then the refinement. ``partial_fit`` shares
the first two (:meth:`GradientDescentRegressor._prepare`) and takes one optimizer step
(:mod:`~dl_workshop.estimator.partial`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import optax
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from dl_workshop.estimator.compressed import prepare_fit
from dl_workshop.estimator.conditioning import undetermined, warn_if_collinear
from dl_workshop.estimator.dask_data import predict_dask, score_dask
from dl_workshop.estimator.fit_data import MultiOutputTags, is_dask_input, read_fit_data
from dl_workshop.estimator.partial import start_stream, stream_update
from dl_workshop.estimator.powers import power_names, predict_features, refuse_dask
from dl_workshop.estimator.problem import (
    Prepared,
    original_units,
    refinable,
    unpad_params,
)
from dl_workshop.estimator.refine import MAX_STEPS, contraction, refine, warn_if_inaccurate
from dl_workshop.estimator.solve import fit_engine, warn_if_not_converged

NO_PARTIAL_FIT_MESSAGE = (
    "partial_fit needs a stochastic optimizer ('gd', 'momentum', 'adam' or an optax "
    "GradientTransformation); optimizer='lbfgs' is not: its line search assumes the "
    "same objective at every step"
)


def _is_stochastic(estimator: GradientDescentRegressor) -> bool:
    if isinstance(estimator.optimizer, str) and estimator.optimizer == "lbfgs":
        raise AttributeError(NO_PARTIAL_FIT_MESSAGE)
    return True


class GradientDescentRegressor(MultiOutputTags, RegressorMixin, BaseEstimator):
    """Linear least squares (optionally ridge) fitted by gradient-based optimization in JAX.

    Minimizes ``(Σ_i s_i ||y_i - x_i coef^T - intercept||² + alpha ||coef||²) / Σ_i s_i``, the
    objective of scikit-learn's ``Ridge(alpha)`` divided by the total sample weight, so the
    solution matches ``Ridge`` (and ``LinearRegression`` when ``alpha=0``). Each fit runs in
    the compiled engine (the solver of :func:`dl_workshop.fitting.optimization.fit_objective`); fits
    on data of the same shape and settings reuse the compiled code.

    With ``dtype="float64"``, a converged fit is refined (:mod:`~dl_workshop.estimator.refine`):
    residuals in double-double arithmetic and Newton corrections from the design's factorization
    bring ``coef_`` and ``intercept_`` to the float64 nearest the exact least-squares (ridge)
    solution of the data as given, and ``accuracy_`` says how many digits are correct. On the
    NIST StRD linear problems that is 13 to 15 digits, and 7.6 on Filip given as a matrix of
    powers rounded to float64, which determines no more; with ``degree=10`` the estimator forms
    the powers itself, exactly for the refinement, and reaches 14 (``docs/accuracy.md``).
    float32 fits are not refined.

    Args:
        optimizer: ``"lbfgs"`` (L-BFGS with a zoom line search), ``"gd"`` (gradient
            descent), ``"momentum"`` (heavy-ball, momentum 0.9), ``"adam"``, or any
            ``optax.GradientTransformation`` (which carries its own learning rate).
        learning_rate: a number > 0, or ``"auto"``: ``1/L`` with ``L`` the largest eigenvalue
            of the objective's Hessian (power iteration on Hessian-vector products), the
            largest step at which gradient descent decreases the loss monotonically. For
            ``"lbfgs"``, ``"auto"`` lets the line search choose each step; a number gives fixed
            steps of that size along the quasi-Newton direction.
        max_iter: maximum number of iterations (optimizer updates), >= 1.
        tol: stop when the relative decrease of the loss from one iteration to the next stays
            below ``tol`` for ``n_iter_no_change`` consecutive iterations (the engine's test; the
            loss is measured with a floor of ``1e-6`` times the targets' variance, so exact fits
            stop too); ``None`` runs ``max_iter`` iterations. The default suits ``"lbfgs"``
            and ``"gd"``, whose loss decreases monotonically; ``"momentum"`` and ``"adam"``
            can raise the loss for several iterations in a row and stop early: give them
            ``tol=None`` or a larger ``n_iter_no_change``. Where the loss's own rounding noise
            exceeds ``tol`` (ill-conditioned data such as NIST Filip), the test uses ten times
            that noise instead (:func:`~dl_workshop.estimator.solve.engine_tol`), and the
            refinement supplies the digits the loss cannot resolve.
        n_iter_no_change: see ``tol``, >= 1.
        fit_intercept: fit ``intercept_`` (unpenalized); ``False`` fixes it at zero.
        standardize: optimize over centred (with an intercept) and scaled features and targets
            (weighted means and standard deviations; root mean squares without an intercept).
            A change of variables: the solution is unchanged, ``coef_`` is reported in the
            original units, and the problem is far better conditioned.
        alpha: L2 penalty on ``coef_`` (not on the intercept), >= 0, as in ``Ridge``.
        degree: ``None`` (``X`` is the design), or an int ``d >= 1``: a polynomial in one
            variable, ``X`` of exactly one column ``x`` and the model ``intercept_ + Σ_k
            coef_[k-1] x^k`` for ``k = 1 … d`` (``coef_`` has ``d`` entries); the estimator
            forms the powers (``predict`` too), and the refinement evaluates them exactly
            rather than rounded to float64. Not for Dask data.
        dtype: ``"float64"`` (default) or ``"float32"``, the precision of the optimization.
            float64 is enabled for the call only; JAX's global setting is left alone.
        warm_start: start ``fit`` from the previous solution instead of zeros.
        random_state: seed (or ``numpy.random.RandomState``) of the power iteration's start
            vector for ``learning_rate="auto"``; the parameters always start at zero.
        verbose: show a progress bar for long fits.
        checkpoint: path of a checkpoint file that ``fit`` writes atomically every
            ``checkpoint_every`` iterations and on Ctrl-C (see
            :mod:`dl_workshop.fitting.checkpoint`).
        checkpoint_every: iterations between checkpoints (default: about 20 per fit).
        resume: with ``checkpoint``, continue ``fit`` from that file if it exists (same data and
            settings, else ``ValueError``); the result equals an uninterrupted fit's.
        overwrite: with ``checkpoint``, replace a checkpoint written by another run (without
            it, ``fit`` refuses one; a file that is not a checkpoint is always refused).

    Attributes:
        coef_: shape ``(n_features,)``, or ``(n_targets, n_features)`` for 2-D ``y``.
        intercept_: a float, or shape ``(n_targets,)`` for 2-D ``y``.
        n_iter_: iterations run by the last ``fit`` (or in total by ``partial_fit`` calls).
        loss_curve_: shape ``(n_iter_,)``, the objective ``J`` divided by the number of
            targets, before each iteration's update (weighted MSE for ``alpha=0``).
        n_features_in_: number of features seen in ``fit``.
        feature_names_in_: column names, when ``X`` was a DataFrame with string column names.
        learning_rate_: the step size used (``None`` for the L-BFGS line search or a custom
            optax optimizer).
        rank_: numerical rank of the standardized features (centred with an intercept), as
            ``numpy.linalg.lstsq`` counts it: singular values above ``max(n_samples,
            n_parameters) * eps`` times the largest (``eps`` of ``dtype``). Below
            ``n_features`` the coefficients are not unique (a :class:`CollinearityWarning`, unless
            ``alpha > 0`` makes them unique). Set by ``fit``; ``None`` above 2048 parameters.
        condition_number_: largest over smallest singular value of the standardized, weighted
            design (with the intercept's column); ``inf`` when singular. NIST Longley: 111,
            Wampler: 1.6e3, Filip: 3.8e9, all full rank (float64 resolves up to about
            ``1 / (n_samples * 2.2e-16)``, 5e13 for Filip's 82 rows).
        accuracy_: estimated correct significant digits of ``coef_`` and ``intercept_`` (the
            least over them) after the refinement: from its last correction, and from how far
            the rounding of the inputs themselves moves the exact solution (values that use
            all 53 bits of float64 count as rounded; with ``degree``, the powers are exact and
            only ``x`` can be); at most about 15.9. Measured within a
            digit of the NIST StRD certified values' log relative errors. ``fit`` warns
            (:class:`~dl_workshop.estimator.refine.AccuracyWarning`) below 6. ``None`` where
            there is no refinement: float32 fits, ``partial_fit``, rank-deficient designs
            without ``alpha``, and designs of more than 2 048 parameters. A fit that ran out of
            ``max_iter`` is not refined, only measured.

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> model = GradientDescentRegressor().fit(X, 2 * X[:, 0] + 1)
        >>> np.round(model.coef_, 6), round(float(model.intercept_), 6)
        (array([2.]), 1.0)
    """

    def __init__(
        self,
        *,
        optimizer: str | optax.GradientTransformation = "lbfgs",
        learning_rate: float | str = "auto",
        max_iter: int = 1000,
        tol: float | None = 1e-12,
        n_iter_no_change: int = 5,
        fit_intercept: bool = True,
        standardize: bool = True,
        alpha: float = 0.0,
        degree: int | None = None,
        dtype: str = "float64",
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.alpha = alpha
        self.degree = degree
        self.dtype = dtype
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.overwrite = overwrite

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GradientDescentRegressor:  # noqa: N803
        """Fit the model to ``X`` and ``y``.

        Dask data (``X`` a Dask array or DataFrame, ``y`` and ``sample_weight`` Dask arrays or
        Series) is read exactly once, on the workers: each partition's weighted means and R
        factor, combined there; the fit then runs on rows with the same moments, and equals the
        fit on the same data in memory to rounding (:mod:`~dl_workshop.estimator.dask_data`).
        Data in memory of more than 4 096 rows (and 16 per column) is fitted the same way, on
        rows with its moments (:mod:`~dl_workshop.estimator.compressed`): iterations of
        ``O(p²)``, and one compiled program for every such number of rows.

        Args:
            X: features, array-like, DataFrame, Dask array or Dask DataFrame of shape
                ``(n_samples, n_features)``.
            y: targets, shape ``(n_samples,)`` or ``(n_samples, n_targets)``.
            sample_weight: non-negative weights, shape ``(n_samples,)``; ``None`` weighs every
                sample 1. Integer weights are equivalent to repeating samples.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: for NaN/inf, empty data, 1-D ``X``, mismatched lengths, non-numeric
                values, all-zero or negative weights, or invalid hyperparameters.
            DivergenceError: if the optimization diverged (a learning rate too large).

        Warns:
            CollinearityWarning: when the standardized design is rank-deficient (linearly
                dependent or constant columns, fewer samples than parameters), naming the rank
                and the columns: the coefficients are not unique; the predictions are those of
                least squares.
            ConvergenceWarning: when ``max_iter`` ran out before ``tol`` was met.
            AccuracyWarning: when a converged float64 fit has fewer than 6 correct digits
                (``accuracy_``; :mod:`~dl_workshop.estimator.refine`).

        Example:
            >>> from sklearn.datasets import load_diabetes
            >>> X, y = load_diabetes(return_X_y=True)
            >>> round(GradientDescentRegressor().fit(X, y).score(X, y), 4)
            0.5177
        """
        # One stage per module, each entered once (tests/test_walks.py): the data (with the
        # hyperparameters), the problem, the engine; the refinement after it.
        prep = self._prepare(X, y, sample_weight, partial=False)
        result, step_size = fit_engine(prep)
        self._store_fit(result, prep, step_size)
        names = list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else None
        names = power_names(names, prep.settings.degree)
        warn_if_collinear(prep.conditioning, names, penalized=prep.settings.alpha > 0)
        warn_if_not_converged(result, prep.settings)
        if result.status == "converged":
            warn_if_inaccurate(self.accuracy_, self.condition_number_)
        return self

    @available_if(_is_stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> GradientDescentRegressor:  # noqa: N803
        """One optimizer update on the minibatch ``(X, y)``, continuing from the current state.

        Streaming use: call it once per batch. The first call (on an unfitted model) fixes the
        number of features and targets and, with ``standardize=True``, the scaling (from this
        first batch, so make it representative); later calls keep the optimizer's state
        (momentum, Adam moments). After :meth:`fit`, it continues from the fitted solution.
        ``learning_rate="auto"`` is ``1/L`` of the first batch. Not available for
        ``optimizer="lbfgs"``.

        Args:
            X: features, shape ``(n_batch, n_features)``.
            y: targets, shape ``(n_batch,)`` or ``(n_batch, n_targets)``.
            sample_weight: non-negative weights, shape ``(n_batch,)``.

        Returns:
            ``self``.

        Raises:
            ValueError: for Dask data (a minibatch is in memory; ``fit`` reads Dask data once),
                before reading it, and for what ``fit`` refuses.

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> model = GradientDescentRegressor(optimizer="gd")
            >>> for _ in range(200):
            ...     X = rng.normal(size=(32, 2))
            ...     model = model.partial_fit(X, X @ [1.0, -2.0] + 3.0)
            >>> np.round(model.coef_, 2), round(float(model.intercept_), 2)
            (array([ 1., -2.]), 3.0)
        """
        prep = self._prepare(X, y, sample_weight, partial=True)
        stream = getattr(self, "_stream", None)
        if stream is None:
            stream = start_stream(prep.settings, prep.params0, prep.problem)
            history, n_iter = np.zeros(0), 0
        else:
            history, n_iter = self.loss_curve_, self.n_iter_
        self._stream, loss = stream_update(
            stream, prep.settings, prep.problem, update=n_iter + 1,
            learning_rate=self.learning_rate,
        )
        self._store_solution(self._stream.params, prep)
        self.accuracy_ = None  # not refined
        self.n_iter_ = n_iter + 1
        loss = max(loss - float(prep.problem.offset), 0.0) * prep.scaling.y_scale**2
        self.loss_curve_ = np.append(history, loss)
        self.learning_rate_ = self._stream.step
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """Predict ``X @ coef_.T + intercept_``.

        Args:
            X: features, shape ``(n_samples, n_features_in_)``.

        Returns:
            float64 array of shape ``(n_samples,)``, or ``(n_samples, n_targets)``.

        Example:
            >>> import numpy as np
            >>> X = np.array([[0.0], [1.0], [2.0]])
            >>> GradientDescentRegressor().fit(X, [1.0, 3.0, 5.0]).predict([[4.0]]).round(6)
            array([9.])
        """
        check_is_fitted(self, "coef_")
        if is_dask_input(X):
            refuse_dask(self.degree)
            return predict_dask(self, X)
        x = validate_data(self, X, reset=False, dtype=np.float64)
        coef = np.asarray(self.coef_)
        return predict_features(x, self.degree, coef.shape[-1]) @ coef.T + self.intercept_

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        """R² of ``predict(X)`` against ``y`` (scikit-learn's ``r2_score``, averaged over
        targets).

        Dask data is scored in one pass, from per-partition sums.

        Args:
            X: features, shape ``(n_samples, n_features_in_)``.
            y: targets, shape ``(n_samples,)`` or ``(n_samples, n_targets)``.
            sample_weight: weights, shape ``(n_samples,)``, or ``None``.

        Returns:
            The coefficient of determination, a float.

        Example:
            >>> import numpy as np
            >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
            >>> round(GradientDescentRegressor().fit(X, [1.0, 3, 5, 8]).score(X, [1.0, 3, 5, 8]), 4)
            0.9888
        """
        if is_dask_input(X, y, sample_weight):
            check_is_fitted(self, "coef_")
            refuse_dask(self.degree)
            return score_dask(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    # ----------------------------------------------------------------------------- internals
    def _prepare(self, X: Any, y: Any, sample_weight: Any, *, partial: bool) -> Prepared:  # noqa: N803
        """The data stage and the problem stage (hyperparameters, data checks, scaling, the
        padded problem and the starting parameters), as ``fit`` runs them.

        ``partial=True`` (``partial_fit``) keeps a fitted model's number of features and
        targets, the scaling of its first batch, and starts from its solution; the first batch,
        like ``fit``, fixes them. ``partial_fit`` pads the rows only (its parameters keep their
        shape).
        """
        fitted = hasattr(self, "coef_")
        previous = self._previous() if fitted and (partial or self.warm_start) else None
        scaling = getattr(self, "_scaling", None) if partial and fitted else None
        data = read_fit_data(self, X, y, sample_weight, partial=partial)
        return prepare_fit(data, previous, scaling=scaling, partial=partial)

    def _previous(self) -> tuple[Any, Any, int]:
        """The fitted solution, to start from (warm start, or ``partial_fit`` after ``fit``)."""
        return self.coef_, self.intercept_, np.shape(self.coef_)[-1]

    def _store_fit(self, result: Any, prep: Prepared, step_size: float | None) -> None:
        """Set what ``fit`` found: the solution (refined where :func:`_refinable`), the
        iterations, the loss curve and the analysis of the design."""
        coef, intercept = original_units(unpad_params(result.theta, prep.d, prep.k),
                                         prep.scaling, prep.settings.fit_intercept)
        self.accuracy_ = None
        if refinable(prep):
            # A converged fit is refined; one that ran out of iterations is only measured.
            refined = refine(coef, intercept, prep.exact(), prep.scaling,
                             prep.conditioning.whiten, prep.settings.fit_intercept,
                             max_steps=MAX_STEPS if result.status == "converged" else 0,
                             contraction=contraction(prep.conditioning.condition_number,
                                                     prep.conditioning.n_params))
            coef, intercept, self.accuracy_ = refined.coef, refined.intercept, refined.accuracy
        self._store_coefficients(coef, intercept, prep)
        self.n_iter_ = int(result.n_steps)
        losses = np.asarray(result.losses, dtype=np.float64) - float(prep.problem.offset)
        self.loss_curve_ = np.maximum(losses, 0.0) * prep.scaling.y_scale**2
        self.learning_rate_ = step_size
        self.rank_ = prep.conditioning.rank
        self.condition_number_ = prep.conditioning.condition_number
        # Which parameters the data leave free (for undetermined_parameters): two small arrays.
        self._free = undetermined(
            prep.conditioning, prep.scaling.x_offset, prep.scaling.x_scale
        )
        self.__dict__.pop("_stream", None)
        self.__dict__.pop("_moments", None)
        if prep.moments is not None:
            self._moments = prep.moments  # for least_squares_of and training_r2

    def _store_solution(self, theta: dict, prep: Prepared) -> None:
        """Map the scaled solution back to the original units and set coef_, intercept_."""
        coef, intercept = original_units(theta, prep.scaling, prep.settings.fit_intercept)
        self._store_coefficients(coef, intercept, prep)

    def _store_coefficients(self, coef: np.ndarray, intercept: np.ndarray,
                            prep: Prepared) -> None:
        """Set coef_ and intercept_ from ``coef (d, k)`` and ``intercept (k,)``."""
        if prep.single:
            self.coef_ = coef[:, 0]
            self.intercept_ = float(intercept[0])
        else:
            self.coef_ = np.ascontiguousarray(coef.T)
            self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self._scaling = prep.scaling
