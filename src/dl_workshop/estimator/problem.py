"""The least-squares problem the engine solves, in scaled variables, and its objective.

The estimator optimizes over centred and scaled features and targets (:func:`fit_scaling`), a
change of variables that leaves the minimizer unchanged but shrinks the Hessian's condition
number by orders of magnitude. Small problems are padded with zero rows and columns to a few
shared shapes (:func:`padded_shape`) so that similar fits reuse compiled code.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import ThreadpoolController

from dl_workshop.engine.objective import Objective
from dl_workshop.estimator.conditioning import Conditioning, analyze
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.refine import LeastSquares
from dl_workshop.model import linear_model

#: Added to the objective, as a fraction of the targets' variance, so that ``tol`` is relative
#: to ``loss + LOSS_FLOOR * variance``: an exact fit, whose loss shrinks to rounding noise, still
#: stops; fits with R² below ``1 - LOSS_FLOOR`` are measured relative to their own loss.
LOSS_FLOOR = 1e-6

#: Problems of at most PAD_TINY_ROWS rows are padded to powers of two of at least
#: PAD_TINY_SHAPE (rows, features, targets) to share compiled code (see padded_shape).
PAD_TINY_ROWS = 1 << 12
PAD_TINY_SHAPE = (512, 32, 8)


class Scaling(NamedTuple):
    """The affine change of variables between the user's data and the optimized problem."""

    x_offset: np.ndarray  # (d,)
    x_scale: np.ndarray  # (d,)
    y_offset: np.ndarray  # (k,)
    y_scale: float


class DesignData(NamedTuple):
    """The data pytree handed to the engine: the least-squares problem in scaled variables.

    Attributes:
        z: scaled features, shape ``(n, d)``.
        target: scaled targets, shape ``(n, k)``.
        weights: sample weights summing to 1, shape ``(n,)``.
        penalty: L2 penalty of each scaled coefficient row, shape ``(d,)``.
        intercept_mask: 1.0, or 0.0 to keep the intercept at zero (``fit_intercept=False``).
        inv_k: one over the number of real targets (the loss is a mean over targets).
        offset: ``LOSS_FLOOR`` times the loss of the best constant prediction (the targets'
            variance), added to the objective (see :func:`objective`).
    """

    z: Any
    target: Any
    weights: Any
    penalty: Any
    intercept_mask: Any
    inv_k: Any
    offset: Any


def objective(params: dict, t: jax.Array, data: DesignData) -> tuple[jax.Array, dict]:
    """``(J̃ + offset, ∇J̃)``: the weighted, penalized mean squared error in scaled variables.

    The constant ``offset`` changes neither the gradient nor the minimizer; it keeps the
    engine's relative-decrease test (``tol``) meaningful for exact fits, whose loss shrinks to
    rounding noise that fluctuates by 100% from one step to the next and would never pass it.

    Zero rows with zero weight, and zero feature or target columns, leave the solution
    unchanged (their gradient stays zero), which is how small problems are padded to a few
    shapes. A module-level function, so every fit hands the engine the same object and reuses
    its compiled code.

    Args:
        params: ``{"w": (d, k), "b": (k,)}`` in scaled variables.
        t: the step (unused: the objective is the same at every step).
        data: the :class:`DesignData`.

    Returns:
        The scalar objective and its gradient, shaped like ``params``.

    Example:
        >>> import numpy as np
        >>> data = DesignData(np.ones((2, 1)), np.ones((2, 1)), np.full(2, 0.5), np.zeros(1),
        ...                np.asarray(1.0), np.asarray(1.0), np.asarray(0.0))
        >>> value, grads = objective({"w": np.zeros((1, 1)), "b": np.zeros(1)}, 0, data)
        >>> float(value), grads["w"].tolist()
        (1.0, [[-2.0]])
    """
    del t
    value, grads = jax.value_and_grad(lambda p: _loss_and_residual(p, data)[0])(params)
    return value + data.offset, grads


