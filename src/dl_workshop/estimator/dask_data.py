"""``GradientDescentRegressor`` on Dask data: ``fit`` in one pass, ``predict`` and ``score`` lazily.

``fit(X, y, sample_weight)`` with ``X`` a Dask array of shape ``(n, d)`` or a Dask DataFrame,
``y`` a Dask array of shape ``(n,)`` or ``(n, k)``, a Series or a DataFrame, and
``sample_weight`` ``None``, a number or a Dask array or Series (an array in memory only when
``X``'s row chunks are known) first checks what can be checked without reading a block
(dimensions, dtypes, feature names), then reads the data exactly once: each partition's weighted
means and R factor are computed on the worker that holds it and combined there by a tree
(:func:`~dl_workshop.moments.core.dask_moments`), so this process receives
``O((d + k)²)`` numbers. The fit itself runs on rows with the same moments
(:mod:`~dl_workshop.estimator.compressed`). ``partial_fit`` refuses Dask data before reading it
(:data:`PARTIAL_FIT_DASK_MESSAGE`).

``predict(X)`` returns a Dask array for a Dask array (``map_blocks``) and a Dask Series
(DataFrame for several targets) for a Dask DataFrame (``map_partitions``), computed when asked.
``score(X, y)`` is R² as scikit-learn's ``r2_score`` computes it, from per-partition sums in one
pass over ``X`` and ``y``. :func:`least_squares_of` and :func:`training_r2` answer from the fit's
statistics without another pass.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils.validation import _check_feature_names, _check_n_features

from dl_workshop.estimator.compressed import closed_form, r2_scores
from dl_workshop.io.chunks import aligned_blocks, as_dask_array, is_dask, shared_arrays
from dl_workshop.moments.core import Moments, moments_of
from dl_workshop.objectives.dask_stats import check_moments

NO_TARGETS_MESSAGE = "y must have at least one target column; got shape (n, 0)"
PARTIAL_FIT_DASK_MESSAGE = (
    "partial_fit takes one minibatch in memory; got Dask data. Use fit, which reads Dask data "
    "once on the workers, or compute the minibatch first (X.compute())"
)
NOT_2D_MESSAGE = (
    "X must be a 2-D Dask array or a Dask DataFrame of shape (n_samples, n_features); got a "
    "Dask array of shape {shape}"
)
NEGATIVE_WEIGHTS_MESSAGE = "sample_weight must be non-negative; got {count} negative value(s)"
ZERO_WEIGHTS_MESSAGE = (
    "sample_weight must contain at least one positive number; got {n} weights summing to 0"
)
NONFINITE_WEIGHTS_MESSAGE = "sample_weight must be finite; got {count} NaN or infinite value(s)"
WEIGHTS_SHAPE_MESSAGE = "sample_weight must be 1-D of length n_samples; got shape {shape}"
UNALIGNED_WEIGHTS_MESSAGE = (
    "sample_weight in memory needs X with known row chunks; X has partitions of unknown "
    "lengths (a Dask DataFrame): give sample_weight as a Dask Series of the same DataFrame"
)
NOT_FITTED_ON_DASK_MESSAGE = (
    "{what} needs a GradientDescentRegressor fitted on Dask data (it answers from that fit's "
    "one-pass statistics); this one was fitted on data in memory or loaded from a file"
)


class DaskFitData(NamedTuple):
    """What one pass over Dask ``(X, y, sample_weight)`` gives ``fit``.

    Attributes:
        moments: the weighted moments of ``[X, y]``.
        d: the number of features.
        k: the number of targets.
        single: whether ``y`` is one-dimensional.
    """

    moments: Moments
    d: int
    k: int
    single: bool


def _features(X: Any) -> Any:  # noqa: N803
    """``X`` as a 2-D Dask array (lazily; no block is read)."""
    x = as_dask_array(X, "X")
    if x.ndim != 2:
        raise ValueError(NOT_2D_MESSAGE.format(shape=tuple(x.shape)))
    return x


def _meta(X: Any, x: Any) -> Any:  # noqa: N803
    """An empty stand-in of ``X`` for scikit-learn's feature-name and feature-count checks."""
    meta = getattr(X, "_meta", None)  # a Dask DataFrame's: an empty pandas DataFrame
    return meta if hasattr(meta, "columns") else np.empty((0, x.shape[1]))


