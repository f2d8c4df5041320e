"""Divergence: the error and warning, the curvature estimate behind their advice, the message."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import as_params, check_callable, check_int, check_model
from dl_workshop.engine.result import FitResult
from dl_workshop.engine.step import all_finite

#: The message of a run that diverged before any update: no step size can be the cause.
DIVERGED_AT_START = (
    "optimization diverged at step 0: {what} at the starting parameters, before any update; "
    "check theta, the model and the loss (e.g. a log or sqrt of values <= 0, or a division by "
    "zero)."
)


class DivergenceError(FloatingPointError):
    """The loss or its gradient became non-finite or exploded during optimization.

    Attributes:
        step: index of the first step whose loss or gradient was bad.
        suggested_step_size: a step size that is stable for this problem (``1/L``), or ``None``
            when the curvature could not be estimated.
        max_stable_step_size: ``2/L``, the largest step for which gradient descent on the local
            quadratic model does not diverge, or ``None``.
        result: the :class:`FitResult` up to the last good step (its parameters are the last
            ones whose loss and gradient were finite).
    """

    def __init__(
        self,
        message: str,
        *,
        step: int,
        suggested_step_size: float | None,
        max_stable_step_size: float | None,
        result: FitResult,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.suggested_step_size = suggested_step_size
        self.max_stable_step_size = max_stable_step_size
        self.result = result


class DivergenceWarning(RuntimeWarning):
    """Warned instead of raising :class:`DivergenceError` when ``on_divergence="warn"``."""


def estimate_curvature(
    loss: Callable[..., Any],
    theta: Any,
    model: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    *,
    n_iter: int = 100,
    seed: int = 0,
) -> float:
    """Estimate ``L``, the largest eigenvalue of the Hessian of ``loss`` w.r.t. ``theta``.

    Power iteration on Hessian-vector products (forward-over-reverse ``jax.jvp`` of
    ``jax.grad``): it never forms the Hessian, so it costs about ``n_iter`` gradient evaluations.
    Gradient descent with step size ``s`` is stable on the local quadratic model iff
    ``s < 2 / L``.

    Args:
        loss: ``loss(theta, model, x, y) -> scalar``.
        theta: parameters at which to evaluate the Hessian (any pytree).
        model: the model passed on to ``loss``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        n_iter: number of power iterations.
        seed: seed of the random start vector.

    Returns:
        The estimate of ``L`` (a lower bound that converges to ``L``), as a float.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1, 1, 11)
        >>> round(estimate_curvature(mseloss, (0.0, 0.0), linear_model, x, 2 * x), 3)
        2.0
    """
    check_callable(loss, "loss")
    check_model(model)
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    params = as_params(theta, "theta")
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    flat = flat.astype(jnp.result_type(float))

    def grad_flat(v):
        return jax.flatten_util.ravel_pytree(jax.grad(loss)(unravel(v), model, x, y))[0]

    @jax.jit
    def power(v0):
        def body(_, v):
            hv = jax.jvp(grad_flat, (flat,), (v,))[1]
            return hv / jnp.maximum(jnp.linalg.norm(hv), 1e-30)

        v = jax.lax.fori_loop(0, n_iter, body, v0)
        hv = jax.jvp(grad_flat, (flat,), (v,))[1]
        return jnp.vdot(v, hv)

    v0 = jax.random.normal(jax.random.key(seed), flat.shape, flat.dtype)
    v0 = v0 / jnp.linalg.norm(v0)
    return float(power(v0))


def nonfinite_at_start(objective: Any, params: Any, data: Any) -> str:
    """Which of loss and gradient is non-finite at ``params`` (a phrase for the message)."""
    try:
        loss, grads = objective(params, jnp.zeros((), jnp.int32), data)
        loss_ok, grads_ok = bool(jnp.isfinite(loss)), bool(all_finite(grads))
    except Exception:  # the diagnosis is advice; never let it hide the divergence itself
        return "the loss or its gradient is not finite"
    if not loss_ok:
        return f"the loss is {float(loss)}"
    if not grads_ok:
        return f"the loss is finite ({float(loss):.4g}) but its gradient has NaN or inf"
    return "the loss or its gradient is not finite"


def _advice(curvature: float | None, optimizer: Any) -> tuple[str, float | None, float | None]:
    """The sentence after the diagnosis, with ``(2/L, 1/L)`` when the curvature is known."""
    what = "step_size" if optimizer is None else "the optimizer's learning rate"
    if curvature is None or not np.isfinite(curvature) or curvature <= 0:
        return f" Use a smaller {what}, or standardize the features.", None, None
    max_stable, suggested = 2.0 / curvature, 1.0 / curvature
    advice = (
        f"use {what} = {suggested:.4g} (1/L)"
        if optimizer is None
        else f"use learning_rate = {suggested:.4g} (1/L) with optax.sgd, or a smaller "
        "learning rate with adaptive optimizers"
    )
    text = (
        f" The largest stable step size for gradient descent here is 2/L = {max_stable:.4g}"
        f" (L = {curvature:.4g}, the largest eigenvalue of the loss's Hessian); {advice}, "
        "or standardize the features."
    )
    return text, max_stable, suggested


def report_divergence(
    result: FitResult,
    *,
    step_size: float,
    optimizer: Any,
    on_divergence: str,
    curvature: Callable[[], float] | None,
    start_phrase: Callable[[], str],
) -> None:
    """Raise :class:`DivergenceError` (or warn) with the step, the cause and a stable step size.

    ``curvature()`` estimates ``L`` (``None``: not available for this objective);
    ``start_phrase()`` says what was non-finite when the run diverged at step 0.
    """
    step = result.n_steps
    if step == 0:
        message = DIVERGED_AT_START.format(what=start_phrase())
        max_stable = suggested = None
    else:
        last = f"{result.losses[-1]:.4g}" if len(result.losses) else "n/a"
        used = f"step_size={step_size:g}" if optimizer is None else "the optax optimizer given"
        message = (
            f"optimization diverged at step {step}: the loss or its gradient became non-finite "
            f"or exploded (last finite loss {last}) with {used}."
        )
        advice, max_stable, suggested = _advice(_safe(curvature), optimizer)
        message += advice
    if on_divergence == "warn":
        warnings.warn(message, DivergenceWarning, stacklevel=5)
        return
    raise DivergenceError(
        message, step=step, suggested_step_size=suggested, max_stable_step_size=max_stable,
        result=result,
    )


def _safe(curvature: Callable[[], float] | None) -> float | None:
    if curvature is None:
        return None
    try:
        return curvature()
    except Exception:  # the estimate is advice; never let it hide the divergence itself
        return None
