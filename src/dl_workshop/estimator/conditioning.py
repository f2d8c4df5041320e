"""The scaled design's numerical rank and condition number, and the factorization refinement uses.

Both come from one factorization of the weighted, scaled design ``A = sqrt(p) [z, 1]`` (the
column of ones only when the intercept is fitted), shape ``(n, d + 1)`` or ``(n, d)``:

- its singular values give the numerical rank (``GradientDescentRegressor.rank_``, counted as
  ``numpy.linalg.lstsq`` counts it: singular values above ``max(rows, columns) * eps`` times the
  largest) and the condition number (``condition_number_``);
- ``W`` with ``W Wᵀ = (AᵀA + D)⁺`` (``D`` the scaled ridge penalty) turns the normal residual
  ``h`` of the quadratic objective into its exact minimizer's offset ``W Wᵀ h`` (a Newton step),
  which :mod:`~dl_workshop.estimator.refine` applies with residuals computed in double-double.

The factorization is the eigendecomposition of the Gram matrix ``AᵀA`` when that is accurate (one
matrix product over the rows, as cheap as a few iterations), else a QR of ``A`` and an SVD of its
``R`` (Filip's Gram matrix has condition number 1e19, past ``1/eps``: only the QR resolves it).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

#: Smallest eigenvalue ratio of the Gram matrix trusted: its eigenvalues carry absolute errors of
#: about ``(d + 1) eps`` times the largest, so above 1e-8 the smallest is accurate to 1e-4 or
#: better for any ``d <= MAX_ANALYZED_COLUMNS``. Below it (condition number of ``A`` above 1e4)
#: the QR route is taken.
GRAM_RELIABLE = 1e-8

#: Designs with more columns are not analyzed (the factorization costs O(n d² + d³)):
#: ``rank_`` and ``condition_number_`` are ``None``, no collinearity warning, no refinement.
MAX_ANALYZED_COLUMNS = 2048

#: A column takes part in a linear dependence when its component in the numerical null space
#: (the norm of its row of the null vectors, which does not depend on their basis) exceeds this.
INVOLVED = 1e-6

#: Columns named in full in the warning; more are counted.
NAMED_COLUMNS = 10

COLLINEAR_MESSAGE = (
    "X has rank {rank} with {n_features} feature(s){samples} ({what}; condition number of the "
    "standardized design {cond}): coefficients are not unique; predictions are"
)
FEW_SAMPLES = " and only {n_rows} sample(s) of nonzero weight"


class CollinearityWarning(UserWarning):
    """``GradientDescentRegressor.fit`` on linearly dependent (or nearly so) columns.

    Issued when the standardized design is numerically rank-deficient: columns that are linear
    functions of others, constant columns next to the intercept, or fewer samples than
    parameters. The fitted predictions are still those of least squares; the coefficients are
    one of many solutions (the one of smallest norm in standardized units, from a cold start).

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> a = np.arange(6.0)
        >>> X = np.column_stack([a, 2 * a + 1])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     model = GradientDescentRegressor().fit(X, a)
        >>> caught[0].category.__name__, model.rank_
        ('CollinearityWarning', 1)
    """


class Conditioning(NamedTuple):
    """What the factorization of the scaled design found (see the module docstring).

    Attributes:
        rank: numerical rank of the features (after centring when the intercept is fitted), or
            ``None`` when the design was not analyzed.
        condition_number: largest over smallest singular value of ``A`` (``inf`` when singular),
            or ``None``.
        whiten: ``W``, shape ``(d + 1, m)``, the last row for the intercept; ``m = 0`` when the
            design was not analyzed (no refinement).
        involved: indices of the features in a linear dependence.
        constant: indices of the involved features that are constant (over the samples of
            nonzero weight).
        n_rows: the number of samples of nonzero weight.
        n_params: the number of parameters per target (features, plus one for an intercept).
        null: an orthonormal basis of the numerical null space in the scaled parameters
            ``[w; b]``, shape ``(d + 1, nullity)`` (the last row for the intercept).
        loss_noise: the objective's relative rounding noise near the minimum (set by
            :func:`analyze_design`; see :func:`loss_noise`).
    """

    rank: int | None
    condition_number: float | None
    whiten: np.ndarray
    involved: tuple[int, ...]
    constant: tuple[int, ...]
    n_rows: int
    n_params: int
    null: np.ndarray | None = None
    loss_noise: float = 0.0

    @property
    def deficient(self) -> bool:
        """Whether the coefficients are not unique (rank below the number of features)."""
        return self.rank is not None and self.rank < self.whiten.shape[0] - 1


def analyze(z: np.ndarray, weights: np.ndarray, penalty: np.ndarray, fit_intercept: bool,
            eps: float = float(np.finfo(np.float64).eps), *, n_rows: int | None = None,
            constant: np.ndarray | None = None) -> Conditioning:
    """Factorize the weighted, scaled design; its rank, condition number and ``W``.

    Args:
        z: scaled features, shape ``(n, d)``, float64.
        weights: sample weights summing to 1, shape ``(n,)``.
        penalty: the scaled L2 penalty of each coefficient, shape ``(d,)``.
        fit_intercept: whether ``A`` has the intercept's column of ones.
        eps: the machine epsilon of the fit's dtype (the rank is that of its arithmetic: a
            float32 fit resolves condition numbers up to about ``1 / (rows * 1.2e-7)`` only).
        n_rows: the number of samples of nonzero weight, when ``z``'s rows stand for other
            rows with the same moments (``None``: counted in ``weights``).
        constant: indices of the constant features, likewise (``None``: found in ``z``).

    Returns:
        A :class:`Conditioning`.

    Example:
        >>> import numpy as np
        >>> z = np.array([[-1.0, -2.0], [0.0, 0.0], [1.0, 2.0]])
        >>> c = analyze(z, np.full(3, 1 / 3), np.zeros(2), True)
        >>> c.rank, c.involved, c.whiten.shape
        (1, (0, 1), (3, 3))
    """
    n, d = z.shape
    positive = weights > 0
    counted = int(np.count_nonzero(positive))
    n_params = d + int(fit_intercept)
    if constant is None:
        seen = z if counted == n else z[positive]
        constant = np.flatnonzero(seen.max(axis=0) == seen.min(axis=0))
    n_rows = counted if n_rows is None else int(n_rows)
    if n_params > MAX_ANALYZED_COLUMNS:
        return Conditioning(None, None, np.zeros((d + 1, 0)), (), (), n_rows, n_params)
    a = np.empty((n, n_params))
    root = np.sqrt(weights)
    np.multiply(root[:, None], z, out=a[:, :d])
    if fit_intercept:
        a[:, d] = root
    pen = np.concatenate([penalty, np.zeros(n_params - d)])
    rcond = max(n_rows, n_params) * eps
    s, vt, whiten = _factor(a, pen, rcond)
    rank = int(np.count_nonzero(s > rcond * (s[0] if s.size else 0.0)))
    involved = np.flatnonzero(np.linalg.norm(vt[rank:, :d], axis=0) > INVOLVED)
    full, null = np.zeros((d + 1, d + 1)), np.zeros((d + 1, n_params - rank))
    full[:d, : whiten.shape[1]], null[:d] = whiten[:d], vt[rank:, :d].T
    if fit_intercept:
        full[d, : whiten.shape[1]], null[d] = whiten[d], vt[rank:, d]
    return Conditioning(
        rank=max(rank - int(fit_intercept), 0),
        condition_number=_condition_number(s),
        whiten=full,
        involved=tuple(int(j) for j in involved),
        constant=tuple(int(j) for j in np.intersect1d(constant, involved)),
        n_rows=n_rows,
        n_params=n_params,
        null=null,
    )


def analyze_design(problem: Any, fit_intercept: bool, eps: float, *, n_rows: int | None = None,
                   constant: np.ndarray | None = None) -> Conditioning:
    """:func:`analyze` of a scaled problem (a :class:`~dl_workshop.estimator.problem.DesignData`)
    with its loss's rounding noise (:func:`loss_noise`): the one call the problem makes here.

    Example:
        >>> import numpy as np
        >>> from dl_workshop.estimator.problem import fit_scaling, scaled_data
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> problem = scaled_data(x, ys, w, fit_scaling(x, ys, w, True, True), 0.0, True)
        >>> c = analyze_design(problem, True, 2.0**-52)
        >>> c.rank, bool(0 < c.loss_noise < 1e-13)
        (1, True)
    """
    conditioning = analyze(problem.z, problem.weights, problem.penalty, fit_intercept, eps=eps,
                           n_rows=n_rows, constant=constant)
    return conditioning._replace(loss_noise=loss_noise(problem, conditioning.whiten, eps))


def loss_noise(problem: Any, whiten: np.ndarray, eps: float) -> float:
    """The relative rounding noise of the objective near its minimum, ``σ(J̃) / (J̃ + offset)``.

    Each residual ``r_i = z_i·w + b − t_i`` is rounded with an error of variance about
    ``eps² s_i``, ``s_i = Σ_j z_ij² w_j² + b² + t_i²``; through ``J̃ = inv_k Σ_i p_i r_i²`` that
    is a standard deviation of ``2 eps inv_k sqrt(Σ_i p_i² r_i² s_i)``. Evaluated at the
    normal equations' solution ``W Wᵀ Aᵀ p t`` (one product with the factorization's ``W``),
    which is near the minimum wherever the noise matters. The engine's ``tol`` cannot resolve
    relative decreases below it (NIST Filip: 3e-8; ordinary data: below 1e-13).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.estimator.problem import fit_scaling, scaled_data
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> problem = scaled_data(x, ys, w, fit_scaling(x, ys, w, True, True), 0.0, True)
        >>> W = np.array([[1 / np.sqrt(2 / 3), 0.0], [0.0, 1.0]])
        >>> bool(0 < loss_noise(problem, W, 2.0**-52) < 1e-15)
        True
    """
    z, t, p = problem.z, problem.target, problem.weights
    b_column = np.full((len(z), 1), float(problem.intercept_mask))
    a = np.concatenate([z, b_column], axis=1)
    theta = whiten @ (whiten.T @ (a.T @ (p[:, None] * t)))
    residual = a @ theta - t
    scales = z**2 @ theta[:-1] ** 2 + theta[-1] ** 2 + t**2
    noise = 2 * eps * float(problem.inv_k) * np.sqrt(np.sum((p[:, None] * residual) ** 2 * scales))
    value = float(problem.inv_k) * np.sum(p[:, None] * residual**2) + float(problem.offset)
    return float(noise / value) if value > 0 else 0.0


def _condition_number(s: np.ndarray) -> float:
    if s.size == 0 or s[-1] <= 0:
        return float("inf")
    return float(s[0] / s[-1])


def _factor(a: np.ndarray, pen: np.ndarray, rcond: float):
    """``(s, vt, W)``: singular values of ``a`` (descending, zeros appended when it has fewer
    rows than columns), its right singular vectors (rows of ``vt``) and ``W`` for
    ``aᵀa + diag(pen)``.

    The Gram matrix's eigendecomposition when it is reliable (see ``GRAM_RELIABLE``), else the
    SVD of the R of a QR of ``a``; the penalty enters as extra rows ``sqrt(pen)`` (a QR of
    ``[R; diag(sqrt(pen))]``), so ``W`` stays accurate however ill-conditioned ``a`` is.
    """
    m = a.shape[1]
    gram = a.T @ a
    evals, evecs = np.linalg.eigh(gram)
    if evals[-1] > 0 and evals[0] >= GRAM_RELIABLE * evals[-1]:
        s, vt = np.sqrt(evals[::-1]), evecs[:, ::-1].T
        if np.any(pen > 0):
            evals, evecs = np.linalg.eigh(gram + np.diag(pen))
        return s, vt, evecs / np.sqrt(evals)
    r = np.linalg.qr(a, mode="r")
    _, s, vt = np.linalg.svd(r, full_matrices=True)
    s = np.concatenate([s, np.zeros(m - s.size)])
    if not np.any(pen > 0):
        return s, vt, _truncated_whiten(s, vt, rcond)
    r_pen = np.linalg.qr(np.vstack([r, np.diag(np.sqrt(pen))]), mode="r")
    _, s_pen, vt_pen = np.linalg.svd(r_pen, full_matrices=True)
    return s, vt, _truncated_whiten(s_pen, vt_pen, rcond)


def _truncated_whiten(s: np.ndarray, vt: np.ndarray, rcond: float) -> np.ndarray:
    """``V S⁻¹`` over the singular values above ``rcond`` times the largest (a pseudo-inverse)."""
    keep = s > rcond * (s[0] if s.size else 0.0)
    return vt[: s.size][keep].T / s[keep]


def undetermined(conditioning: Conditioning, x_offset: np.ndarray,
                 x_scale: np.ndarray) -> tuple[np.ndarray, bool]:
    """Which coefficients (in the user's units) and whether the intercept the data leave free.

    A parameter is determined when its linear functional of the scaled parameters ``[w; b]``
    (``coef_j = w_j / x_scale_j``; ``intercept = b - Σ_j x_offset_j w_j / x_scale_j``, up to
    the target's scale) is orthogonal to the null space; the test is on the relative norm of
    its projection, as for :attr:`Conditioning.involved`.

    Args:
        conditioning: a fit's :class:`Conditioning` (with ``null``).
        x_offset: the features' offsets, shape ``(d,)``.
        x_scale: the features' scales, shape ``(d,)``.

    Returns:
        ``(mask of shape (d,), intercept)``: ``True`` where the data do not determine it.

    Example:
        >>> import numpy as np
        >>> z = np.array([[-1.0, -2.0], [0.0, 0.0], [1.0, 2.0]])  # a, 2a, centred
        >>> c = analyze(z, np.full(3, 1 / 3), np.zeros(2), True)
        >>> mask, intercept = undetermined(c, np.array([1.0, 3.0]), np.ones(2))
        >>> mask.tolist(), intercept
        ([True, True], True)
    """
    d = len(x_scale)
    null = conditioning.null if conditioning.null is not None else np.zeros((d + 1, 0))
    mask = np.linalg.norm(null[:d], axis=1) > INVOLVED
    functional = np.concatenate([-np.asarray(x_offset) / x_scale, [1.0]])
    if null.shape[1] == 0:
        return mask, False
    projection = np.linalg.norm(functional @ null) / np.linalg.norm(functional)
    return mask, bool(projection > INVOLVED)


def undetermined_parameters(model) -> tuple[np.ndarray, bool]:
    """:func:`undetermined` for a fitted ``GradientDescentRegressor`` (``fit``, not
    ``partial_fit``): which of its ``coef_`` columns, and whether its ``intercept_``, are not
    unique (none with ``alpha > 0``: the penalty makes the solution unique).

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> a = np.arange(6.0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     model = GradientDescentRegressor().fit(np.column_stack([a, 2 * a + 1, a**2]), a)
        >>> mask, intercept = undetermined_parameters(model)
        >>> mask.tolist(), intercept
        ([True, True, False], True)
    """
    mask, intercept = model._free  # set by fit from undetermined()
    if model.alpha > 0:  # the penalty picks one solution
        return np.zeros_like(mask), False
    return mask, intercept and model.fit_intercept


def warn_if_collinear(conditioning: Conditioning, names: list[str] | None, *,
                      penalized: bool = False) -> None:
    """A :class:`CollinearityWarning` when the coefficients are not unique (rank-deficient).

    Args:
        conditioning: the fit's :class:`Conditioning`.
        names: the feature names (``feature_names_in_``), or ``None`` for column indices.
        penalized: an L2 penalty (``alpha > 0``) makes the coefficients unique: no warning.

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> z = np.array([[-1.0, -2.0], [0.0, 0.0], [1.0, 2.0]])
        >>> c = analyze(z, np.full(3, 1 / 3), np.zeros(2), True)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_if_collinear(c, ["a", "b"])
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        X has rank 1 with 2 feature(s) (columns 'a' and 'b' are linearly dependent; ...
    """
    c = conditioning
    if penalized or not c.deficient:
        return
    n_features = c.whiten.shape[0] - 1
    samples = FEW_SAMPLES.format(n_rows=c.n_rows) if c.n_rows < c.n_params else ""
    warnings.warn(
        COLLINEAR_MESSAGE.format(rank=c.rank, n_features=n_features, samples=samples,
                                 what=describe(c, names), cond=_cond_text(c.condition_number)),
        CollinearityWarning,
        stacklevel=3,
    )


def _cond_text(cond: float) -> str:
    return f"{cond:.3g}" if np.isfinite(cond) else "infinite"


def describe(conditioning: Conditioning, names: list[str] | None) -> str:
    """Which columns are constant and which are linearly dependent, in words.

    Example:
        >>> import numpy as np
        >>> c = Conditioning(1, 1e16, np.zeros((4, 4)), (0, 1, 2), (2,), 5, 4)
        >>> describe(c, ["a", "b", "c"])
        "column 'c' is constant; columns 'a' and 'b' are linearly dependent"
        >>> describe(c, None)
        'column 2 is constant; columns 0 and 1 are linearly dependent'
    """
    label = (lambda j: repr(str(names[j]))) if names is not None else str
    constant = [j for j in conditioning.constant if j in conditioning.involved]
    dependent = [j for j in conditioning.involved if j not in constant]
    parts = []
    if constant:
        parts.append(_listing(constant, label) + (" is" if len(constant) == 1 else " are")
                     + " constant")
    if dependent:
        parts.append(_listing(dependent, label) + (" is" if len(dependent) == 1 else " are")
                     + " linearly dependent")
    return "; ".join(parts) if parts else "the columns are linearly dependent"


def _listing(columns: list[int], label) -> str:
    """``column 'a'``, ``columns 'a' and 'b'``, ``columns 0, 1, ... and 5 more``."""
    shown = [label(j) for j in columns[:NAMED_COLUMNS]]
    more = len(columns) - len(shown)
    if len(shown) == 1:
        return f"column {shown[0]}"
    if more > 0:
        return f"columns {', '.join(shown)} and {more} more"
    return f"columns {', '.join(shown[:-1])} and {shown[-1]}"
