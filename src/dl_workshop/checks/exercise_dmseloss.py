"""The checker of ``dmseloss``, the gradient function ``jax.grad(mseloss)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe
from dl_workshop.checks import hints
from dl_workshop.checks.compare import (
    _as_float_array,
    _close,
    _flat,
    _same_structure,
    _show,
    _show_params,
)
from dl_workshop.checks.inputs import _check_seed, _linear_loss_cases, _LossCase
from dl_workshop.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _require_callable,
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
        seed: make the random inputs reproducible (tests); by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.

    Example:
        >>> import jax
        >>> from dl_workshop import mseloss
        >>> from dl_workshop.checks import check_dmseloss
        >>> check_dmseloss(jax.grad(mseloss), seed=0)  # doctest: +ELLIPSIS
        ✓ dmseloss ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    rng = _check_seed(seed)
    _require_gradient_function(fn)
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
    for candidate, hint in mistakes:
        if _close(got, candidate, rtol=_GRAD_RTOL):
            return hint
    return hints.HINT_GRADIENT_OTHER
