"""The least-squares problem the engine solves, in scaled variables, and its objective.

The estimator optimizes over centred and scaled features and targets (:func:`fit_scaling`), a
change of variables that leaves the minimizer unchanged but shrinks the Hessian's condition
number by orders of magnitude. Small problems are padded with zero rows and columns to a few
shared shapes (:func:`padded_shape`) so that similar fits reuse compiled code.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import ThreadpoolController

from dl_workshop.engine.objective import Objective
from dl_workshop.estimator.conditioning import Conditioning, analyze_design
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.refine import LeastSquares
from dl_workshop.lesson.model import linear_model

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


class Centred(NamedTuple):
    """Rows given by their moments (:mod:`~.compressed`): the ``2p`` rows ``mean ± deviation_j``
    of weight ``weight / (2p)`` have the data's means and cross-products.

    Attributes:
        mean: weighted column means of ``[x, y]``, shape ``(p,)``.
        variance: their weighted centred variances, shape ``(p,)``.
        deviations: ``sqrt(p / W) R``, shape ``(p, p)``.
        weight: the total weight ``W``.
        n_rows: the data's rows of positive weight.
        constant: indices of the constant features.
    """

    mean: np.ndarray
    variance: np.ndarray
    deviations: np.ndarray
    weight: float
    n_rows: int
    constant: np.ndarray


def fit_problem(
    source: Any, d: int, settings: Hyperparameters, previous: Any = None, *,
    scaling: Scaling | None = None, pad_features: bool = True,
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None, Scaling, dict]:
    """A fit's problem in one call: the scaling (:func:`scaling_of`, unless ``scaling`` is
    given), the scaled problem, padded (see :func:`padded_shape`) and in the fit's dtype, and the
    starting parameters (:func:`initial_params`, padded like the problem with ``pad_features``).

    With ``pad_features`` (``fit``), the scaled design is also factorized
    (:func:`~dl_workshop.estimator.conditioning.analyze_design`): its rank and condition
    number, the ``W`` of the refinement (:mod:`~dl_workshop.estimator.refine`), and the loss's
    rounding noise.

    Args:
        source: the rows ``(x, ys, weights)``, or their moments as :class:`Centred` rows (built
            in the scaled variables: the means are never added back to the deviations).
        d: the number of features.
        settings: the validated hyperparameters.
        previous: the fitted solution to start from (:func:`initial_params`), or ``None``.
        scaling: the scaling to keep (``partial_fit`` after its first batch), or ``None``.
        pad_features: pad the feature and target columns too, not only the rows, and analyze
            the design.

    Returns:
        ``(problem, (rows, cols, outs), conditioning, scaling, params0)``, ``conditioning``
        ``None`` without ``pad_features``.

    Example:
        >>> from dl_workshop.estimator.params import validate_hyperparameters
        >>> from dl_workshop.estimator.regressor import GradientDescentRegressor
        >>> settings = validate_hyperparameters(GradientDescentRegressor().get_params())
        >>> x, ys, w = np.array([[0.0], [1.0]]), np.array([[1.0], [3.0]]), np.ones(2)
        >>> problem, shape, c, s, params0 = fit_problem((x, ys, w), 1, settings)
        >>> shape, problem.z.shape, problem.weights.sum(), c.rank, params0["w"].shape
        ((512, 32, 8), (512, 32), np.float64(1.0), 1, (32, 8))
    """
    fit_intercept, alpha = settings.fit_intercept, settings.alpha
    extra: dict[str, Any] = {}  # the data's rows and constant columns, for the moments
    if isinstance(source, Centred):
        scaling = scaling_of(source.mean, source.variance, d, fit_intercept, settings.standardize)
        problem = _mirrored(source, scaling, d, alpha, fit_intercept)
        extra = dict(n_rows=source.n_rows, constant=source.constant)
    else:
        if scaling is None:
            scaling = fit_scaling(*source, fit_intercept, settings.standardize)
        problem = scaled_data(*source, scaling, alpha, fit_intercept)
    k = problem.target.shape[1]
    problem, shape, conditioning = analyzed_problem(
        problem, fit_intercept=fit_intercept, dtype=settings.dtype, pad_features=pad_features,
        **extra)
    params0 = initial_params(previous, scaling, d, k, fit_intercept)
    if pad_features:
        params0 = pad_params(params0, shape)
    return problem, shape, conditioning, scaling, params0


def _mirrored(source: Centred, scaling: Scaling, d: int, alpha: float,
              fit_intercept: bool) -> DesignData:
    """The unpadded problem of the ``2p`` rows ``mean ± deviation_j`` (see :class:`Centred`)."""
    rows_x = source.deviations[:, :d] / scaling.x_scale
    rows_y = source.deviations[:, d:] / scaling.y_scale
    centre_x = (source.mean[:d] - scaling.x_offset) / scaling.x_scale
    centre_y = (source.mean[d:] - scaling.y_offset) / scaling.y_scale
    z = np.concatenate([centre_x + rows_x, centre_x - rows_x])
    target = np.concatenate([centre_y + rows_y, centre_y - rows_y])
    weights = np.full(len(z), source.weight / len(z))
    return scaled_problem(z, target, weights, scaling.x_scale, alpha, fit_intercept)


def analyzed_problem(
    problem: DesignData, *, fit_intercept: bool, dtype: np.dtype, pad_features: bool = True,
    n_rows: int | None = None, constant: np.ndarray | None = None,
) -> tuple[DesignData, tuple[int, int, int], Conditioning | None]:
    """:func:`fit_problem` from the unpadded problem on: the analysis, padding.

    ``n_rows`` and ``constant`` stand in for the rows of positive weight and the constant
    columns when ``problem``'s rows are not the data's (see
    :mod:`~dl_workshop.estimator.compressed`); ``None`` counts them in ``problem``.
    """
    conditioning = None
    if pad_features:
        # One BLAS thread: these products are small, and idle BLAS threads spinning after them
        # would compete with the engine's threads on small machines.
        with _one_blas_thread(problem.z.size):
            conditioning = analyze_design(problem, fit_intercept, float(np.finfo(dtype).eps),
                                          n_rows=n_rows, constant=constant)
    shape = padded_shape(*problem.z.shape, problem.target.shape[1], features=pad_features)
    return as_dtype(_pad_problem(problem, shape), dtype), shape, conditioning


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
        exact: builds the problem in the user's units that the refinement solves, after the
            engine (``fit`` only: the rows, or their moments; :mod:`~.refine`).
        params0: the starting parameters, padded like ``problem`` (``fit`` only).
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
    exact: Callable[[], LeastSquares] | None = None
    params0: dict | None = None


def refinable(prep: Prepared) -> bool:
    """Whether ``fit``'s answer is refined: float64, the design analyzed (its ``W``), and the
    coefficients unique (full rank, or a ridge penalty)."""
    c = prep.conditioning
    return (
        prep.settings.dtype == np.float64 and prep.exact is not None and c is not None
        and c.whiten.shape[1] > 0 and (not c.deficient or prep.settings.alpha > 0)
    )
