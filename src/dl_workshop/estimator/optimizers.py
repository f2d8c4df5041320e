"""Which optimizer a fit uses: the named optimizers, ``learning_rate="auto"`` and the line search.

``optimizer="lbfgs"`` is optax's L-BFGS direction with :func:`quadratic_linesearch`, an exact
step for the (quadratic) least-squares objective; ``"gd"`` is the engine's built-in gradient
descent; ``"momentum"`` and ``"adam"`` are optax's. ``learning_rate="auto"`` is ``1/L``, with
``L`` the largest eigenvalue of the objective's Hessian (power iteration).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from sklearn.utils import check_random_state

from dl_workshop._precision import x64
from dl_workshop.compilation.executables import register_stable_name
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.problem import DesignData, as_dtype, curvature_loss
from dl_workshop.model import linear_model
from dl_workshop.optimization import estimate_curvature

#: Momentum coefficient of ``optimizer="momentum"`` (heavy ball; stable for steps < 3.8/L).
MOMENTUM = 0.9

#: Number of past (step, gradient change) pairs L-BFGS keeps.
LBFGS_MEMORY = 10


def quadratic_linesearch() -> optax.GradientTransformationExtraArgs:
    """Exact line search for quadratic objectives, as an optax transformation to chain last.

    Scales the proposed update ``d`` by ``eta = -(g·d) / (dᵀ H d)``, the minimizer of the
    objective along ``d`` when the objective is quadratic (least squares, ridge). ``H d`` is a
    second directional derivative of ``value_fn`` (forward-over-forward ``jax.jvp``), so the
    step costs about one extra evaluation of the objective, needs no loop and no subtraction
    of nearly equal losses (which is what limits value-based line searches near the
    solution). ``eta`` is 0 when ``d`` is not a descent direction or has no curvature.

    Returns:
        An ``optax.GradientTransformationExtraArgs``; its ``update`` needs the keyword
        arguments ``grad`` (gradient at ``params``) and ``value_fn`` (the objective).

    Example:
        >>> import jax.numpy as jnp, optax
        >>> f = lambda p: jnp.sum((p - 3.0) ** 2)
        >>> opt = optax.chain(optax.scale(-1.0), quadratic_linesearch())
        >>> p = jnp.zeros(2)
        >>> g = 2 * (p - 3.0)
        >>> u, _ = opt.update(g, opt.init(p), p, value=f(p), grad=g, value_fn=f)
        >>> optax.apply_updates(p, u)
        Array([3., 3.], dtype=float32)
    """

    def init(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(updates, state, params=None, *, grad, value_fn, **extra_args):
        del extra_args
        leaves = jax.tree_util.tree_leaves(updates)
        zero = jnp.zeros((), jnp.result_type(*leaves))

        def along(eps):
            return value_fn(jax.tree_util.tree_map(lambda p, u: p + eps * u, params, updates))

        def slope_along(eps):
            return jax.jvp(along, (eps,), (jnp.ones_like(eps),))[1]

        # Forward-over-forward: dᵀHd exactly, in about two passes over the data.
        curvature = jax.jvp(slope_along, (zero,), (jnp.ones_like(zero),))[1]
        slope = otu.tree_vdot(grad, updates)
        ok = (curvature > 0) & (slope < 0)
        eta = jnp.where(ok, -slope / jnp.where(ok, curvature, 1.0), 0.0)
        return jax.tree_util.tree_map(lambda u: eta.astype(u.dtype) * u, updates), state

    return optax.GradientTransformationExtraArgs(init, update)


@functools.lru_cache(maxsize=64)
def named_optimizer(name: str, learning_rate: float | None) -> optax.GradientTransformation | None:
    """The optax optimizer for a name; cached so that equal settings reuse compiled code.

    ``None`` for ``"gd"``: the engine's built-in gradient descent, whose step size is a runtime
    argument (no recompilation when it changes).

    Example:
        >>> named_optimizer("gd", 0.1) is None
        True
        >>> named_optimizer("adam", 0.1) is named_optimizer("adam", 0.1)  # one compiled loop
        True
    """
    if name == "gd":
        return None
    # Named, so that a second process loads its compiled loops whole
    # (dl_workshop.compilation.executables).
    return register_stable_name(
        _build(name, learning_rate), f"{__name__}.named_optimizer({name!r}, {learning_rate!r})"
    )


def _build(name: str, learning_rate: float | None) -> optax.GradientTransformation:
    if name == "momentum":
        return optax.sgd(learning_rate, momentum=MOMENTUM)
    if name == "adam":
        return optax.adam(learning_rate)
    if learning_rate is None:
        # optax's L-BFGS direction with an exact step for the (quadratic) objective instead of
        # the zoom line search: as accurate, a tenth of the compile time, no inner loop.
        return optax.chain(
            optax.scale_by_lbfgs(memory_size=LBFGS_MEMORY),
            optax.scale(-1.0),
            quadratic_linesearch(),
        )
    return optax.lbfgs(learning_rate=learning_rate, memory_size=LBFGS_MEMORY, linesearch=None)


def step_size_for(settings: Hyperparameters, params: dict, data: DesignData) -> float | None:
    """The step size of a fit: ``None`` for the L-BFGS line search or a custom optimizer.

    ``params`` and ``data`` are needed only to estimate ``1/L`` for ``learning_rate="auto"``.
    """
    name, rate = settings.optimizer, settings.learning_rate
    if not isinstance(name, str) or (name == "lbfgs" and rate == "auto"):
        return None
    if rate == "auto":
        return 1.0 / _curvature(params, data, settings.dtype, settings.random_state)
    return rate


def optimizer_for(
    settings: Hyperparameters, step_size: float | None
) -> optax.GradientTransformation | None:
    """The optax optimizer of a fit (``None``: the engine's gradient descent)."""
    name = settings.optimizer
    return named_optimizer(name, step_size) if isinstance(name, str) else name


def choose_optimizer(settings: Hyperparameters, params: dict,
                     data: DesignData) -> tuple[float | None, Any]:
    """``(step size, optimizer)`` of a fit: :func:`step_size_for`, then :func:`optimizer_for`
    (the solve stage's one call here)."""
    step_size = step_size_for(settings, params, data)
    return step_size, optimizer_for(settings, step_size)


def _curvature(params: dict, data: DesignData, dtype: np.dtype, random_state: Any) -> float:
    """``L``, the largest eigenvalue of the scaled objective's Hessian (power iteration)."""
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    with x64(dtype == np.float64):
        curvature = estimate_curvature(
            curvature_loss, params, linear_model, as_dtype(data, dtype), None, seed=seed
        )
    if not np.isfinite(curvature) or curvature <= 0:
        # A zero Hessian (all-constant features without intercept): any step is stable.
        return 1.0
    return curvature
