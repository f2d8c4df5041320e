"""The checker of ``dmseloss``, the gradient function ``jax.grad(mseloss)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe, unpack_linear_params
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks.compare import (
    _as_float_array,
    _close,
    _flat,
    _known_mistake,
    _same_structure,
    _show,
    _show_params,
)
from dl_workshop.teaching.checks.inputs import _linear_loss_cases, _LossCase
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _require_callable,
    _require_signature,
    _success,
)

_EXERCISE = "dmseloss"

#: Gradients are compared more loosely than values: they go through more arithmetic.
_GRAD_RTOL = 1e-3


def check_dmseloss(fn: Callable[[Any, Any, Any, Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``dmseloss`` (``jax.grad(mseloss)``) against the reference gradient.

    Draws fresh random data on every call and compares the gradient's structure (the same as
    ``theta``'s: a dict for a dict, a tuple for a tuple) and values, in scalar and matrix form.

    Args:
        fn: the learner's function ``fn(theta, model, x, y) -> gradient shaped like theta``.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``;
            by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> import jax
        >>> from dl_workshop import mseloss
        >>> from dl_workshop.teaching.checks import check_dmseloss
        >>> check_dmseloss(jax.grad(mseloss), seed=0)  # doctest: +ELLIPSIS
        ✓ dmseloss ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking(_EXERCISE, seed=seed) as rng:
        _require_gradient_function(fn)
        _require_signature(
            fn,
            _EXERCISE,
            hints.DMSELOSS_CALL,
            None,
            None,
            None,
            None,
            hint=hints.HINT_GRADIENT_SIGNATURE,
        )
        cases = _linear_loss_cases(rng)
        for case in cases:
            _check_gradient_case(fn, case)
        return _success(hints.DMSELOSS_SUCCESS.format(n_cases=len(cases)))


def _require_gradient_function(fn: Any) -> None:
    """A function, and not the gradient it gives at one theta."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if fn is not None and not callable(fn):
        raise _fail(
            _EXERCISE,
            hints.EXPECTED_GRADIENT_FUNCTION,
            describe(fn),
            hints.HINT_GRADIENT_CALLED,
        )
    _require_callable(fn, _EXERCISE, hints.DMSELOSS_DEFINITION)


def _check_gradient_case(fn: Callable[..., Any], case: _LossCase) -> None:
    """The gradient runs, has theta's structure and shapes, and the reference's values."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    structure = hints.DICT_GRADIENT if isinstance(case.theta, dict) else hints.TUPLE_GRADIENT
    expected = hints.EXPECTED_GRADIENT.format(
        structure=structure, gradient=_show_params(case.grad), case=case.description
    )
    outcome = _attempt(fn, case.theta, case.model, case.x, case.y)
    if not outcome.ok:
        raise _error_fail(_EXERCISE, expected, hints.GOT_AN_ERROR, outcome.value)
    value = outcome.value
    if value is None:
        raise _fail(_EXERCISE, expected, "None", hints.HINT_GRADIENT_RETURNS_NONE)
    _reject_a_loss(value, case, expected)
    _reject_other_arguments(value, case, expected)
    _require_structure(value, case, expected)
    got, want = _flat(value), _flat(case.grad)
    if got.shape != want.shape:
        raise _fail(_EXERCISE, expected, _show(got), hints.HINT_GRADIENT_SHAPES)
    if not _close(got, want, rtol=_GRAD_RTOL):
        hint = _gradient_hint(got, want, len(case.y))
        raise _fail(_EXERCISE, expected, _show_params(value), hint)


def _reject_a_loss(value: Any, case: _LossCase, expected: str) -> None:
    """A single number, or the pair ``jax.value_and_grad`` returns, is not the gradient."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    as_number = _as_float_array(value) if not isinstance(value, (dict, tuple, list)) else None
    if as_number is not None and as_number.shape == ():
        if _close(as_number, case.loss):
            hint = hints.HINT_RETURNS_LOSS
        else:
            hint = hints.HINT_ONE_ENTRY_PER_PARAMETER
        raise _fail(_EXERCISE, expected, _show(as_number), hint)
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and np.shape(value[0]) == ()
        and _same_structure(value[1], case.theta)
    ):
        raise _fail(_EXERCISE, expected, hints.GOT_VALUE_AND_GRAD, hints.HINT_VALUE_AND_GRAD)


def _reject_other_arguments(value: Any, case: _LossCase, expected: str) -> None:
    """A gradient with respect to x or y (or to several arguments) names its ``argnums``."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if (
        isinstance(value, tuple)
        and len(value) >= 2
        and _same_structure(value[0], case.theta)
        and not _same_structure(value, case.theta)
    ):
        argument = hints.SEVERAL_ARGUMENTS
        got = hints.GOT_GRADIENT_OF.format(argument=argument, value=describe(value))
        hint = hints.HINT_ARGNUMS.format(argument=argument, argnums=hints.SEVERAL_ARGNUMS)
        raise _fail(_EXERCISE, expected, got, hint)
    got = _as_float_array(value) if not isinstance(value, (dict, tuple, list)) else None
    if got is None or got.ndim == 0:
        return
    # d loss / d y is 2 (y - y_pred) / size; d loss / d x is that times -w, summed over outputs.
    w, _ = unpack_linear_params(case.theta)
    by_y = 2.0 * case.residual / case.residual.size
    by_x = -by_y * w if np.ndim(w) == 0 else -by_y @ np.asarray(w).T
    for argument, argnums, gradient in (("y", 3, by_y), ("x", 2, by_x)):
        if got.shape == gradient.shape and _close(got, gradient, rtol=_GRAD_RTOL):
            raise _fail(
                _EXERCISE,
                expected,
                hints.GOT_GRADIENT_OF.format(argument=argument, value=_show(got)),
                hints.HINT_ARGNUMS.format(argument=argument, argnums=argnums),
            )


def _require_structure(value: Any, case: _LossCase, expected: str) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if not _same_structure(value, case.theta):
        raise _fail(_EXERCISE, expected, describe(value), hints.HINT_GRADIENT_STRUCTURE)


def _gradient_hint(got: np.ndarray, want: np.ndarray, n: int) -> str:
    """The known mistake whose gradient ``got`` is (``n`` samples), else the likely one."""
    mistakes = [
        (-want, hints.HINT_GRADIENT_SIGN),
        (n * want, hints.HINT_GRADIENT_N_TIMES.format(n=n)),
        (want / 2, hints.HINT_GRADIENT_HALF),
    ]
    return _known_mistake(got, mistakes, hints.HINT_GRADIENT_OTHER, rtol=_GRAD_RTOL)