def objective_value(params: dict, t: jax.Array, data: DesignData) -> jax.Array:
    """:func:`objective`'s value alone (for the line search, see
    :func:`~dl_workshop.engine.step.value_function`).

    Example:
        >>> import numpy as np
        >>> data = DesignData(np.ones((2, 1)), np.ones((2, 1)), np.full(2, 0.5), np.zeros(1),
        ...                np.asarray(1.0), np.asarray(1.0), np.asarray(0.0))
        >>> float(objective_value({"w": np.zeros((1, 1)), "b": np.zeros(1)}, 0, data))
        1.0
    """
    del t
    return _loss_and_residual(params, data)[0] + data.offset


#: The estimator's least-squares objective for the engine; line searches use its value alone
#: (it traces in a third of the time of the value with its gradient).
LEAST_SQUARES = Objective(objective, objective_value)


def _loss_and_residual(p: dict, data: DesignData) -> tuple[jax.Array, jax.Array]:
    """``(J̃, residuals (n, k))`` in scaled variables, without the offset."""
    theta = {"w": p["w"], "b": data.intercept_mask * p["b"]}
    residual = linear_model(theta, data.z) - data.target
    data_term = jnp.sum(data.weights[:, None] * residual**2)
    return (data_term + jnp.sum(data.penalty[:, None] * p["w"] ** 2)) * data.inv_k, residual


def curvature_loss(theta: dict, model: Any, x: DesignData, y: Any) -> jax.Array:
    """:func:`objective`'s value in the ``loss(theta, model, x, y)`` form of the engine."""
    del model, y
    return objective(theta, jnp.zeros((), jnp.int32), x)[0]


def fit_scaling(x, ys, weights, fit_intercept: bool, standardize: bool) -> Scaling:
    """Weighted centring and scaling of the rows (identity when ``standardize=False``): their
    weighted means and centred variances handed to :func:`scaling_of`.

    Example:
        >>> import numpy as np
        >>> s = fit_scaling(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]]), np.ones(2),
        ...                 True, True)
        >>> s.x_offset.tolist(), s.x_scale.tolist(), s.y_offset.tolist(), s.y_scale
        ([1.0], [1.0], [2.0], 1.0)
    """
    d = x.shape[1]
    if not standardize:
        return scaling_of(np.zeros(d + ys.shape[1]), None, d, fit_intercept, standardize)
    p = weights / weights.sum()
    means = [p @ x, p @ ys]
    variances = [p @ (a - m) ** 2 for a, m in zip((x, ys), means, strict=True)]
    return scaling_of(np.concatenate(means), np.concatenate(variances), d, fit_intercept, True)


def scaling_of(mean, variance, d: int, fit_intercept: bool, standardize: bool) -> Scaling:
    """The one scaling routine: from the weighted means and centred variances of the columns of
    ``[x, y]`` (of rows, :func:`fit_scaling`; of moments,
    :func:`~dl_workshop.estimator.compressed.moment_scaling`).

    Offsets are the means (zero without ``fit_intercept``); a feature's scale is its root mean
    square about its offset, the targets' one the root of the mean of theirs. Constant columns
    (or columns of zeros) keep scale 1, as in scikit-learn's scalers.

    Args:
        mean: weighted column means of ``[x, y]``, shape ``(d + k,)``.
        variance: weighted centred variances, shape ``(d + k,)`` (unused without
            ``standardize``).
        d: the number of features.
        fit_intercept: whether the intercept is fitted (else the offsets are zero).
        standardize: whether to centre and scale (else the identity).

    Example:
        >>> s = scaling_of(np.array([1.0, 2.0]), np.array([4.0, 0.0]), 1, False, True)
        >>> s.x_offset.tolist(), s.x_scale.tolist(), s.y_scale
        ([0.0], [2.23606797749979], 2.0)
    """
    mean = np.asarray(mean, np.float64)
    if not standardize:
        return Scaling(np.zeros(d), np.ones(d), np.zeros(len(mean) - d), 1.0)
    offset = mean if fit_intercept else np.zeros_like(mean)
    square = variance + (mean - offset) ** 2
    x_offset = offset[:d]
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(x_offset), 1.0)
    x_scale = np.sqrt(square[:d])
    x_scale = np.where(x_scale > tiny, x_scale, 1.0)
    y_scale = float(np.sqrt(np.mean(square[d:])))
    if not np.isfinite(y_scale) or y_scale <= 0:
        y_scale = 1.0
    return Scaling(x_offset, x_scale, offset[d:], y_scale)