def _known(a: Any) -> bool:
    return not any(np.isnan(c) for c in a.chunks[0])


def _targets(y: Any, x: Any) -> tuple[Any, bool]:
    ys = as_dask_array(y, "y")
    single = ys.ndim == 1
    ys = ys[:, None] if single else ys
    if ys.shape[1] == 0:
        raise ValueError(NO_TARGETS_MESSAGE)
    if _known(x) and _known(ys) and x.shape[0] != ys.shape[0]:
        raise ValueError(
            f"X and y must have the same number of samples; got {x.shape[0]} and {ys.shape[0]}"
        )
    return ys, single


def _weights(sample_weight: Any, x: Any) -> tuple[Any, float]:
    """``(Dask weights or None, factor)``: a number becomes ``None`` and a factor on the
    moments (equal weights ``c`` scale ``W`` and ``R²`` by ``c``)."""
    import dask.array as da

    if sample_weight is None:
        return None, 1.0
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        factor = float(sample_weight)
        if not np.isfinite(factor):
            raise ValueError(NONFINITE_WEIGHTS_MESSAGE.format(count=1))
        if factor < 0:
            raise ValueError(NEGATIVE_WEIGHTS_MESSAGE.format(count="all"))
        return None, factor
    if not is_dask(sample_weight):
        if not _known(x):
            raise ValueError(UNALIGNED_WEIGHTS_MESSAGE)
        sample_weight = da.from_array(np.asarray(sample_weight), chunks=(x.chunks[0],))
    weights = as_dask_array(sample_weight, "sample_weight")
    if weights.ndim != 1:
        raise ValueError(WEIGHTS_SHAPE_MESSAGE.format(shape=tuple(weights.shape)))
    if _known(x) and _known(weights) and weights.shape[0] != x.shape[0]:
        raise ValueError(WEIGHTS_SHAPE_MESSAGE.format(shape=tuple(weights.shape)))
    return weights, 1.0


def _check_weights(moments: Moments, factor: float) -> None:
    if moments.nonfinite[2]:
        raise ValueError(NONFINITE_WEIGHTS_MESSAGE.format(count=int(moments.nonfinite[2])))
    if moments.negative:
        raise ValueError(NEGATIVE_WEIGHTS_MESSAGE.format(count=moments.negative))
    if moments.weight * factor <= 0:
        raise ValueError(ZERO_WEIGHTS_MESSAGE.format(n=moments.n))


def _arrays(X: Any, y: Any, sample_weight: Any) -> tuple[Any, ...]:  # noqa: N803
    """``(x, ys (n, k), weights or None, factor, single, meta)``, checked without reading."""
    x = _features(X)
    ys, single = _targets(y, x)
    weights, factor = _weights(sample_weight, x)
    meta = _meta(X, x)
    shared = shared_arrays(X, y, *([] if weights is None else [sample_weight]))
    if shared is not None:
        x, ys = shared[0], shared[1]
        weights = shared[2][:, 0] if weights is not None else None
    return x, ys, weights, factor, single, meta


def read_once(estimator: Any, X: Any, y: Any, sample_weight: Any) -> DaskFitData:  # noqa: N803
    """Check Dask ``(X, y, sample_weight)`` without reading, set ``n_features_in_`` and
    ``feature_names_in_`` as scikit-learn would, then make the one pass.

    Args:
        estimator: the estimator being fitted.
        X: features, a Dask array ``(n, d)`` or DataFrame.
        y: targets, a Dask array ``(n,)`` or ``(n, k)``, Series or DataFrame.
        sample_weight: ``None``, a number, or weights of shape ``(n,)``.

    Returns:
        A :class:`DaskFitData`.

    Raises:
        ValueError, TypeError: as ``fit`` on data in memory (non-numeric, not 2-D, empty,
            non-finite, mismatched lengths, negative or all-zero weights).

    Example:
        >>> import dask.array as da
        >>> from sklearn.base import BaseEstimator
        >>> x = da.arange(8.0, chunks=3).reshape(4, 2)
        >>> data = read_once(BaseEstimator(), x, x[:, 0] * 2, None)
        >>> data.d, data.k, data.single, data.moments.n
        (2, 1, True, 4)
    """
    x, ys, weights, factor, single, meta = _arrays(X, y, sample_weight)
    _check_feature_names(estimator, meta, reset=True)
    _check_n_features(estimator, meta, reset=True)
    moments = moments_of(x, ys, np.float64, weights)
    check_moments(moments, x, ys, names=("X", "y"))
    _check_weights(moments, factor)
    if factor != 1.0:
        moments = moments._replace(weight=moments.weight * factor, r=moments.r * np.sqrt(factor))
    return DaskFitData(moments, x.shape[1], ys.shape[1], single)


