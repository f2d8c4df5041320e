"""The estimator's problem from one pass of statistics: a few rows with the data's moments.

``GradientDescentRegressor.fit`` on Dask data reads the data once
(:func:`~dl_workshop.objectives.moments.moments_of`): the total weight ``W``, the weighted
means of ``z = [x, y]`` and an R factor with ``RᵀR = Σ w (z - mean)(z - mean)ᵀ``
(:mod:`~dl_workshop.objectives.moments`). Everything the fit uses is a function of those first and
second moments: the scaling, the quadratic objective, the design's singular values. So the fit
runs on ``2p`` rows (``p = d + k``) that have exactly these moments,

    z_j± = mean ± sqrt(p / W) R_j,   each of weight W / (2p),   j = 1, ..., p

(their weighted mean is ``mean`` because they come in mirrored pairs, their weighted
cross-products are ``RᵀR``), built directly in the scaled variables, so that the means are never
added back to the centred values (which would round them). The estimator's machinery (scaling,
factorization, L-BFGS, refinement) then runs unchanged at ``O(p d)`` per
iteration, and ``coef_`` equals the fit on the rows to rounding. Large data in memory is
fitted the same way (:func:`in_memory_compressed`, chosen by :func:`compresses`): one blocked QR
instead of a pass over the rows at every iteration, and a problem of the shape every such fit
shares, so that a new number of rows compiles nothing. The rank is counted with the
data's number of rows, and constant columns are those whose range over the rows is zero.

:func:`closed_form` and :func:`r2_scores` answer from the same statistics what the command line
reports beside the fit: the least-squares (or ridge) solution and R², without another pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dl_workshop.estimator.conditioning import Conditioning
from dl_workshop.estimator.problem import (
    PAD_TINY_ROWS,
    DesignData,
    Scaling,
    analyzed_problem,
    scaled_problem,
    scaling_of,
)
from dl_workshop.estimator.refine import LeastSquares, moments_problem
from dl_workshop.objectives.moments import Moments, moments_of


def _constant(moments: Moments, d: int) -> np.ndarray:
    """Indices of the features constant over the rows of positive weight."""
    return np.flatnonzero(moments.low[:d] == moments.high[:d])


def _r_factor(moments: Moments) -> np.ndarray:
    """``R`` with the columns of constant features and targets set to their exact value, zero
    (the means' rounding leaves them at about ``eps`` times the value otherwise)."""
    r = moments.r.copy()
    r[:, _constant(moments, len(moments.mean))] = 0.0
    return r


def moment_scaling(moments: Moments, d: int, fit_intercept: bool, standardize: bool) -> Scaling:
    """:func:`~dl_workshop.estimator.problem.fit_scaling` of the rows, from their moments (both
    are :func:`~dl_workshop.estimator.problem.scaling_of`).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.objectives.moments import moments_of
        >>> s = moment_scaling(moments_of(np.array([0.0, 2.0]), np.array([1.0, 3.0])), 1,
        ...                    True, True)
        >>> s.x_offset.tolist(), s.x_scale.tolist(), s.y_offset.tolist(), round(s.y_scale, 12)
        ([1.0], [1.0], [2.0], 1.0)
    """
    variance = np.sum(_r_factor(moments) ** 2, axis=0) / moments.weight
    return scaling_of(moments.mean, variance, d, fit_intercept, standardize)


def compressed_problem(
    moments: Moments, d: int, *, alpha: float, fit_intercept: bool, standardize: bool,
    dtype: np.dtype,
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None, Scaling]:
    """The estimator's padded problem on the ``2p`` rows with the data's moments.

    Args:
        moments: the data's :class:`~dl_workshop.objectives.moments.Moments`, ``z = [x, y]``.
        d: the number of features.
        alpha: the L2 penalty.
        fit_intercept: whether the intercept is fitted.
        standardize: whether the features and targets are centred and scaled.
        dtype: the dtype of the optimization.

    Returns:
        ``(problem, shape, conditioning, scaling)``, as
        :func:`~dl_workshop.estimator.problem.build_problem` returns them for the data's rows.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.objectives.moments import moments_of
        >>> x = np.arange(10.0)
        >>> m = moments_of(x, 3 * x + 1)
        >>> problem, shape, c, s = compressed_problem(
        ...     m, 1, alpha=0.0, fit_intercept=True, standardize=True, dtype=np.float64)
        >>> shape, c.rank, c.n_rows, float(problem.weights.sum())
        ((512, 32, 8), 1, 10, 1.0)
    """
    scaling = moment_scaling(moments, d, fit_intercept, standardize)
    p = len(moments.mean)
    r = _r_factor(moments) * np.sqrt(p / moments.weight)
    rows_x = r[:, :d] / scaling.x_scale
    rows_y = r[:, d:] / scaling.y_scale
    centre_x = (moments.mean[:d] - scaling.x_offset) / scaling.x_scale
    centre_y = (moments.mean[d:] - scaling.y_offset) / scaling.y_scale
    z = np.concatenate([centre_x + rows_x, centre_x - rows_x])
    target = np.concatenate([centre_y + rows_y, centre_y - rows_y])
    weights = np.full(2 * p, moments.weight / (2 * p))
    problem = scaled_problem(z, target, weights, scaling.x_scale, alpha, fit_intercept)
    problem, shape, conditioning = analyzed_problem(
        problem, fit_intercept=fit_intercept, dtype=dtype, n_rows=moments.positive,
        constant=_constant(moments, d),
    )
    return problem, shape, conditioning, scaling


#: Data in memory of more rows than this (and at least ``COMPRESS_ROWS_PER_COLUMN`` rows per
#: column of ``[x, y]``) is fitted on the ``2p`` rows with its moments, as Dask data is: one
#: read of the rows (a blocked QR), then iterations that cost ``O(p²)`` instead of ``O(n p)``
#: on a problem of a shape that every such fit shares (no compilation per number of rows).
#: Fewer rows are padded and fitted as they are (:func:`~.problem.padded_shape`).
COMPRESS_MIN_ROWS = PAD_TINY_ROWS

#: See ``COMPRESS_MIN_ROWS``: below this many rows per column, the QR's ``O(n p²)`` is not
#: paid back.
COMPRESS_ROWS_PER_COLUMN = 16


def compresses(n: int, p: int) -> bool:
    """Whether a fit on ``n`` rows of ``p`` columns (features and targets) in memory runs on the
    rows with its moments (see ``COMPRESS_MIN_ROWS``).

    Example:
        >>> compresses(442, 11), compresses(200_000, 51), compresses(5_000, 1_000)
        (False, True, False)
    """
    return n > COMPRESS_MIN_ROWS and n >= COMPRESS_ROWS_PER_COLUMN * p


def in_memory_compressed(
    x: np.ndarray, ys: np.ndarray, weights: np.ndarray, **options: Any
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None, Scaling, Moments]:
    """:func:`compressed_problem` of data in memory: its moments in one read, in float64;
    returned too (for the refinement, :func:`exact_problem`).

    Args:
        x: features, shape ``(n, d)``, float64.
        ys: targets, shape ``(n, k)``, float64.
        weights: non-negative sample weights, shape ``(n,)``.
        **options: :func:`compressed_problem`'s keyword arguments.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10.0)[:, None]
        >>> problem, shape, c, s, m = in_memory_compressed(
        ...     x, 3 * x + 1, np.ones(10), alpha=0.0, fit_intercept=True, standardize=True,
        ...     dtype=np.float64)
        >>> shape, c.n_rows, s.x_offset.tolist()
        ((512, 32, 8), 10, [4.5])
    """
    moments = moments_of(x, ys, weights=weights)
    return (*compressed_problem(moments, x.shape[1], **options), moments)


def exact_problem(moments: Moments, d: int, alpha: float) -> LeastSquares:
    """The least-squares problem of the moments, for :func:`~dl_workshop.estimator.refine.refine`
    (see :func:`~dl_workshop.estimator.refine.moments_problem`).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.objectives.moments import moments_of
        >>> exact_problem(moments_of(np.arange(4.0), np.arange(4.0)), 1, 0.0).from_moments
        True
    """
    return moments_problem(_r_factor(moments), moments.mean, moments.weight, d, alpha)


def closed_form(moments: Moments, d: int, alpha: float, fit_intercept: bool) -> tuple[Any, Any]:
    """``(coef (d, k), intercept (k,))``: least squares (ridge for ``alpha > 0``) from ``R``.

    Minimizes ``Σ w ||y - x coef - intercept||² + alpha ||coef||²`` (the intercept unpenalized),
    as ``numpy.linalg.lstsq`` (``Ridge``) on the rows would, by an SVD of the stacked
    ``[R_x; sqrt(alpha) I]``: about ``eps`` times the condition number of the centred design.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.objectives.moments import moments_of
        >>> x = np.arange(5.0)
        >>> coef, intercept = closed_form(moments_of(x, 2 * x + 1), 1, 0.0, True)
        >>> coef.round(12).tolist(), intercept.round(12).tolist()
        ([[2.0]], [1.0])
    """
    r = _r_factor(moments)
    mean_x, mean_y = moments.mean[:d], moments.mean[d:]
    a, b = r[:, :d], r[:, d:]
    if not fit_intercept:  # the means' part of the uncentred sums
        root = np.sqrt(moments.weight)
        a, b = np.vstack([a, root * mean_x]), np.vstack([b, root * mean_y])
    if alpha > 0:
        a = np.vstack([a, np.sqrt(alpha) * np.eye(d)])
        b = np.vstack([b, np.zeros((d, b.shape[1]))])
    coef = np.linalg.lstsq(a, b, rcond=None)[0]
    intercept = mean_y - mean_x @ coef if fit_intercept else np.zeros(b.shape[1])
    return coef, intercept


def r2_scores(moments: Moments, d: int, coef: Any, intercept: Any) -> np.ndarray:
    """R² per target of ``x @ coef + intercept`` on the rows, from their moments (weighted).

    ``Σ w (y - ŷ)² = ||R [coef; -I]||² + W (mean_x coef + intercept - mean_y)²`` per target, and
    ``Σ w (y - mean_y)²`` is the targets' part of ``R``; NaN where the target is constant.

    Args:
        moments: the rows' :class:`~dl_workshop.objectives.moments.Moments`.
        d: the number of features.
        coef: shape ``(d, k)``.
        intercept: shape ``(k,)``.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.objectives.moments import moments_of
        >>> x = np.arange(4.0)
        >>> r2_scores(moments_of(x, x), 1, np.zeros((1, 1)), np.full(1, 1.5)).tolist()
        [0.0]
    """
    r = _r_factor(moments)
    coef, intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
    residual = np.sum((r[:, :d] @ coef - r[:, d:]) ** 2, axis=0)
    bias = moments.mean[:d] @ coef + intercept - moments.mean[d:]
    residual = residual + moments.weight * bias**2
    total = np.sum(r[:, d:] ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - residual / total, np.nan)
