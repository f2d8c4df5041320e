"""The Newton finisher: on data whose loss test is blind, end the fit by iterative refinement.

On ill-conditioned data the engine's loss test can be blind (the loss's rounding noise exceeds
``tol``; see :mod:`~dl_workshop.estimator.certificate`). Its usual outcome is that the
certificate holds the fit at the noise floor; but a blind loss can also stagnate away from the
minimum (on NIST Filip, for about one row order in ten, L-BFGS plateaus 25% above it and five
steps of loss changes within the noise end the fit there), or wander until ``max_iter``.

So after the engine, where the loss test is blind at the final point, :func:`finish` takes
Newton steps ``θ ← θ - H⁺ g`` with the factorization's exact ``H⁺`` (from Filip's plateau one
or two reach the noise floor), then ``REFINE_STEPS`` more once the certificate holds: that is
iterative refinement, which goes on removing error that the certificate's margin still allows
(on Filip over 24 row orders: median LRE 7.1 at the first certified point, 7.5 after three
steps, no gain after). All steps count as iterations, within ``max_iter``. The result is the
last point the certificate holds; if none, the status says ``"uncertified"``, not converged.
Fits whose loss test works at the end, and fits without a certificate, are returned unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax
import numpy as np

from dl_workshop._executables import cached_call
from dl_workshop._precision import precision
from dl_workshop.engine.options import RUN_ONCE_OPTIONS, small_options_usable
from dl_workshop.estimator.certificate import certificate_flags, loss_test_blind, newton_step
from dl_workshop.estimator.params import Hyperparameters
from dl_workshop.estimator.problem import Problem, certified_parts, host_parts

#: The most Newton steps the finisher takes (each is exact up to rounding).
NEWTON_STEPS = 8

#: Newton steps taken after the first certified point (iterative refinement; LAPACK's
#: refinement routines stop after at most five).
REFINE_STEPS = 3

#: The status of a fit the finisher could not certify (see :func:`finish`).
UNCERTIFIED = "uncertified"


def _newton_impl(params: dict, data: Problem):
    """``(value, params after a Newton step, blind, held)`` at ``params``."""
    value, grads, residual_power = certified_parts(params, data)
    blind, held = certificate_flags(params, grads, value, residual_power, data)
    return value, newton_step(params, grads, data), blind, held


_newton = jax.jit(_newton_impl)
# Run once or a few times per fit: compiling it fast matters more than its speed.
_newton_small = jax.jit(_newton_impl, compiler_options=RUN_ONCE_OPTIONS)


def _newton_step(params: dict, data: Problem):
    # From the executable cache: a second process neither traces nor compiles it.
    with contextlib.suppress(jax.errors.JaxRuntimeError):  # e.g. refused small options
        if jax.default_backend() == "cpu" and small_options_usable():
            return cached_call(_newton_small, f"{__name__}._newton(small=True)", (params, data))
    return cached_call(_newton, f"{__name__}._newton", (params, data))


def finish(result: Any, problem: Problem, settings: Hyperparameters) -> Any:
    """The engine's ``FitResult``, finished by Newton steps where the loss test is blind.

    Args:
        result: the engine's ``FitResult`` (``theta``, ``losses``, ``n_steps``, ``status``).
        problem: the scaled, padded problem it solved (with its certificate, if any).
        settings: the hyperparameters (``max_iter`` bounds the steps, ``dtype``).

    Returns:
        ``result`` unchanged (no certificate, diverged, or the loss test resolves ``tol`` at
        the final point), or the last certified point of the Newton steps with their losses
        and count, status ``"converged"``; without one, the last point with status
        ``"uncertified"`` (``"max_steps"`` if ``max_iter`` left no step).

    Example:
        >>> import numpy as np
        >>> from dl_workshop.engine.result import FitResult
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> from dl_workshop.estimator.params import validate_hyperparameters
        >>> from dl_workshop.estimator.problem import build_problem, fit_scaling, pad_params
        >>> x, ys, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.ones(3)
        >>> problem, shape, _ = build_problem(  # certify_tol=0: count the loss test as blind
        ...     x, ys, w, fit_scaling(x, ys, w, True, True), alpha=0.0, fit_intercept=True,
        ...     dtype=np.float64, certify_tol=0.0)
        >>> start = pad_params({"w": np.zeros((1, 1)), "b": np.zeros(1)}, shape)
        >>> stopped = FitResult(theta=start, losses=np.ones(5), n_steps=5, status="converged")
        >>> settings = validate_hyperparameters(GradientDescentRegressor().get_params())
        >>> done = finish(stopped, problem, settings)
        >>> done.status, done.n_steps  # one Newton step to certify, then REFINE_STEPS more
        ('converged', 9)
    """
    if not np.isfinite(problem.certify_tol) or result.status == "diverged":
        return result
    theta = jax.tree_util.tree_map(np.asarray, result.theta)
    if not loss_test_blind(theta, *host_parts(theta, problem), problem, settings.dtype):
        return result  # the loss test resolves tol here: its verdict stands
    budget = min(NEWTON_STEPS, settings.max_iter - int(result.n_steps))
    with precision(settings.dtype):
        value, stepped, blind, held = _newton_step(result.theta, problem)
        path, losses, certified = [result.theta], [], [bool(held)]
        while len(losses) < budget and _refining(certified):
            losses.append(float(value))
            path.append(stepped)
            value, stepped, blind, held = _newton_step(stepped, problem)
            certified.append(bool(held) or not bool(blind))
    if any(certified):
        end = max(i for i, ok in enumerate(certified) if ok)
        status = "converged"
    else:
        end = len(losses)
        status = "max_steps" if result.status == "max_steps" and not losses else UNCERTIFIED
    return result._replace(
        theta=jax.tree_util.tree_map(np.asarray, path[end]),
        losses=np.concatenate([np.asarray(result.losses), np.asarray(losses[:end])]),
        n_steps=int(result.n_steps) + end,
        status=status,
    )


def _refining(certified: list[bool]) -> bool:
    """Whether to take another step: not yet ``REFINE_STEPS`` past the first certified point."""
    first = next((i for i, ok in enumerate(certified) if ok), None)
    return first is None or len(certified) - 1 - first < REFINE_STEPS