def scaled_data(x, ys, weights, scaling: Scaling, alpha: float, fit_intercept: bool) -> DesignData:
    """The problem in scaled variables (NumPy float64), unpadded."""
    z = (x - scaling.x_offset) / scaling.x_scale
    target = (ys - scaling.y_offset) / scaling.y_scale
    return scaled_problem(z, target, weights, scaling.x_scale, alpha, fit_intercept)


def scaled_problem(z, target, weights, x_scale, alpha: float, fit_intercept: bool) -> DesignData:
    """The unpadded :class:`DesignData` of rows already in scaled variables.

    Args:
        z: scaled features, shape ``(n, d)``.
        target: scaled targets, shape ``(n, k)``.
        weights: the sample weights as given (their total scales the penalty), shape ``(n,)``.
        x_scale: the features' scales, shape ``(d,)`` (the penalty is on the unscaled ones).
        alpha: the L2 penalty.
        fit_intercept: whether the intercept is fitted.
    """
    total = weights.sum()
    p = weights / total
    centred = target - p @ target if fit_intercept else target
    offset = float(np.mean(p @ centred**2))
    return DesignData(
        z=z,
        target=target,
        weights=p,
        penalty=alpha / (total * x_scale**2),
        intercept_mask=np.asarray(1.0 if fit_intercept else 0.0),
        inv_k=np.asarray(1.0 / target.shape[1]),
        offset=np.asarray(LOSS_FLOOR * (offset if offset > 0 else 1.0)),
    )


def padded_shape(n: int, d: int, k: int, *, features: bool = True) -> tuple[int, int, int]:
    """Shapes to compile for.

    Compiling takes about a second; fitting small data, milliseconds. So problems of at most
    ``PAD_TINY_ROWS`` rows are padded (zero rows of zero weight, zero feature and target
    columns) to powers of two of at least ``PAD_TINY_SHAPE``, so that fits on similar data
    (cross-validation folds, scikit-learn's checks) share compiled code. Larger problems,
    where compiling is cheap next to running, keep their shape. ``features=False`` pads the
    rows only.

    Example:
        >>> padded_shape(100, 3, 1), padded_shape(1000, 40, 1, features=False)
        ((512, 32, 8), (1024, 40, 1))
    """
    if n > PAD_TINY_ROWS:
        return n, d, k
    rows = max(PAD_TINY_SHAPE[0], _next_power_of_two(n))
    if not features:
        return rows, d, k
    cols = max(PAD_TINY_SHAPE[1], _next_power_of_two(d))
    return rows, cols, max(PAD_TINY_SHAPE[2], _next_power_of_two(k))


def _next_power_of_two(m: int) -> int:
    return 1 << (m - 1).bit_length()


def _pad_problem(problem: DesignData, shape: tuple[int, int, int]) -> DesignData:
    (n, d), k = problem.z.shape, problem.target.shape[1]
    rows, cols, outs = shape
    return problem._replace(
        z=np.pad(problem.z, ((0, rows - n), (0, cols - d))),
        target=np.pad(problem.target, ((0, rows - n), (0, outs - k))),
        weights=np.pad(problem.weights, (0, rows - n)),
        penalty=np.pad(problem.penalty, (0, cols - d)),
    )


def pad_params(params: dict, shape: tuple[int, int, int]) -> dict:
    """``{"w": (d, k), "b": (k,)}`` padded with zeros to the ``(rows, cols, outs)`` shape."""
    d, k = params["w"].shape
    _, cols, outs = shape
    return {
        "w": np.pad(params["w"], ((0, cols - d), (0, outs - k))),
        "b": np.pad(params["b"], (0, outs - k)),
    }