def _predict_block(block: np.ndarray, coef: np.ndarray, intercept: Any) -> np.ndarray:
    return np.asarray(block, np.float64) @ coef.T + intercept


def _predict_frame(part: Any, coef: np.ndarray, intercept: Any) -> Any:
    import pandas as pd

    values = _predict_block(part.to_numpy(np.float64), coef, intercept)
    if values.ndim == 1:
        return pd.Series(values, index=part.index)
    return pd.DataFrame(values, index=part.index)


def predict_dask(model: Any, X: Any) -> Any:  # noqa: N803
    """``X @ coef_.T + intercept_`` for Dask ``X``, lazily.

    Returns:
        A Dask array of shape ``(n,)`` or ``(n, k)`` for a Dask array; a Dask Series (one
        target) or DataFrame (columns ``0..k-1``) with ``X``'s index for a Dask DataFrame.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> X = np.array([[0.0], [1.0], [2.0]])
        >>> model = GradientDescentRegressor().fit(X, [1.0, 3.0, 5.0])
        >>> out = predict_dask(model, da.from_array(np.array([[4.0], [5.0]]), chunks=1))
        >>> type(out).__name__, out.compute().round(6).tolist()
        ('Array', [9.0, 11.0])
    """
    x = _features(X)
    meta = _meta(X, x)
    _check_feature_names(model, meta, reset=False)
    _check_n_features(model, meta, reset=False)
    coef = np.asarray(model.coef_, np.float64)
    intercept = np.asarray(model.intercept_, np.float64)
    if hasattr(meta, "columns"):
        import pandas as pd

        shape = pd.Series(dtype=np.float64) if coef.ndim == 1 else pd.DataFrame(
            np.empty((0, coef.shape[0])))
        return X.map_partitions(_predict_frame, coef, intercept, meta=shape)
    if coef.ndim == 1:
        return x.map_blocks(_predict_block, coef, intercept, drop_axis=1, dtype=np.float64,
                            meta=np.empty((0,)))
    return x.map_blocks(_predict_block, coef, intercept, chunks=(x.chunks[0], coef.shape[:1]),
                        dtype=np.float64, meta=np.empty((0, 0)))


def _score_sums(coef: np.ndarray, intercept: Any, x: Any, y: Any,
                w: Any = None) -> tuple[float, np.ndarray, ...]:
    """``(W, weighted mean of y, Σ w (y - mean)², Σ w (y - ŷ)²)`` of one partition."""
    prediction = _predict_block(x, coef, intercept).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    total = float(w.sum())
    if total == 0:
        return 0.0, np.zeros(y.shape[1]), np.zeros(y.shape[1]), np.zeros(y.shape[1])
    mean = (w @ y) / total
    return total, mean, w @ (y - mean) ** 2, w @ (y - prediction) ** 2


def score_dask(model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
    """R² of ``predict(X)`` on Dask data (``r2_score``'s uniform average over targets), from
    per-partition sums in one pass over ``X`` and ``y``.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> model = GradientDescentRegressor().fit(X, [1.0, 3.0, 5.0, 7.0])
        >>> round(score_dask(model, da.from_array(X, chunks=2), da.from_array([1.0, 3, 5, 8])), 4)
        0.9626
    """
    import dask

    x, ys, weights, _, _, meta = _arrays(X, y, sample_weight)
    _check_feature_names(model, meta, reset=False)
    _check_n_features(model, meta, reset=False)
    coef = np.asarray(model.coef_, np.float64)
    intercept = np.asarray(model.intercept_, np.float64)
    sums = dask.delayed(_score_sums, pure=False)
    arrays = (x, ys) if weights is None else (x, ys, weights)
    parts = dask.compute(
        *[sums(coef, intercept, *blocks) for blocks in aligned_blocks(*arrays)]
    )
    total, mean, m2, residual = parts[0]
    for w, mean_b, m2_b, residual_b in parts[1:]:  # Chan, Golub and LeVeque's update
        if w == 0:
            continue
        combined = total + w
        delta = mean_b - mean
        m2 = m2 + m2_b + delta**2 * (total * w / combined)
        mean, total, residual = mean + delta * (w / combined), combined, residual + residual_b
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(m2 > 0, 1.0 - residual / m2, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))


