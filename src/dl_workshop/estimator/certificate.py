"""The stopping certificate: hold a fit still once its loss test is blind and its gradient is noise.

The engine stops a fit when the loss has decreased by less than ``tol`` (relative) for
``n_iter_no_change`` steps. On ill-conditioned data that test can go blind: the residuals
``r_i = z_i·w + b - t_i`` are small differences of large terms (``|z_i||w| >> |r_i|``), so the
computed loss carries rounding noise far above ``tol`` times the loss (1e-9 relative on NIST
Filip, whose standardized design has condition number 4e9), and the iterates wander, or fall
into a cycle, at that noise level until ``max_iter``.

The least-squares objective is quadratic, so its distance to the minimum is known exactly from
the gradient: ``gap = ½ gᵀ H⁺ g = ||Wᵀ g||² / (4 inv_k)`` (``W`` from the factorization in
:mod:`~dl_workshop.estimator.conditioning`); no difference of two losses is needed. When

1. the loss's expected rounding noise exceeds ``tol`` times the loss (the loss test is blind;
   otherwise nothing changes), and
2. the gap is at most ``NOISE_MARGIN`` times the gap that the gradient's own rounding errors
   produce (the gradient is indistinguishable from zero),

:func:`held_gradient` reports a zero gradient: gradient descent and L-BFGS hold still, the loss
stops changing, and the engine's own test ends the fit at the next ``n_iter_no_change`` steps.
After the engine, :mod:`~dl_workshop.estimator.finish` refines the point with a few exact Newton
steps (:func:`newton_step`), and takes over where a blind loss test stopped the fit elsewhere.
A point whose gradient is rounding noise is a minimum to working precision; one whose gap is
larger (Filip's early plateau, 25% above the minimum: gap 1e17 times the noise) is not held.

The noise model: each term of a residual is rounded once, so ``r_i`` carries an error of
variance about ``eps² s_i`` with ``s_i = Σ_j z_ij² w_j² + b² + t_i²``. Through the loss
``Σ_i p_i r_i²`` that gives a noise of variance ``4 Σ_i p_i² r_i² eps² s_i`` (evaluated with
``s_i`` replaced by its weighted mean); through the gradient, a gap of expectation
``eps² Σ_i p_i h_i s_i`` (``h_i`` the leverages). Both use precomputed column weights
(:func:`noise_weights`): O(d) work per step besides ``Σ_i p_i² r_i²``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax.tree_utils as otu

#: A fit is held once its gap is at most this many times the gap expected from rounding alone:
#: a margin over the spread of that noise (a chi-squared with ``rank`` degrees of freedom) and
#: over the model of it. On NIST Filip the gap at the noise floor ranged over 0.003-12 times the
#: expectation (12 row orders); before it, 1e10 times and more.
NOISE_MARGIN = 10.0


def noise_weights(
    z: np.ndarray, target: np.ndarray, weights: np.ndarray, fit_intercept: bool,
    leverage: np.ndarray,
) -> dict[str, np.ndarray]:
    """The column weights of the noise model, for an unpadded problem.

    Args:
        z: scaled features, shape ``(n, d)``.
        target: scaled targets, shape ``(n, k)``.
        weights: sample weights summing to 1, shape ``(n,)``.
        fit_intercept: whether the intercept's column of ones is part of the design.
        leverage: the samples' leverages ``h``, shape ``(n,)``
            (:func:`~dl_workshop.estimator.conditioning.analyze`).

    Returns:
        ``noise_columns``, shape ``(2, d + 1)``: ``Σ_i p_i h_i a_ij²`` (the gap's) and
        ``Σ_i p_i a_ij²`` (the loss's), ``a = [z, 1]`` (zeros for the last column without an
        intercept); ``noise_targets``, shape ``(2, k)``: the same sums of ``t_i²``.

    Example:
        >>> import numpy as np
        >>> z, t = np.array([[-1.0], [1.0]]), np.array([[0.0], [2.0]])
        >>> out = noise_weights(z, t, np.full(2, 0.5), True, np.ones(2))
        >>> out["noise_columns"].tolist(), out["noise_targets"].tolist()
        ([[1.0, 1.0], [1.0, 1.0]], [[2.0], [2.0]])
    """
    rows = np.stack([weights * leverage, weights])  # (2, n)
    ones = rows.sum(axis=1, keepdims=True) * (1.0 if fit_intercept else 0.0)
    return {
        "noise_columns": np.concatenate([rows @ z**2, ones], axis=1),
        "noise_targets": rows @ target**2,
    }


def certificate_flags(
    params: dict, grads: dict, value: jax.Array, residual_power: jax.Array, data: Any
) -> tuple[jax.Array, jax.Array]:
    """``(blind, held)``: whether the loss test is blind, and whether the fit is held there.

    Args:
        params: ``{"w": (d, k), "b": (k,)}``.
        grads: their gradient, same shapes.
        value: the objective (with its offset), what the engine's ``tol`` test compares.
        residual_power: ``Σ_i p_i² r_i²`` per target, shape ``(k,)``.
        data: the problem (:class:`~dl_workshop.estimator.problem.Problem`): ``whiten``,
            ``noise_columns``, ``noise_targets``, ``certify_tol`` (``inf``: off), ``inv_k``,
            ``intercept_mask``.

    Returns:
        Two traced booleans; ``held`` implies ``blind``.

    Example:
        >>> import jax, numpy as np
        >>> from dl_workshop.estimator.problem import (
        ...     build_problem, certified_parts, fit_scaling, pad_params)
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> problem, shape, _ = build_problem(  # certify_tol=0: count the loss test as blind
        ...     x, ys, w, fit_scaling(x, ys, w, True, True), alpha=0.0, fit_intercept=True,
        ...     dtype=np.float64, certify_tol=0.0)
        >>> with jax.enable_x64(True):
        ...     params = pad_params({"w": np.zeros((1, 1)), "b": np.zeros(1)}, shape)
        ...     value, grads, power = certified_parts(params, problem)
        ...     far = certificate_flags(params, grads, value, power, problem)
        ...     best = newton_step(params, grads, problem)
        ...     value, grads, power = certified_parts(best, problem)
        ...     near = certificate_flags(best, grads, value, power, problem)
        >>> [bool(f) for f in far], [bool(f) for f in near]
        ([True, False], [True, True])
    """
    gap = jnp.sum((data.whiten.T @ _stacked(grads)) ** 2) / (4 * data.inv_k)
    eps = jnp.finfo(gap.dtype).eps
    s = _noise_scales(params, data, jnp)
    gap_noise = eps**2 * data.inv_k * jnp.sum(s[0])
    blind = _blind(s, value, residual_power, data, eps, jnp)
    return blind, blind & (gap <= NOISE_MARGIN * gap_noise)


def loss_test_blind(
    params: dict, value: float, residual_power: np.ndarray, data: Any, dtype: np.dtype
) -> bool:
    """:func:`certificate_flags`'s ``blind`` on the host (NumPy), for a fit in ``dtype``.

    The finisher's first question about a finished fit; answered here, it needs no compiled
    program (most fits end where the loss test works, and are returned as they are).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.estimator.problem import build_problem, fit_scaling, host_parts
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> problem, shape, _ = build_problem(
        ...     x, ys, w, fit_scaling(x, ys, w, True, True), alpha=0.0, fit_intercept=True,
        ...     dtype=np.float64, certify_tol=0.0)
        >>> params = {"w": np.zeros((32, 8)), "b": np.zeros(8)}
        >>> loss_test_blind(params, *host_parts(params, problem), problem, np.float64)
        True
    """
    s = _noise_scales(params, data, np)
    return bool(_blind(s, value, residual_power, data, np.finfo(dtype).eps, np))


def _noise_scales(params: dict, data: Any, xp: Any) -> Any:
    """``s`` per target, shape ``(2, k)``: weighted by leverage (row 0, the gap's) or by weight
    (row 1, the loss's); ``xp`` is ``jax.numpy`` (traced) or ``numpy`` (on the host)."""
    theta = xp.concatenate([params["w"], (data.intercept_mask * params["b"])[None, :]], axis=0)
    return xp.einsum("rj,jk->rk", data.noise_columns, theta**2) + data.noise_targets


def _blind(s: Any, value: Any, residual_power: Any, data: Any, eps: Any, xp: Any) -> Any:
    """Whether the loss's expected rounding noise exceeds ``certify_tol`` times the loss."""
    loss_noise = 2 * eps * data.inv_k * xp.sqrt(xp.sum(residual_power * s[1]))
    return loss_noise > data.certify_tol * value


def held_gradient(
    params: dict, grads: dict, value: jax.Array, residual_power: jax.Array, data: Any
) -> dict:
    """``grads``, or zeros when the loss test is blind and the gradient is rounding noise.

    The arguments are those of :func:`certificate_flags` (whose example shows both cases).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.estimator.problem import build_problem, fit_scaling
        >>> x, ys, w = np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]), np.ones(2)
        >>> problem, _, _ = build_problem(x, ys, w, fit_scaling(x, ys, w, True, True),
        ...                               alpha=0.0, fit_intercept=True, dtype=np.float32,
        ...                               certify_tol=1e-12)
        >>> zero = {"w": np.zeros((32, 8), np.float32), "b": np.zeros(8, np.float32)}
        >>> grads = {"w": np.ones((32, 8), np.float32), "b": np.ones(8, np.float32)}
        >>> held = held_gradient(zero, grads, np.float32(1.0), np.ones(8, np.float32), problem)
        >>> float(held["w"][0, 0])  # far from the minimum: the gradient is passed on
        1.0
    """
    _, held = certificate_flags(params, grads, value, residual_power, data)
    return otu.tree_where(held, otu.tree_zeros_like(grads), grads)


def newton_step(params: dict, grads: dict, data: Any) -> dict:
    """``params - H⁺ g``: the minimizer of the quadratic, from one gradient and ``W``.

    Exact up to rounding (``H⁺ = W Wᵀ / (2 inv_k)`` comes from the factorization, not from
    differences of noisy gradients, which is what slows L-BFGS down on ill-conditioned data).
    Directions the factorization counts as null are left alone.

    Example:
        >>> import jax, numpy as np
        >>> from dl_workshop.estimator.problem import (
        ...     build_problem, fit_scaling, objective, pad_params)
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [5.0]]), np.ones(3)
        >>> problem, shape, _ = build_problem(x, ys, w, fit_scaling(x, ys, w, True, True),
        ...                                   alpha=0.0, fit_intercept=True, dtype=np.float64)
        >>> with jax.enable_x64(True):
        ...     params = pad_params({"w": np.zeros((1, 1)), "b": np.zeros(1)}, shape)
        ...     best = newton_step(params, objective(params, 0, problem)[1], problem)
        >>> round(float(best["w"][0, 0]), 12), round(float(best["b"][0]), 12)  # y = 2x + 1
        (1.0, 0.0)
    """
    step = data.whiten @ (data.whiten.T @ _stacked(grads)) / (2 * data.inv_k)
    return {"w": params["w"] - step[:-1], "b": params["b"] - data.intercept_mask * step[-1]}


def _stacked(grads: dict) -> jax.Array:
    return jnp.concatenate([grads["w"], grads["b"][None, :]], axis=0)  # (d + 1, k)