def unpad_params(params: dict, d: int, k: int) -> dict:
    """The first ``d`` features and ``k`` targets of padded parameters, as NumPy arrays."""
    return {"w": np.asarray(params["w"])[:d, :k], "b": np.asarray(params["b"])[:k]}


def as_dtype(tree: Any, dtype: np.dtype) -> Any:
    """Every leaf of ``tree`` as a NumPy array of ``dtype``."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=dtype), tree)


def build_problem(
    x, ys, weights, scaling: Scaling, *, alpha: float, fit_intercept: bool, dtype: np.dtype,
    pad_features: bool = True,
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None]:
    """The scaled problem, padded (see :func:`padded_shape`) and in ``dtype``, and its shape.

    With ``pad_features`` (``fit``), the scaled design is also factorized
    (:func:`~dl_workshop.estimator.conditioning.analyze`): its rank and condition number, the
    ``W`` of the refinement (:mod:`~dl_workshop.estimator.refine`), and the loss's rounding
    noise (:func:`loss_noise`).

    Args:
        x: features, shape ``(n, d)``, float64.
        ys: targets, shape ``(n, k)``, float64.
        weights: non-negative sample weights, shape ``(n,)``.
        scaling: the change of variables (:func:`fit_scaling`).
        alpha: the L2 penalty.
        fit_intercept: whether the intercept is fitted.
        dtype: the dtype of the optimization.
        pad_features: pad the feature and target columns too, not only the rows, and analyze
            the design.

    Returns:
        ``(problem, (rows, cols, outs), conditioning)``, ``conditioning`` ``None`` without
        ``pad_features``.

    Example:
        >>> import numpy as np
        >>> x, ys, w = np.array([[0.0], [1.0]]), np.array([[1.0], [3.0]]), np.ones(2)
        >>> problem, shape, c = build_problem(x, ys, w, fit_scaling(x, ys, w, True, True),
        ...                                   alpha=0.0, fit_intercept=True, dtype=np.float64)
        >>> shape, problem.z.shape, problem.weights.sum(), c.rank
        ((512, 32, 8), (512, 32), np.float64(1.0), 1)
    """
    problem = scaled_data(x, ys, weights, scaling, alpha, fit_intercept)
    return analyzed_problem(problem, fit_intercept=fit_intercept, dtype=dtype,
                            pad_features=pad_features)


def analyzed_problem(
    problem: DesignData, *, fit_intercept: bool, dtype: np.dtype, pad_features: bool = True,
    n_rows: int | None = None, constant: np.ndarray | None = None,
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None]:
    """:func:`build_problem` from the unpadded problem on: the analysis, padding.

    ``n_rows`` and ``constant`` stand in for the rows of positive weight and the constant
    columns when ``problem``'s rows are not the data's (see
    :mod:`~dl_workshop.estimator.compressed`); ``None`` counts them in ``problem``.
    """
    conditioning = None
    if pad_features:
        # One BLAS thread: these products are small, and idle BLAS threads spinning after them
        # would compete with the engine's threads on small machines.
        with _one_blas_thread(problem.z.size):
            conditioning = analyze(problem.z, problem.weights, problem.penalty, fit_intercept,
                                   eps=float(np.finfo(dtype).eps), n_rows=n_rows,
                                   constant=constant)
            noise = loss_noise(problem, conditioning.whiten, float(np.finfo(dtype).eps))
            conditioning = conditioning._replace(loss_noise=noise)
    shape = padded_shape(*problem.z.shape, problem.target.shape[1], features=pad_features)
    return as_dtype(_pad_problem(problem, shape), dtype), shape, conditioning


def loss_noise(problem: DesignData, whiten: np.ndarray, eps: float) -> float:
    """The relative rounding noise of the objective near its minimum, ``σ(J̃) / (J̃ + offset)``.

    Each residual ``r_i = z_i·w + b − t_i`` is rounded with an error of variance about
    ``eps² s_i``, ``s_i = Σ_j z_ij² w_j² + b² + t_i²``; through ``J̃ = inv_k Σ_i p_i r_i²`` that
    is a standard deviation of ``2 eps inv_k sqrt(Σ_i p_i² r_i² s_i)``. Evaluated at the
    normal equations' solution ``W Wᵀ Aᵀ p t`` (one product with the factorization's ``W``),
    which is near the minimum wherever the noise matters. The engine's ``tol`` cannot resolve
    relative decreases below it (NIST Filip: 3e-8; ordinary data: below 1e-13).

    Example:
        >>> import numpy as np
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


