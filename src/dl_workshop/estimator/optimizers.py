"""Which optimizer a fit uses: the named optimizers, ``learning_rate="auto"`` and the line search.

``optimizer="lbfgs"`` is optax's L-BFGS direction with :func:`quadratic_linesearch`, an exact
step for the (quadratic) least-squares objective; ``"gd"`` is the engine's built-in gradient
descent; ``"momentum"`` and ``"adam"`` are optax's. The step size of ``learning_rate="auto"``
and the choice for a fit are :func:`~dl_workshop.estimator.solve.step_size_for` and
:func:`~dl_workshop.estimator.solve.optimizer_for`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu

from dl_workshop.compilation.executables import register_stable_name

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
