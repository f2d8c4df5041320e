"""The checker of the first exercise, ``linear_model(theta, x)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import describe
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks.compare import _as_float_array, _close, _flat, _show, _show_params
from dl_workshop.teaching.checks.inputs import _N_MODEL, _containers, _signed
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    ExerciseError,
    _attempt,
    _error_fail,
    _error_hint,
    _fail,
    _first_line,
    _require_callable,
    _require_signature,
    _success,
    grad_of,
)

#: The forms each value of ``form`` checks, in order.
_FORMS = {"scalar": ("scalar",), "matrix": ("matrix",), "both": ("scalar", "matrix")}

#: The exercise (see :mod:`~dl_workshop.teaching.checks.registry`) a case of each form checks, named
#: in its messages.
_NAMES = {"scalar": "linear_model", "matrix": "linear_model_matrix"}

#: The exercises a check of each form is a check of.
_EXERCISES = {
    "scalar": ("linear_model",),
    "matrix": ("linear_model_matrix",),
    "both": ("linear_model", "linear_model_matrix"),
}

#: Random cases per form.
_CASES_PER_FORM = 2

#: Words in NumPy's and JAX's errors for a matrix product whose shapes do not fit.
_MATMUL_WORDS = ("matmul", "dot_general", "core dimension", "contracting", "dot")


class _ModelCase(NamedTuple):
    form: str
    w: Any
    b: Any
    x: np.ndarray
    expected: np.ndarray

    @property
    def name(self) -> str:
        """The exercise this case checks, named in its messages."""
        return _NAMES[self.form]


def check_linear_model(
    fn: Callable[[Any, Any], Any], *, form: str = "scalar", seed: int | None = None
) -> bool:
    """Check the learner's ``linear_model(theta, x)`` against the reference.

    Draws fresh random parameters and data on every call and compares predictions (values and
    shape) and their gradient with respect to ``theta``, passing ``theta`` both as a dict
    ``{"w": w, "b": b}`` and as a tuple ``(w, b)``; the function must work with at least one of
    them (the lesson lets the learner choose).

    Args:
        fn: the learner's function ``fn(theta, x) -> predictions``.
        form: ``"scalar"`` (the lesson's exercise: scalar ``w`` and ``b``, ``x`` of shape
            ``(n,)``), ``"matrix"`` (``w`` of shape ``(d_in, d_out)``, ``b`` of shape
            ``(d_out,)``, ``x`` of shape ``(n, d_in)``) or ``"both"``.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``;
            by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.
        ValueError: if ``form`` is not one of the three forms.

    Example:
        >>> from dl_workshop.teaching.checks import check_linear_model
        >>> def linear_model(theta, x):
        ...     return theta["w"] * x + theta["b"]
        >>> check_linear_model(linear_model, seed=0)  # doctest: +ELLIPSIS
        ✓ linear_model ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if form not in _FORMS:
        raise ValueError(hints.BAD_FORM.format(form=form))
    with checking(*_EXERCISES[form], seed=seed) as rng:
        name = _NAMES[_FORMS[form][0]]
        _require_callable(fn, name, hints.MODEL_DEFINITION.format(name=name))
        _require_signature(fn, name, hints.MODEL_CALL.format(name=name), None, None)
        accepted: set[str] = set()
        for which in _FORMS[form]:
            for _ in range(_CASES_PER_FORM):
                accepted.update(_check_model_case(fn, _model_case(rng, which)))
        kinds = " and ".join(hints.PARAMS_KIND.format(container=c) for c in sorted(accepted))
        message = hints.MODEL_SUCCESS.format(
            name=" and ".join(_NAMES[which] for which in _FORMS[form]),
            n_cases=len(_FORMS[form]) * _CASES_PER_FORM,
            forms=" and ".join(_FORMS[form]),
            kinds=kinds,
        )
        return _success(message)


def _model_case(rng: np.random.Generator, form: str) -> _ModelCase:
    if form == "scalar":
        x = np.sort(rng.uniform(-5.0, 5.0, _N_MODEL))
        w, b = float(_signed(rng, 1.5, 4.0)), float(_signed(rng, 5.0, 10.0))
        return _ModelCase(form, w, b, x, w * x + b)
    # Sample count and both widths pairwise different, so that w * x and w @ x cannot broadcast
    # or contract by accident.
    d_in, d_out = 3, 2
    x = rng.uniform(-5.0, 5.0, (_N_MODEL, d_in))
    w = _signed(rng, 0.5, 3.0, (d_in, d_out))
    b = _signed(rng, 2.0, 8.0, (d_out,))
    return _ModelCase(form, w, b, x, x @ w + b)