def _moments_of(model: Any, what: str) -> Moments:
    moments = getattr(model, "_moments", None)
    if moments is None:
        raise ValueError(NOT_FITTED_ON_DASK_MESSAGE.format(what=what))
    return moments


def least_squares_of(model: Any) -> tuple[Any, Any]:
    """The exact least-squares (``alpha > 0``: ridge) solution of the data ``model`` was
    fitted on with Dask, from the same one-pass statistics: ``(coef, intercept)`` shaped as
    ``model.coef_`` and ``model.intercept_``.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> X = da.from_array(np.arange(6.0).reshape(3, 2), chunks=2)
        >>> model = GradientDescentRegressor(alpha=1.0).fit(X, X[:, 0] + 1)
        >>> coef, intercept = least_squares_of(model)
        >>> bool(np.allclose(coef, model.coef_)), coef.shape
        (True, (2,))
    """
    moments = _moments_of(model, "least_squares_of")
    d = model.n_features_in_
    coef, intercept = closed_form(moments, d, float(model.alpha), bool(model.fit_intercept))
    if np.ndim(model.coef_) == 1:
        return coef[:, 0], float(intercept[0])
    return np.ascontiguousarray(coef.T), intercept


def training_r2(model: Any, coef: Any = None, intercept: Any = None) -> float | None:
    """R² on the data ``model`` was fitted on with Dask (weighted, averaged over targets), of its
    coefficients or of ``(coef, intercept)`` shaped like them; ``None`` for a constant target.

    From the fit's one-pass statistics: no pass over the data.

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> X = da.from_array(np.array([[0.0], [1.0], [2.0], [3.0]]), chunks=2)
        >>> model = GradientDescentRegressor().fit(X, da.from_array([1.0, 3, 5, 8], chunks=2))
        >>> round(training_r2(model), 6), round(training_r2(model, np.zeros(1), 4.25), 6)
        (0.988785, 0.0)
    """
    moments = _moments_of(model, "training_r2")
    coef = model.coef_ if coef is None else coef
    intercept = model.intercept_ if intercept is None else intercept
    d = model.n_features_in_
    coef = np.asarray(coef, np.float64).reshape(-1, d).T  # (d, k)
    intercept = np.broadcast_to(np.asarray(intercept, np.float64), (coef.shape[1],))
    scores = r2_scores(moments, d, coef, intercept)
    return None if np.isnan(scores).any() else float(np.mean(scores))


class DaskFitSummary(NamedTuple):
    """What ``dl-workshop fit --scheduler`` reports beside a fit on Dask data, from its
    statistics.

    Attributes:
        n_rows: the number of rows read.
        coef: the least-squares (ridge) coefficients, shaped as ``coef_``.
        intercept: its intercept, shaped as ``intercept_``.
        r2: R² of the fitted model on the rows (``None`` for a constant target).
        r2_reference: R² of the least-squares solution.
    """

    n_rows: int
    coef: Any
    intercept: Any
    r2: float | None
    r2_reference: float | None


def summary_of(model: Any) -> DaskFitSummary:
    """The :class:`DaskFitSummary` of a model fitted on Dask data (no pass over the data).

    Example:
        >>> import dask.array as da, numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> X = da.from_array(np.array([[0.0], [1.0], [2.0], [3.0]]), chunks=2)
        >>> s = summary_of(GradientDescentRegressor().fit(X, da.from_array([1.0, 3, 5, 8])))
        >>> s.n_rows, s.coef.round(6).tolist(), round(s.r2_reference, 6)
        (4, [2.3], 0.988785)
    """
    coef, intercept = least_squares_of(model)
    return DaskFitSummary(
        n_rows=int(_moments_of(model, "summary_of").n),
        coef=coef,
        intercept=intercept,
        r2=training_r2(model),
        r2_reference=training_r2(model, coef, intercept),
    )
