"""Iterative refinement: the fitted coefficients corrected to the float64 nearest the exact
least-squares (or ridge) solution, and an estimate of how many of their digits are correct.

Whatever the optimizer, its answer carries the error of float64 arithmetic on the scaled
problem: about ``eps · κ`` (``κ`` the condition number of the standardized design) and more on
hard data (NIST Filip: ``κ = 3.8e9``, 7 digits), plus the rounding of mapping the scaled
solution back to the user's units. Refinement removes both (Wilkinson; for least squares
Björck 1967, here on the normal equations with the factorization as preconditioner):

1. the normal residual ``g = Xᵀ W (y − X coef − intercept) − alpha coef`` (and its intercept
   part ``Σ w r``) is computed from the user's own data in double-double arithmetic
   (:mod:`~dl_workshop.estimator.extended`, about 32 digits), so its terms, which cancel almost
   exactly near the solution, leave no rounding of their own;
2. the correction solves the normal equations with the factorization the fit already has
   (``W Wᵀ = (AᵀA + D)⁺`` of the standardized design, :mod:`~.conditioning`: an SVD of the R
   of a QR where the Gram matrix is ill-conditioned) in the scaled variables, and is mapped to
   the user's units; its relative error is about ``eps · κ``, so each step multiplies the
   error by that much (1e-6 on Filip);
3. steps repeat until the correction no longer changes the float64 coefficients (at most
   ``MAX_STEPS``), or stops shrinking.

The last correction, computed at the returned point, is the error estimate: near the solution
it equals minus the remaining error to a relative ``eps · κ``. :attr:`Refined.accuracy`, the
estimator's ``accuracy_``, is the least number of correct significant digits over the
coefficients and intercepts, ``min_j −log10((|δ_j| + u |θ_j|) / |θ_j|)`` (``u = 2^-53``, the
rounding of the result itself: at most 15.65 for a correctly rounded answer).

On the moments path (more than 4 096 rows in memory, or Dask data) the rows are gone: the
problem is the data's R factor (:mod:`~dl_workshop.moments.core`) and means, rounded to
float64 (backward error ``eps`` relative). Refinement there solves the least-squares problem of
those moments exactly, as a Householder QR of all rows would to ``eps · κ``; the answer's
accuracy is limited by the moments themselves to about ``eps · κ`` (plus ``eps · κ²`` times the
relative residual), which :func:`moments_accuracy` adds to the estimate.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from dl_workshop.estimator.extended import design, powers, residual_products

#: The most refinement steps (LAPACK's refinement routines stop after five; one or two
#: suffice where ``eps · κ`` is small, three or four on NIST Filip).
MAX_STEPS = 8

#: A correction this many times larger than the smallest so far ends the refinement (it
#: diverges: ``eps · κ`` is too large). At the rounding floor the corrections' size fluctuates
#: by a factor of a few while the coefficients still improve, so a mere lack of shrinking does
#: not stop it; a correction below the coefficients' rounding does (see :func:`refine`).
DIVERGED = 100.0

#: Below this many correct digits, ``fit`` warns (:class:`AccuracyWarning`).
LOW_ACCURACY = 6.0

#: The rounding of a float64 result, ``2^-53``.
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2

LOW_ACCURACY_MESSAGE = (
    "GradientDescentRegressor: the coefficients have about {digits:.1f} correct significant "
    "digits (accuracy_; condition number of the standardized design {cond}): the data are too "
    "ill-conditioned for float64 to resolve them better"
)


class AccuracyWarning(UserWarning):
    """A float64 fit whose estimated correct digits (``accuracy_``) are below ``LOW_ACCURACY``.

    Example:
        >>> issubclass(AccuracyWarning, UserWarning)
        True
    """


class LeastSquares(NamedTuple):
    """The exact problem in the user's units: minimize ``Σ_i w_i ||y_i − x_i coef − o_i b||² +
    alpha ||coef||²`` (``o`` the intercept's column).

    Attributes:
        x: shape ``(n, d)``.
        y: shape ``(n, k)``.
        weights: shape ``(n,)``, non-negative.
        ones: the intercept's column, shape ``(n,)``: ones for rows of data, zeros for the rows
            of an R factor (whose centred rows carry no intercept).
        alpha: the L2 penalty.
        from_moments: whether the rows are the data's moments (R and means) rather than the
            data (their accuracy is then bounded, see :func:`moments_accuracy`).
        powers_of: shape ``(n,)``, the variable ``v`` when the design is its powers
            ``v^1 … v^d`` (``degree=d``): ``x`` holds them rounded to float64, the refinement
            evaluates them exactly (double-double, :func:`~.extended.powers`), and only the
            rounding of ``v`` itself counts as the data's (:func:`data_error`).
    """

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    ones: np.ndarray
    alpha: float
    from_moments: bool = False
    powers_of: np.ndarray | None = None


class Refined(NamedTuple):
    """What :func:`refine` returns.

    Attributes:
        coef: shape ``(d, k)``, in the user's units.
        intercept: shape ``(k,)``.
        steps: the corrections applied.
        accuracy: estimated correct significant digits (least over all parameters).
    """

    coef: np.ndarray
    intercept: np.ndarray
    steps: int
    accuracy: float


def rows_problem(x: np.ndarray, ys: np.ndarray, weights: np.ndarray, alpha: float,
                 powers_of: np.ndarray | None = None) -> LeastSquares:
    """The :class:`LeastSquares` of rows of data in memory (float64, as validated); with
    ``powers_of``, ``x`` is that variable's powers (see :class:`LeastSquares`).

    Example:
        >>> rows_problem(np.zeros((3, 2)), np.zeros((3, 1)), np.ones(3), 0.0).ones.tolist()
        [1.0, 1.0, 1.0]
    """
    return LeastSquares(x, ys, weights, np.ones(len(x)), float(alpha), powers_of=powers_of)


def moments_problem(r: np.ndarray, mean: np.ndarray, weight: float, d: int,
                    alpha: float) -> LeastSquares:
    """The :class:`LeastSquares` of data given by moments: ``Σ w (z − z̄)(z − z̄)ᵀ = RᵀR`` for
    ``z = [x, y]``, weighted means ``z̄`` and total weight ``W``.

    Its normal equations are the data's: the rows of ``R`` (weight 1, no intercept) carry the
    centred cross-products, one row ``z̄`` of weight ``W`` (with the intercept) the rest.

    Example:
        >>> from dl_workshop.moments.core import moments_of
        >>> m = moments_of(np.arange(4.0), 2 * np.arange(4.0) + 1)
        >>> problem = moments_problem(m.r, m.mean, m.weight, 1, 0.0)
        >>> problem.x.shape, problem.weights.tolist(), problem.ones.tolist()
        ((3, 1), [1.0, 1.0, 4.0], [0.0, 0.0, 1.0])
    """
    rows = np.vstack([r, mean[None, :]])
    weights = np.concatenate([np.ones(len(r)), [weight]])
    ones = np.concatenate([np.zeros(len(r)), [1.0]])
    return LeastSquares(rows[:, :d], rows[:, d:], weights, ones, float(alpha), True)


def refine(
    coef: np.ndarray, intercept: np.ndarray, problem: LeastSquares, scaling: Any,
    whiten: np.ndarray, fit_intercept: bool, *, max_steps: int = MAX_STEPS,
    contraction: float = 1.0,
) -> Refined:
    """Refine ``(coef, intercept)`` on ``problem`` (see the module docstring).

    Args:
        coef: the fit's coefficients, shape ``(d, k)``, user's units.
        intercept: shape ``(k,)`` (zeros without an intercept).
        problem: the exact problem (:func:`rows_problem` or :func:`moments_problem`).
        scaling: the fit's :class:`~dl_workshop.estimator.problem.Scaling`.
        whiten: ``W`` of the standardized design, shape ``(d + 1, m)``, the intercept's row
            last (:class:`~dl_workshop.estimator.conditioning.Conditioning`).
        fit_intercept: whether the intercept is fitted (else it stays zero).
        max_steps: the most corrections; ``0`` estimates the accuracy only.
        contraction: a bound on the factor by which a step shrinks the error
            (:func:`contraction`); where it makes the next correction negligible, that
            correction is not computed (a residual pass saved on well-conditioned data).

    Returns:
        A :class:`Refined`.

    Example:
        >>> from dl_workshop.estimator.conditioning import analyze
        >>> from dl_workshop.estimator.problem import fit_scaling, scaled_data
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> s = fit_scaling(x, ys, w, True, True)
        >>> scaled = scaled_data(x, ys, w, s, 0.0, True)
        >>> c = analyze(scaled.z, scaled.weights, scaled.penalty, True)
        >>> out = refine(np.array([[1.4]]), np.array([1.1]), rows_problem(x, ys, w, 0.0), s,
        ...              c.whiten, True)
        >>> out.coef.tolist(), out.intercept.tolist(), out.accuracy > 15  # 1.5 x + 7/6
        ([[1.5]], [1.1666666666666667], True)
    """
    coef = np.array(coef, dtype=np.float64)
    intercept = np.array(intercept, dtype=np.float64) if fit_intercept else np.zeros(coef.shape[1])
    x_lo = None if problem.powers_of is None else powers(problem.powers_of, problem.x.shape[1])[1]
    parts = design(problem.x, scaling.x_offset, problem.ones, x_lo)
    total = _total(problem)
    step = _correction(coef, intercept, problem, parts, total, scaling, whiten, fit_intercept)
    best, steps, tail = step[2], 0, []
    while steps < max_steps and math.isfinite(step[2]) and not _negligible(coef, intercept, step):
        new_coef, new_intercept = coef + step[0], intercept + step[1]
        bound = (contraction * np.abs(step[0]), contraction * np.abs(step[1]), 0.0)
        if _negligible(new_coef, new_intercept, bound):  # the next one is below rounding
            coef, intercept, step, steps = new_coef, new_intercept, bound, steps + 1
            break
        new_step = _correction(new_coef, new_intercept, problem, parts, total, scaling, whiten,
                               fit_intercept)
        if not new_step[2] <= DIVERGED * best:  # growing (or not finite): keep the last point
            break
        coef, intercept, step, steps = new_coef, new_intercept, new_step, steps + 1
        best = min(best, step[2])
        tail.append(step)
    if len(tail) >= NOISE_FLOOR_STEPS and step[2] > best:
        step = _typical(tail[-NOISE_FLOOR_STEPS:])
    spread = data_error(coef, intercept, problem, scaling, whiten, fit_intercept)
    accuracy = _digits(coef, intercept if fit_intercept else None, step, spread, scaling)
    return Refined(coef, intercept, steps, accuracy)


#: Corrections that stopped shrinking: the last this many are rounding noise, and the error of
#: the point they correct is about their typical (median) size, not the last one's.
NOISE_FLOOR_STEPS = 3


def _typical(steps: list) -> tuple:
    """The elementwise median size of the corrections ``steps`` (at the noise floor)."""
    return (np.median([np.abs(s[0]) for s in steps], axis=0),
            np.median([np.abs(np.asarray(s[1])) for s in steps], axis=0),
            float(np.median([s[2] for s in steps])))


def contraction(condition_number: float | None, n_params: int) -> float:
    """A bound on how much one refinement step shrinks the error: ``n_params · κ² · eps``, the
    relative error of ``W Wᵀ`` when it comes from the Gram matrix (:mod:`~.conditioning`; the
    QR route does better), capped at 1 (no bound).

    Example:
        >>> contraction(30.0, 11) < 1e-11, contraction(4e9, 12)
        (True, 1.0)
    """
    if condition_number is None or not np.isfinite(condition_number):
        return 1.0
    return float(min(1.0, n_params * condition_number**2 * np.finfo(np.float64).eps))


def _newton(g_coef, g_b, scaling, whiten, fit_intercept):
    """The Newton step ``(δcoef, δintercept, Wᵀ h)`` for the centred normal residual
    ``(g_coef (d, m), g_b (m,))`` (per unit weight), for each of its ``m`` columns
    (``||Wᵀ h||`` is the step's size in the scaled problem's energy norm)."""
    # The scaled variables' normal residual: coef = w y_scale / x_scale, and
    # intercept = y_offset + y_scale b - x_offset · coef.
    x_scale, y_scale = scaling.x_scale[:, None], scaling.y_scale
    h = np.concatenate([g_coef / (x_scale * y_scale), g_b[None, :] / y_scale])
    whitened = whiten.T @ h
    delta = whiten @ whitened
    d_coef = delta[:-1] * y_scale / x_scale
    d_b = y_scale * delta[-1] - scaling.x_offset @ d_coef if fit_intercept else 0.0 * g_b
    return d_coef, d_b, whitened


def _correction(coef, intercept, problem: LeastSquares, parts, total, scaling, whiten,
                fit_intercept):
    """``(δcoef, δintercept, size)``: one Newton step from the exact normal residual (``total``
    the weight of the rows with an intercept), and its size in the scaled problem's energy
    norm (``||Wᵀ h||``, the square root of the distance to the minimum in loss: what each step
    shrinks by about ``eps · κ``)."""
    g_coef, g_b = residual_products(parts, problem.y, problem.weights, problem.ones, coef,
                                    intercept)
    g_coef = (g_coef - problem.alpha * coef) / total
    g_b = g_b / total if fit_intercept else np.zeros_like(g_b)
    d_coef, d_b, whitened = _newton(g_coef, g_b, scaling, whiten, fit_intercept)
    return d_coef, d_b, float(np.sqrt(np.add.reduce(whitened.ravel() ** 2)))


def _total(problem: LeastSquares) -> float:
    """The weight of the rows with an intercept (the data's rows, not an R factor's)."""
    return float(np.add.reduce(problem.weights[problem.ones != 0]))


def _negligible(coef, intercept, step) -> bool:
    """Whether the correction changes no float64 coefficient (it is below their rounding)."""
    return bool((coef + step[0] == coef).all() and (intercept + step[1] == intercept).all())


def _digits(coef: np.ndarray, intercept: np.ndarray | None, step, spread, scaling) -> float:
    """Least correct significant digits: ``−log10((|δ| + u|θ| + m·spread) / |θ + δ|)`` over the
    parameters (``θ + δ``: about the exact value, however far ``θ`` is; ``m·spread``: the median
    size of the input rounding's effect, ``MEDIAN_ABS_NORMAL`` times its standard deviation);
    one below
    ``NEGLIGIBLE`` times its natural scale (``y_scale / x_scale_j``, ``y_scale`` for the
    intercept) is measured against that instead."""
    theta = coef if intercept is None else np.vstack([coef, intercept[None, :]])
    delta = step[0] if intercept is None else np.vstack([step[0], np.asarray(step[1])[None, :]])
    corrected = np.abs(theta + delta)
    if spread is not None:
        delta = np.abs(delta) + MEDIAN_ABS_NORMAL * (spread[:-1] if intercept is None else spread)
    natural = scaling.y_scale / scaling.x_scale
    if intercept is not None:
        natural = np.concatenate([natural, [scaling.y_scale]])
    magnitude = np.abs(theta)
    scale = np.maximum(corrected, NEGLIGIBLE * natural[:, None])
    error = np.abs(delta) + UNIT_ROUNDOFF * magnitude
    with np.errstate(divide="ignore", invalid="ignore"):
        worst = float((error / scale).max())  # NaN if any is
    return -math.log10(max(worst, UNIT_ROUNDOFF)) if math.isfinite(worst) else 0.0


#: The median of ``|N(0, 1)|``: the input rounding's effect on a parameter is a sum of many
#: small independent terms, about normal with the standard deviation ``data_error`` gives;
#: ``accuracy_`` counts its median size (its standard deviation would under-count by 0.17 digit
#: on average).
MEDIAN_ABS_NORMAL = 0.6745

#: A parameter smaller than this fraction of its natural scale contributes nothing measurable
#: to the predictions; its digits are counted against that scale (see ``_digits``).
NEGLIGIBLE = 1e-6


#: The error of an R factor's columns, in units of ``u`` times their norms (a QR's backward
#: error, with the centring and combining of blocks; see :func:`_entry_variances`).
MOMENTS_ERROR = 1.0

#: The input's rounding is propagated (:func:`data_error`) for problems of at most this many
#: ``rows · (d + 1)²`` (its cost); larger ones are bounded by ``eps · κ``.
DATA_ERROR_SIZE = 1 << 25


#: Veltkamp's splitting constant for 40-bit leading parts, ``2^13 + 1`` (see :func:`_rounded`).
_SPLIT_40 = 8193.0


def _rounded(values: np.ndarray) -> np.ndarray:
    """1.0 where a value uses all 53 bits of float64 (it was most likely rounded, like 0.1 or a
    computed power), 0.0 where it has at most 40 (integers, short binary fractions: exact)."""
    # Veltkamp's split rounds a value to its leading 53 - 13 = 40 bits (Boldo 2006): it is
    # unchanged exactly when it has no more. (Three products and sums, not frexp and fmod.)
    c = _SPLIT_40 * values
    return ((c - (c - values)) != values).astype(np.float64)


def data_error(coef: np.ndarray, intercept: np.ndarray, problem: LeastSquares, scaling: Any,
               whiten: np.ndarray, fit_intercept: bool) -> np.ndarray | None:
    """Standard deviation of the solution's change when every rounded input value moves by its
    rounding (uniform within half a unit in its last place), to first order; shape
    ``(d + 1, k)`` (the intercept's row last), ``None`` for problems above
    ``DATA_ERROR_SIZE``.

    The exact solution of float64 data is not the solution of the data they were rounded from:
    NIST Filip's design of powers ``x^j``, each rounded to float64, determines its coefficients
    to 7.6 digits only (exact rational arithmetic on it gives 7.61). Values with a short binary
    mantissa (integers) count as exact.
    """
    n, d = problem.x.shape
    if n * (d + 1) ** 2 > DATA_ERROR_SIZE:
        return None
    w = problem.weights / _total(problem)
    centred = problem.x - problem.ones[:, None] * scaling.x_offset
    # One solve for both: a unit change of each residual (n columns: influence) and of each
    # g_coef_j (d columns: unit).
    rows_c, rows_b, _ = _newton(np.concatenate([(centred * w[:, None]).T, np.eye(d)], axis=1),
                                np.concatenate([w * problem.ones, np.zeros(d)]), scaling, whiten,
                                fit_intercept)
    both = np.concatenate([rows_c, rows_b[None, :]])  # (d + 1, n + d)
    influence, unit = both[:, :n], both[:, n:]
    x_part, y_part = _entry_variances(problem)
    residual = problem.y - problem.x @ coef - problem.ones[:, None] * intercept
    if problem.powers_of is not None:
        return np.sqrt(influence**2 @ y_part + _variable_error(
            problem.powers_of, coef, w[:, None] * residual, influence, unit))
    # Each residual's variance: from y, and from x through coef.
    variance = influence**2 @ (y_part + x_part @ coef**2)
    variance = variance + unit**2 @ (x_part.T @ (w[:, None] * residual) ** 2)
    return np.sqrt(variance)


def _variable_error(v: np.ndarray, coef: np.ndarray, weighted_residual: np.ndarray,
                    influence: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The variance :func:`data_error` adds for a design of powers ``v^j`` when each rounded
    ``v_i`` moves by its rounding: the row's columns move together (by ``j v_i^(j−1) δv_i``),
    through the residual (``−p'(v_i) δv_i``) and through ``Xᵀ W r``; shape ``(d + 1, k)``."""
    d = coef.shape[0]
    exponents = np.arange(d)
    slope = (exponents + 1) * v[:, None] ** exponents  # (n, d): ∂x_ij / ∂v_i (0.0**0 is 1)
    shift = -influence[:, :, None] * (slope @ coef)[None] + (unit @ slope.T)[:, :, None] * (
        weighted_residual[None])  # (d + 1, n, k): the solution's change per unit δv_i
    variable = _rounded(v) * np.spacing(v) ** 2 / 12
    return np.einsum("pnk,n->pk", shift**2, variable)


def _entry_variances(problem: LeastSquares) -> tuple[np.ndarray, np.ndarray]:
    """Each input value's rounding variance: ``spacing(v)² / 12`` (uniform within half a unit
    in the last place) for a rounded value of the data, 0 for an exact one; for the rows of an
    R factor, whose error is that of a QR (columnwise, about ``u`` times the column's norm),
    ``(MOMENTS_ERROR u)²`` times the column's squared norm, shared evenly over its rows."""
    x_part = _rounded(problem.x) * np.spacing(problem.x) ** 2 / 12
    y_part = _rounded(problem.y) * np.spacing(problem.y) ** 2 / 12
    if problem.from_moments:
        r_rows = problem.ones == 0
        share = (MOMENTS_ERROR * UNIT_ROUNDOFF) ** 2 / max(int(np.count_nonzero(r_rows)), 1)
        x_part[r_rows] = share * np.sum(problem.x[r_rows] ** 2, axis=0)
        y_part[r_rows] = share * np.sum(problem.y[r_rows] ** 2, axis=0)
    return x_part, y_part


def moments_accuracy(condition_number: float | None) -> float:
    """Digits that moments rounded to float64 can determine: ``−log10(eps · κ)``.

    Example:
        >>> round(moments_accuracy(1e3), 2)
        12.65
    """
    if condition_number is None or not np.isfinite(condition_number):
        return 0.0
    return float(-np.log10(np.finfo(np.float64).eps * max(condition_number, 1.0)))


def warn_if_inaccurate(accuracy: float | None, condition_number: float | None) -> None:
    """An :class:`AccuracyWarning` when ``accuracy`` is below ``LOW_ACCURACY`` digits.

    Example:
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_if_inaccurate(4.2, 3e12)
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        GradientDescentRegressor: the coefficients have about 4.2 correct significant digits ...
    """
    if accuracy is None or accuracy >= LOW_ACCURACY:
        return
    cond = f"{condition_number:.3g}" if condition_number is not None else "unknown"
    warnings.warn(LOW_ACCURACY_MESSAGE.format(digits=accuracy, cond=cond), AccuracyWarning,
                  stacklevel=3)