def _check_model_case(fn: Callable[..., Any], case: _ModelCase) -> list[str]:
    """Check one input case with dict and tuple params; return the containers that worked."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    outcomes = {
        label: (theta, _attempt(fn, theta, case.x)) for label, theta in _containers(case.w, case.b)
    }
    for _, outcome in outcomes.values():
        if outcome.ok and outcome.value is None:
            raise _fail(
                case.name,
                hints.EXPECTED_PREDICTIONS.format(expected=_expected_text(case)),
                "None",
                hints.HINT_MODEL_RETURNS_NONE,
            )
    working = {label: (theta, o.value) for label, (theta, o) in outcomes.items() if o.ok}
    if not working:
        _require_params_first(fn, case)
        raise _both_failed(case, outcomes["dict"][1].value)
    for label, (theta, value) in working.items():
        _check_predictions(case, value, label)
        _check_model_gradient(fn, case, theta)
    return sorted(working)


def _require_params_first(fn: Callable[..., Any], case: _ModelCase) -> None:
    """A function that fails with theta first but works with x first has its arguments swapped."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    for _label, theta in _containers(case.w, case.b):
        swapped = _attempt(fn, case.x, theta)
        if swapped.ok and swapped.value is not None:
            got = _as_float_array(swapped.value)
            if got is not None and _close(got, case.expected):
                raise _fail(
                    case.name,
                    hints.EXPECTED_PARAMS_FIRST.format(name=case.name),
                    hints.GOT_DATA_FIRST.format(name=case.name),
                    hints.HINT_PARAMS_FIRST.format(name=case.name),
                )


def _both_failed(case: _ModelCase, exc: BaseException) -> ExerciseError:
    """The failure when dict and tuple params both raised; ``exc`` is what the dict raised."""
    return _fail(
        case.name,
        hints.EXPECTED_EITHER_CONTAINER.format(expected=_expected_text(case)),
        hints.GOT_ERROR_FOR_BOTH.format(error=_first_line(exc)),
        _model_exception_hint(case, exc),
    )


def _model_exception_hint(case: _ModelCase, exc: BaseException) -> str:
    text = str(exc)
    if case.form == "matrix" and "broadcast" in text:
        return hints.HINT_MATRIX_BROADCAST
    if case.form == "matrix" and any(word in text for word in _MATMUL_WORDS):
        return hints.HINT_MATMUL_ORDER
    if case.form == "scalar" and "matmul" in text:
        return hints.HINT_SCALAR_MATMUL
    return _error_hint(exc, case.name)


def _expected_text(case: _ModelCase) -> str:
    if case.form == "scalar":
        return hints.EXPECTED_SCALAR_MODEL.format(values=_show(case.expected))
    return hints.EXPECTED_MATRIX_MODEL.format(shape=case.expected.shape)


def _check_predictions(case: _ModelCase, value: Any, label: str) -> None:
    """Predictions are numbers, of the expected shape and values (``label``: the container)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    got = _as_float_array(value)
    if got is None:
        raise _fail(
            case.name,
            hints.EXPECTED_PREDICTIONS.format(expected=_expected_text(case)),
            describe(value),
            hints.HINT_RETURN_ARRAY,
        )
    if got.shape != case.expected.shape:
        raise _fail(
            case.name,
            hints.EXPECTED_SHAPE.format(shape=case.expected.shape),
            hints.GOT_SHAPE.format(shape=got.shape),
            _shape_hint(case, got),
        )
    if not _close(got, case.expected):
        raise _fail(
            case.name, _expected_text(case), _show(got), _diagnose_model_values(case, got, label)
        )


def _shape_hint(case: _ModelCase, got: np.ndarray) -> str:
    if got.ndim == 0:
        return hints.HINT_ONE_NUMBER
    if case.form == "matrix":
        return hints.HINT_MATRIX_SHAPE
    return hints.HINT_SCALAR_SHAPE


def _diagnose_model_values(case: _ModelCase, got: np.ndarray, label: str) -> str:
    w, b, x = case.w, case.b, case.x
    product = w * x if case.form == "scalar" else x @ w
    if _close(got, product):
        return hints.HINT_OFF_BY_B
    if _close(got, product - b):
        return hints.HINT_BIAS_SIGN
    if case.form == "scalar" and _close(got, b * x + w):
        order = hints.TUPLE_ORDER if label == "tuple" else hints.DICT_ORDER
        return hints.HINT_SWAPPED.format(order=order)
    if case.form == "scalar" and _close(got, w * x):
        return hints.HINT_FORGOT_BIAS
    return hints.HINT_MODEL_FROM_ARGUMENTS


def _check_model_gradient(fn: Callable[..., Any], case: _ModelCase, theta: Any) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    cotangent = np.random.default_rng(0).normal(size=case.expected.shape)
    # d/dw and d/db of sum(cotangent * (x·w + b)), by hand.
    if case.form == "scalar":
        grad_w, grad_b = float(np.sum(cotangent * case.x)), float(np.sum(cotangent))
    else:
        grad_w, grad_b = case.x.T @ cotangent, cotangent.sum(axis=0)
    expected = {"w": grad_w, "b": grad_b} if isinstance(theta, dict) else (grad_w, grad_b)
    outcome = _attempt(grad_of(fn, cotangent=cotangent), theta, case.x)
    if not outcome.ok:
        raise _error_fail(
            case.name, hints.EXPECTED_DIFFERENTIABLE_MODEL, hints.GOT_GRAD_FAILED, outcome.value
        )
    if not _close(_flat(outcome.value), _flat(expected), rtol=1e-3):
        raise _fail(
            case.name,
            hints.EXPECTED_MODEL_GRADIENT.format(gradient=_show_params(expected)),
            _show_params(outcome.value),
            hints.HINT_MODEL_HIDDEN_GRADIENT,
        )
