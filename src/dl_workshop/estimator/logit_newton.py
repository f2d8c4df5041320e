"""Damped Newton steps on the classifier's objective, from sums over blocks of rows.

One evaluation, :func:`block_sums`, reads a block of rows once and returns the weighted logistic
loss, its gradient and its Hessian there (``m k × m k`` for ``m`` coefficients per logit and
``k`` logits): sums, so that blocks combine by addition (:func:`add_sums`) in memory, or on the
workers that hold the blocks of Dask data (:mod:`~dl_workshop.estimator.logit_dask`).
:func:`damped_newton` then takes Newton steps ``θ ← θ - t H⁻¹ g`` on the client, the step length
``t`` halved until the loss decreases enough (Armijo); every trial point is one evaluation, which
also brings the gradient and Hessian for the next step, so an accepted step costs one pass over
the data. Newton's method converges quadratically near the optimum: once the Newton decrement
``gᵀH⁻¹g / 2`` (the predicted decrease, about ``J - J*``) is below ``rtol · J``, one last full
step is taken without evaluating it (the loss could not resolve its decrease, and the
coefficients' error falls from about the square root of the decrement to rounding) and the fit
stops; with ``extrapolate`` it stops one evaluation sooner, when the decrements of the last full
steps (``r₊ ≈ c r²``) predict that the next full step leaves one below rounding.
:func:`prior_sums` gives the sums at a point where only the intercepts are nonzero from each
class's Gram matrix, without reading the rows again.

The loss here is NumPy's, in float64, of the same definition as the chapter's
:func:`~dl_workshop.lesson.logistic.logistic_loss` (``softplus(z) - y z`` from the logits; a test
checks
that they agree); the penalty and the weights are the objective's of
:mod:`~dl_workshop.estimator.logit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.special import expit, log_softmax, softmax

#: Armijo's sufficient-decrease fraction and the most step halvings per Newton step.
ARMIJO = 1e-4
MAX_HALVINGS = 30

#: Stop when the Newton decrement falls below this fraction of the loss (then ``J - J*`` is
#: rounding noise: the step before made it quadratically small).
NEWTON_RTOL = 1e-13

#: With ``extrapolate``: stop, after one last full step that is not evaluated, when the relative
#: Newton decrement it would leave, ``c r²`` (``r`` the present one, ``c = r / r₋₁²`` measured
#: over the last full step), times :data:`PREDICTION_SAFETY`, is below :data:`PREDICTED_RTOL`
#: (then the coefficients' error, about its square root, is ~1e-9 of their size).
PREDICTED_RTOL = 1e-18
PREDICTION_SAFETY = 10.0


class LogitSums(NamedTuple):
    """Sums over rows at one point ``coef`` (shape ``(m, k)``: ``m`` rows of features, the
    intercept's last when fitted, ``k`` logits).

    Attributes:
        loss: ``Σ s_i ℓ_i``.
        grad: ``Σ s_i x̃_i (p_i - y_i)ᵀ``, shape ``(m, k)``.
        hess: the Hessian of ``Σ s_i ℓ_i``, shape ``(m k, m k)`` (``coef.ravel()``'s order),
            or ``None`` when not asked for.
        weight: ``Σ s_i``.
        errors: the rows of positive weight not classified correctly with a positive margin
            (0: the classes are separated at ``coef``).
    """

    loss: float
    grad: np.ndarray
    hess: np.ndarray | None
    weight: float
    errors: int


def _logits(x: np.ndarray, coef: np.ndarray, intercept: bool) -> np.ndarray:
    m = coef.shape[0]
    z = x @ coef[: m - 1] + coef[m - 1] if intercept else x @ coef
    return z


def _features(x: np.ndarray, intercept: bool) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))]) if intercept else x


def block_sums(x: np.ndarray, codes: np.ndarray, weights: np.ndarray, coef: np.ndarray, *,
               intercept: bool, hessian: bool = True) -> LogitSums:
    """The :class:`LogitSums` of one block of rows at ``coef``.

    Args:
        x: features, shape ``(n, d)`` (``m = d + 1`` with the intercept, else ``d``).
        codes: class indices ``0..K-1``, shape ``(n,)``; ``k = 1`` logit for ``K = 2``.
        weights: sample weights (times class weights), shape ``(n,)``.
        coef: shape ``(m, k)``.
        intercept: whether ``coef``'s last row is the intercept.
        hessian: compute the Hessian too.

    Example:
        >>> x, codes = np.array([[1.0], [-1.0]]), np.array([1, 0])
        >>> s = block_sums(x, codes, np.ones(2), np.zeros((2, 1)), intercept=True)
        >>> round(s.loss, 6), s.grad.ravel().tolist(), s.hess.tolist()
        (1.386294, [-1.0, 0.0], [[0.5, 0.0], [0.0, 0.5]])
    """
    x = np.asarray(x, np.float64)
    weights = np.asarray(weights, np.float64)
    z = _logits(x, coef, intercept)
    xt = _features(x, intercept)
    if coef.shape[1] == 1:
        y = codes.astype(np.float64)
        zz = z[:, 0]
        loss = float(weights @ (np.logaddexp(0.0, zz) - y * zz))
        p = expit(zz)
        grad = xt.T @ (weights * (p - y))[:, None]
        hess = (xt * (weights * p * (1 - p))[:, None]).T @ xt if hessian else None
        wrong = (2 * y - 1) * zz <= 0
    else:
        rows = np.arange(len(codes))
        log_p = log_softmax(z, axis=1)
        loss = float(-(weights @ log_p[rows, codes]))
        p = softmax(z, axis=1)
        residual = p.copy()
        residual[rows, codes] -= 1.0
        grad = xt.T @ (weights[:, None] * residual)
        hess = _softmax_hessian(xt, p, weights) if hessian else None
        others = z.copy()
        others[rows, codes] = -np.inf
        wrong = z[rows, codes] <= others.max(axis=1)
    errors = int(np.count_nonzero(wrong & (weights > 0)))
    return LogitSums(loss, grad, hess, float(weights.sum()), errors)


def _softmax_hessian(xt: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Σ s_i (diag(p_i) - p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ`` in ``coef.ravel()``'s order (index
    ``j k + c`` for feature ``j`` and class ``c``)."""
    n, m = xt.shape
    k = p.shape[1]
    g = (np.sqrt(weights)[:, None, None] * xt[:, :, None] * p[:, None, :]).reshape(n, m * k)
    hess = -(g.T @ g)
    for c in range(k):
        hess[c::k, c::k] += (xt * (weights * p[:, c])[:, None]).T @ xt
    return hess


def add_sums(a: LogitSums, b: LogitSums) -> LogitSums:
    """Two blocks' sums combined (the reduction of :func:`block_sums`)."""
    hess = None if a.hess is None or b.hess is None else a.hess + b.hess
    return LogitSums(a.loss + b.loss, a.grad + b.grad, hess, a.weight + b.weight,
                     a.errors + b.errors)


def prior_sums(grams: np.ndarray, coef: np.ndarray, *, intercept: bool) -> LogitSums:
    """The :class:`LogitSums` at a point whose feature rows are zero (every row's logits are
    the intercepts, so each row's probabilities are the same), from each class's weighted Gram
    matrix: no pass over the rows.

    Args:
        grams: shape ``(K, d + 1, d + 1)``; ``grams[c] = Σ s_i x̂_i x̂_iᵀ`` over the rows of class
            ``c``, ``x̂ = (x, 1)`` (so ``grams[c][d, d]`` is the class's weight).
        coef: shape ``(m, k)``, its first ``d`` rows zero.
        intercept: whether ``coef``'s last row is the intercept.

    ``errors`` counts the classes (not rows) of positive weight classified wrongly: 0 exactly
    when :func:`block_sums` of the rows would give 0.

    Example:
        >>> x, codes, w = np.array([[1.0], [-1.0], [3.0]]), np.array([1, 0, 1]), np.ones(3)
        >>> xh = np.hstack([x, np.ones((3, 1))])
        >>> grams = np.stack([(xh[codes == c] * w[codes == c, None]).T @ xh[codes == c]
        ...                   for c in (0, 1)])
        >>> coef = np.array([[0.0], [0.5]])
        >>> a = prior_sums(grams, coef, intercept=True)
        >>> b = block_sums(x, codes, w, coef, intercept=True)
        >>> bool(np.isclose(a.loss, b.loss) and np.allclose(a.hess, b.hess))
        True
    """
    d = grams.shape[1] - 1
    if np.any(coef[:d]):
        raise ValueError("prior_sums needs coefficients that are zero but the intercepts")
    weights = grams[:, d, d]
    means = grams[:, :d, d] / np.where(weights > 0, weights, 1.0)[:, None]
    sums = block_sums(means, np.arange(len(grams)), weights, coef, intercept=intercept,
                      hessian=False)
    z = coef[d] if intercept else np.zeros(coef.shape[1])
    if len(z) == 1:
        p = float(expit(z[0]))
        curvature = np.array([[p * (1 - p)]])
    else:
        p = softmax(z)
        curvature = np.diag(p) - np.outer(p, p)
    gram = grams.sum(axis=0) if intercept else grams.sum(axis=0)[:d, :d]
    return sums._replace(hess=np.kron(gram, curvature))


def discriminant_start(grams: np.ndarray, *, intercept: bool) -> np.ndarray:
    """Linear discriminant analysis's logits (the classes' weighted means and pooled
    within-class covariance, from the Gram matrices of :func:`prior_sums`), shape ``(m, k)``: a
    starting point that is often far closer to the logistic optimum than the class priors.

    Example:
        >>> x, codes = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
        >>> xh = np.hstack([x, np.ones((4, 1))])
        >>> grams = np.stack([xh[codes == c].T @ xh[codes == c] for c in (0, 1)])
        >>> discriminant_start(grams, intercept=True).ravel().tolist()
        [8.0, -12.0]
    """
    d = grams.shape[1] - 1
    weights = grams[:, d, d]
    means = grams[:, :d, d] / np.where(weights > 0, weights, 1.0)[:, None]
    within = (grams[:, :d, :d].sum(axis=0) - (means.T * weights) @ means) / weights.sum()
    solved = np.linalg.lstsq(within, means.T, rcond=None)[0]
    logs = np.log(np.maximum(weights / weights.sum(), np.finfo(np.float64).tiny))
    logits = np.vstack([solved, logs - 0.5 * np.sum(means.T * solved, axis=0)])
    if len(grams) == 2:
        logits = logits[:, 1:] - logits[:, :1]
    return logits if intercept else logits[:d]


def in_memory_sums(x: np.ndarray, codes: np.ndarray, weights: np.ndarray, coef: np.ndarray, *,
                   intercept: bool, hessian: bool = True, rows: int = 8192) -> LogitSums:
    """:func:`block_sums` over data in memory, ``rows`` rows at a time (bounded memory)."""
    total = None
    for start in range(0, max(len(x), 1), rows):
        part = slice(start, start + rows)
        sums = block_sums(x[part], codes[part], weights[part], coef, intercept=intercept,
                          hessian=hessian)
        total = sums if total is None else add_sums(total, sums)
    return total


def objective_parts(sums: LogitSums, coef: np.ndarray, penalty: np.ndarray, *,
                    intercept: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
    """``(J, ∇J (m, k), ∇²J)`` of ``J = Σ s ℓ / W + Σ_j penalty_j ||coef_j||²`` (the
    intercept's row unpenalized)."""
    full = np.concatenate([penalty, [0.0]]) if intercept else np.asarray(penalty)
    value = sums.loss / sums.weight + float(np.sum(full[:, None] * coef**2))
    grad = sums.grad / sums.weight + 2 * full[:, None] * coef
    if sums.hess is None:
        return value, grad, None
    hess = sums.hess / sums.weight + np.diag(np.repeat(2 * full, coef.shape[1]))
    return value, grad, hess


def newton_direction(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """``-H⁺ g``, ``H`` scaled to a unit diagonal first; directions of no curvature (the
    softmax's redundant one, an unpenalized constant column) are left out."""
    g = grad.ravel()
    diag = np.sqrt(np.maximum(np.diag(hess), np.finfo(np.float64).tiny))
    scaled = hess / diag[:, None] / diag[None, :]
    values, vectors = np.linalg.eigh(scaled)
    keep = values > values[-1] * len(values) * np.finfo(np.float64).eps
    rotated = vectors[:, keep].T @ (g / diag)
    step = vectors[:, keep] @ (rotated / values[keep])
    return -(step / diag).reshape(grad.shape)


class NewtonResult(NamedTuple):
    """What :func:`damped_newton` returns.

    Attributes:
        coef: the last accepted point, shape ``(m, k)``.
        losses: ``J`` before each accepted step, then at the end (``len = n_iter + 1``).
        n_iter: the accepted Newton steps.
        evaluations: the calls of ``evaluate`` (passes over the data).
        status: ``"converged"``, ``"separated"`` (the classes are separated and unpenalized:
            the loss has no minimum), ``"stalled"`` (no decrease at rounding level) or
            ``"max_steps"``.
    """

    coef: np.ndarray
    losses: list
    n_iter: int
    evaluations: int
    status: str


def damped_newton(
    evaluate: Callable[[np.ndarray], LogitSums], coef: np.ndarray, penalty: np.ndarray, *,
    intercept: bool, max_steps: int, rtol: float = NEWTON_RTOL, stop_if_separated: bool = False,
    first: LogitSums | None = None, extrapolate: bool = False,
) -> NewtonResult:
    """Minimize ``J`` by Newton steps with backtracking, from ``coef``.

    Args:
        evaluate: ``coef -> LogitSums`` with the Hessian (one pass over the data).
        coef: the starting point, shape ``(m, k)``.
        penalty: the penalty of each feature row, shape ``(d,)``.
        intercept: whether ``coef``'s last row is the (unpenalized) intercept.
        max_steps: the most Newton steps.
        rtol: stop when the Newton decrement is below ``rtol · J``.
        stop_if_separated: stop (status ``"separated"``) at a point that separates the classes.
        first: the sums at ``coef`` when already known (e.g. :func:`prior_sums`): not an
            evaluation.
        extrapolate: also stop when quadratic convergence predicts that the next full step
            leaves a decrement below rounding (:data:`PREDICTED_RTOL`), saving the pass that
            would only confirm it.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> codes, w = np.array([0, 1, 0, 1]), np.ones(4)
        >>> run = lambda c: block_sums(x, codes, w, c, intercept=True)
        >>> result = damped_newton(run, np.zeros((2, 1)), np.zeros(1), intercept=True,
        ...                        max_steps=20)
        >>> result.status, result.coef.ravel().round(4).tolist()
        ('converged', [0.9082, -1.3623])
    """
    sums, evaluations = (evaluate(coef), 1) if first is None else (first, 0)
    value, grad, hess = objective_parts(sums, coef, penalty, intercept=intercept)
    losses, status, before = [value], "max_steps", None
    while True:
        if stop_if_separated and sums.errors == 0:
            status = "separated"
            break
        direction = newton_direction(grad, hess)
        decrement = -float(np.sum(grad * direction))
        relative = decrement / max(abs(value), np.finfo(np.float64).tiny)
        if not relative > 2 * rtol or (extrapolate and _next_below_rounding(relative, before)):
            # The quadratic model is exact to rounding here: the full step, without a pass to
            # check it (its predicted decrease is below the loss's resolution).
            if np.all(np.isfinite(direction)):
                coef = coef + direction
            status = "converged"
            break
        if len(losses) > max_steps:
            break
        step, accepted = 1.0, None
        for _ in range(MAX_HALVINGS):
            trial = coef + step * direction
            trial_sums, evaluations = evaluate(trial), evaluations + 1
            parts = objective_parts(trial_sums, trial, penalty, intercept=intercept)
            if parts[0] <= value - ARMIJO * step * decrement:
                accepted = (trial, trial_sums, parts)
                break
            step /= 2
        if accepted is None:
            status = "stalled"
            break
        coef, sums, (value, grad, hess) = accepted
        losses.append(value)
        before = relative if step == 1.0 else None
    return NewtonResult(coef, losses, len(losses) - 1, evaluations, status)


def _next_below_rounding(relative: float, before: float | None) -> bool:
    """Whether the relative decrement after a full step, predicted from ``relative`` now and
    ``before`` the last full step (``r₊ ≈ c r²``, ``c = r / r₋₁²``), is below rounding; only
    once the steps contract quadratically (``c r <= 0.1``)."""
    if before is None or not before > 0:
        return False
    rate = relative / before**2
    return rate * relative <= 0.1 and PREDICTION_SAFETY * rate * relative**2 <= PREDICTED_RTOL
