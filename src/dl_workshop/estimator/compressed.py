"""The estimator's problem from one pass of statistics: a few rows with the data's moments.

``GradientDescentRegressor.fit`` on Dask data reads the data once
(:func:`~dl_workshop.moments.core.moments_of`): the total weight ``W``, the weighted
means of ``z = [x, y]`` and an R factor with ``RᵀR = Σ w (z - mean)(z - mean)ᵀ``
(:mod:`~dl_workshop.moments.core`). Everything the fit uses is a function of those first and
second moments: the scaling, the quadratic objective, the design's singular values. So the fit
runs on ``2p`` rows (``p = d + k``) that have exactly these moments,

    z_j± = mean ± sqrt(p / W) R_j,   each of weight W / (2p),   j = 1, ..., p

(their weighted mean is ``mean`` because they come in mirrored pairs, their weighted
cross-products are ``RᵀR``), built directly in the scaled variables, so that the means are never
added back to the centred values (which would round them). The estimator's machinery (scaling,
factorization, L-BFGS, refinement) then runs unchanged at ``O(p d)`` per
iteration, and ``coef_`` equals the fit on the rows to rounding. Large data in memory is
fitted the same way (chosen by :func:`compresses`): one blocked QR
instead of a pass over the rows at every iteration, and a problem of the shape every such fit
shares, so that a new number of rows compiles nothing. :func:`prepare_fit` is the estimator's
one problem stage, for these rows or the data's own. The rank is counted with the
data's number of rows, and constant columns are those whose range over the rows is zero.

:func:`closed_form` and :func:`r2_scores` answer from the same statistics what the command line
reports beside the fit: the least-squares (or ridge) solution and R², without another pass.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from dl_workshop.estimator.problem import (
    PAD_TINY_ROWS,
    Centred,
    Prepared,
    Scaling,
    fit_problem,
    scaling_of,
)
from dl_workshop.estimator.refine import moments_problem, rows_problem
from dl_workshop.moments.core import Moments, host_moments


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
        >>> from dl_workshop.moments.core import moments_of
        >>> s = moment_scaling(moments_of(np.array([0.0, 2.0]), np.array([1.0, 3.0])), 1,
        ...                    True, True)
        >>> s.x_offset.tolist(), s.x_scale.tolist(), s.y_offset.tolist(), round(s.y_scale, 12)
        ([1.0], [1.0], [2.0], 1.0)
    """
    variance = np.sum(_r_factor(moments) ** 2, axis=0) / moments.weight
    return scaling_of(moments.mean, variance, d, fit_intercept, standardize)


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


def centred(moments: Moments, d: int) -> Centred:
    """The ``2p`` rows with the data's moments (``p = d + k``), as
    :func:`~dl_workshop.estimator.problem.fit_problem` builds them (see the module docstring).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.moments.core import moments_of
        >>> c = centred(moments_of(np.arange(4.0), np.arange(4.0)), 1)
        >>> c.mean.tolist(), c.variance.round(12).tolist(), c.n_rows
        ([1.5, 1.5], [1.25, 1.25], 4)
    """
    r = _r_factor(moments)
    p = len(moments.mean)
    return Centred(moments.mean, np.sum(r**2, axis=0) / moments.weight,
                   r * np.sqrt(p / moments.weight), moments.weight, moments.positive,
                   _constant(moments, d))


def prepare_fit(data: Any, previous: Any = None, *, scaling: Scaling | None = None,
                partial: bool = False) -> Prepared:
    """The estimator's problem of one call, in one stage: the data's moments where it
    :func:`compresses` (or the moments of Dask data), then the problem on their ``2p`` rows, or
    on the rows themselves (:func:`~dl_workshop.estimator.problem.fit_problem`, the one call
    into :mod:`~dl_workshop.estimator.problem`).

    The refinement's problem is built after the engine (``Prepared.exact``).

    Args:
        data: the validated data (:class:`~dl_workshop.estimator.fit_data.FitData`).
        previous: the fitted solution to start from, or ``None``.
        scaling: the scaling to keep (``partial_fit`` after its first batch), or ``None``.
        partial: ``partial_fit``: the rows as they are, padded in rows only, not analyzed.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> from dl_workshop.estimator.fit_data import read_fit_data
        >>> x = np.arange(10_000.0)[:, None]
        >>> prep = prepare_fit(read_fit_data(GradientDescentRegressor(), x, 3 * x[:, 0] + 1))
        >>> prep.shape, prep.conditioning.n_rows, prep.exact().from_moments
        ((512, 32, 8), 10000, True)
    """
    settings, moments, exact = data.settings, data.moments, None
    if moments is None and not partial and compresses(len(data.x), data.d + data.k):
        moments = host_moments(data.x, data.ys, weights=data.weights)
    if moments is not None:
        source = centred(moments, data.d)
        if data.variable is None:
            exact = functools.partial(moments_problem, _r_factor(moments), moments.mean,
                                      moments.weight, data.d, settings.alpha)
    else:
        source = (data.x, data.ys, data.weights)
    if exact is None and not partial and data.x is not None:
        exact = functools.partial(rows_problem, data.x, data.ys, data.weights, settings.alpha,
                                  data.variable)
    problem, shape, conditioning, scaling, params0 = fit_problem(
        source, data.d, settings, previous, scaling=scaling, pad_features=not partial)
    return Prepared(settings, problem, shape, scaling, data.single, data.d, data.k,
                    conditioning, data.moments, exact, params0)


def closed_form(moments: Moments, d: int, alpha: float, fit_intercept: bool) -> tuple[Any, Any]:
    """``(coef (d, k), intercept (k,))``: least squares (ridge for ``alpha > 0``) from ``R``.

    Minimizes ``Σ w ||y - x coef - intercept||² + alpha ||coef||²`` (the intercept unpenalized),
    as ``numpy.linalg.lstsq`` (``Ridge``) on the rows would, by an SVD of the stacked
    ``[R_x; sqrt(alpha) I]``: about ``eps`` times the condition number of the centred design.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.moments.core import moments_of
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
        moments: the rows' :class:`~dl_workshop.moments.core.Moments`.
        d: the number of features.
        coef: shape ``(d, k)``.
        intercept: shape ``(k,)``.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.moments.core import moments_of
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