#: Below this many feature values, BLAS runs the products on one thread anyway: no limit needed
#: (looking up the BLAS libraries takes about 17 ms, once per process).
ONE_THREAD_SIZE = 1 << 16


def _one_blas_thread(size: int) -> Any:
    """One BLAS thread for the analysis of ``size`` feature values (a no-op for small ones)."""
    if size < ONE_THREAD_SIZE:
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries' thread controls, looked up once (a lookup takes milliseconds)."""
    return ThreadpoolController()


def initial_params(previous, scaling: Scaling, d: int, k: int, fit_intercept: bool) -> dict:
    """Zeros, or (warm start) the previous solution expressed in the scaled variables.

    ``previous`` is ``(coef_, intercept_, n_features_in_)`` of a fitted estimator, or ``None``.
    """
    if previous is not None:
        coef, intercept, n_features = previous
        coef = np.asarray(coef, dtype=np.float64).reshape(-1, n_features).T  # (d, k)
        intercept = np.broadcast_to(np.asarray(intercept, dtype=np.float64), (coef.shape[1],))
        if coef.shape == (d, k):
            w = coef * scaling.x_scale[:, None] / scaling.y_scale
            b = (intercept - scaling.y_offset + scaling.x_offset @ coef) / scaling.y_scale
            return {"w": w, "b": b if fit_intercept else np.zeros(k)}
    return {"w": np.zeros((d, k)), "b": np.zeros(k)}


def original_units(theta: dict, scaling: Scaling, fit_intercept: bool) -> tuple[Any, Any]:
    """``(coef (d, k), intercept (k,))``: a scaled solution mapped back to the user's units."""
    w = np.asarray(theta["w"], dtype=np.float64)
    b = np.asarray(theta["b"], dtype=np.float64) if fit_intercept else 0.0
    coef = w * scaling.y_scale / scaling.x_scale[:, None]  # (d, k)
    intercept = scaling.y_offset + scaling.y_scale * b - scaling.x_offset @ coef
    if not fit_intercept:
        intercept = np.zeros_like(intercept)
    return coef, intercept


class Prepared(NamedTuple):
    """One call's validated settings and scaled problem (what ``fit`` and ``partial_fit`` share).

    Attributes:
        settings: the validated hyperparameters.
        problem: the scaled problem, padded and in the fit dtype.
        shape: its padded ``(rows, cols, outs)``.
        scaling: the change of variables.
        single: whether ``y`` is one-dimensional (``coef_`` of shape ``(n_features,)``).
        d: the number of features.
        k: the number of targets.
        conditioning: the scaled design's rank, condition number and factorization (``fit``
            only; ``None`` for ``partial_fit``).
        moments: the one-pass statistics of Dask data (``None`` for data in memory).
        exact: the problem in the user's units that the refinement solves (``fit`` only: the
            rows in memory, or the moments of more rows; see
            :mod:`~dl_workshop.estimator.refine`).
    """

    settings: Hyperparameters
    problem: DesignData
    shape: tuple[int, int, int]
    scaling: Scaling
    single: bool
    d: int
    k: int
    conditioning: Conditioning | None
    moments: Any = None
    exact: LeastSquares | None = None


def refinable(prep: Prepared) -> bool:
    """Whether ``fit``'s answer is refined: float64, the design analyzed (its ``W``), and the
    coefficients unique (full rank, or a ridge penalty)."""
    c = prep.conditioning
    return (
        prep.settings.dtype == np.float64 and prep.exact is not None and c is not None
        and c.whiten.shape[1] > 0 and (not c.deficient or prep.settings.alpha > 0)
    )
