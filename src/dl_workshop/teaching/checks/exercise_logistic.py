"""The checkers of the lesson "Logistic regression": ``logistic``, ``logistic_model``,
``logistic_loss`` (the summed negative log-likelihood) and ``dlogistic_loss = grad(...)``.

References are computed with NumPy in float64 on random parameters and data whose
probabilities stay away from 0 and 1, so that float32 answers compare at the usual tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import describe
from dl_workshop.lesson.logistic import logistic_model
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks import hints_chapter as text
from dl_workshop.teaching.checks.compare import (
    _as_float_array,
    _close,
    _flat,
    _known_mistake,
    _same_structure,
    _show,
    _show_params,
)
from dl_workshop.teaching.checks.inputs import _signed
from dl_workshop.teaching.checks.probe_functions import projected_output, sine_logistic_model
from dl_workshop.teaching.checks.registry import checking
from dl_workshop.teaching.checks.runner import (
    _attempt,
    _error_fail,
    _fail,
    _require_callable,
    _require_signature,
    _success,
    grad_of,
)

#: Points per case (fixed: JAX compiles each operation once per shape).
_N = 13
#: Gradients are compared more loosely than values: they go through more arithmetic.
_GRAD_RTOL = 1e-3


def _sigmoid(z: Any) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


class _Case(NamedTuple):
    theta: dict[str, float]
    model: Callable[..., Any]
    x: np.ndarray
    y: np.ndarray  # 0/1 labels, integers
    p: np.ndarray  # the model's probabilities, float64
    features: np.ndarray  # what w multiplies: x, or sin(x)

    @property
    def loss(self) -> float:
        return float(-np.sum(self.y * np.log(self.p) + (1 - self.y) * np.log1p(-self.p)))

    @property
    def grad(self) -> dict[str, float]:
        error = self.p - self.y
        return {"w": float(np.sum(error * self.features)), "b": float(np.sum(error))}


def _case(rng: np.random.Generator, model: Callable[..., Any]) -> _Case:
    theta = {"w": float(_signed(rng, 0.5, 1.5)), "b": float(_signed(rng, 0.2, 1.0))}
    x = np.sort(rng.uniform(-3.0, 3.0, _N))
    features = np.sin(x) if model is sine_logistic_model else x
    p = _sigmoid(theta["w"] * features + theta["b"])
    y = (rng.uniform(size=_N) < p).astype(int)
    y[:2] = [0, 1]  # both classes, whatever the draw
    return _Case(theta, model, x, y, p, features)


def _cases(rng: np.random.Generator) -> list[_Case]:
    models = (logistic_model, logistic_model, sine_logistic_model)
    return [_case(rng, model) for model in models]


def _values(name: str, outcome: Any, expected: str, shape: tuple[int, ...]) -> np.ndarray:
    """The learner's returned values as floats of ``shape``, or the failure saying why not."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if not outcome.ok:
        raise _error_fail(name, expected, hints.GOT_AN_ERROR, outcome.value)
    if outcome.value is None:
        raise _fail(name, expected, "None", text.HINT_RETURNS_NONE)
    got = _as_float_array(outcome.value)
    if got is None or got.shape != shape:
        raise _fail(name, expected, describe(outcome.value), text.HINT_NOT_A_NUMBER)
    return got


def _differentiable(name: str, function: Callable[..., Any], args: tuple, want: Any,
                    expected: str, hint: str) -> None:  # fmt: skip
    """``function(*args)`` (a gradient from
    :func:`~dl_workshop.teaching.checks.runner.grad_of`) runs and equals ``want``."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    outcome = _attempt(function, *args)
    if not outcome.ok:
        raise _error_fail(name, expected, hints.GOT_AN_ERROR, outcome.value)
    if not _close(_flat(outcome.value), _flat(want), rtol=_GRAD_RTOL):
        raise _fail(name, expected, _show_params(outcome.value), hint)


def check_logistic(fn: Callable[[Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``logistic(z) = 1 / (1 + exp(-z))`` on random arrays.

    Args:
        fn: the learner's function ``logistic(z)``.
        seed: draw the same random values as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> import jax.numpy as jnp
        >>> check_logistic(lambda z: 1 / (1 + jnp.exp(-z)), seed=0)  # doctest: +ELLIPSIS
        ✓ logistic is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("logistic", seed=seed) as rng:
        _require_callable(fn, "logistic", text.LOGISTIC_DEFINITION)
        _require_signature(fn, "logistic", text.LOGISTIC_CALL, None)
        z = np.append(_signed(rng, 0.2, 6.0, _N - 1), 0.0)
        want = _sigmoid(z)
        expected = text.EXPECTED_PROBABILITIES.format(values=_show(want))
        got = _values("logistic", _attempt(fn, jnp.asarray(z)), expected, z.shape)
        if not _close(got, want):
            mistakes = [(_sigmoid(-z), text.HINT_LOGISTIC_SIGN), (z, text.HINT_LOGISTIC_IDENTITY)]
            hint = _known_mistake(got, mistakes, text.HINT_LOGISTIC_OTHER)
            raise _fail("logistic", expected, _show(got), hint)
        slope = float(want[0] * (1 - want[0]))
        _differentiable("logistic", grad_of(fn), (float(z[0]),), slope,
                        text.EXPECTED_LOGISTIC_GRADIENT.format(gradient=f"{slope:.4g}"),
                        text.HINT_LOGISTIC_DIFFERENTIABLE)  # fmt: skip
        return _success(text.LOGISTIC_SUCCESS.format(n=z.size))


def check_logistic_model(fn: Callable[[Any, Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``logistic_model(theta, x) = logistic(w * x + b)``, ``theta`` a dict
    ``{"w": w, "b": b}`` of numbers and ``x`` of shape ``(n,)``.

    Args:
        fn: the learner's function ``logistic_model(theta, x)``.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> from dl_workshop import logistic_model
        >>> check_logistic_model(logistic_model, seed=0)  # doctest: +ELLIPSIS
        ✓ logistic_model is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("logistic_model", seed=seed) as rng:
        _require_callable(fn, "logistic_model", text.LOGISTIC_MODEL_DEFINITION)
        _require_signature(fn, "logistic_model", text.LOGISTIC_MODEL_CALL, None, None)
        cases = [_case(rng, logistic_model) for _ in range(2)]
        for case in cases:
            _check_model_case(fn, case)
        case = cases[0]
        slopes = case.p * (1 - case.p)
        want = {"w": float(np.sum(slopes * case.x)), "b": float(np.sum(slopes))}
        _differentiable(
            "logistic_model", grad_of(projected_output),
            (case.theta, fn, case.x, np.ones(_N)), want,
            text.EXPECTED_LOGISTIC_GRADIENT.format(gradient=_show_params(want)),
            text.HINT_MODEL_DIFFERENTIABLE,
        )  # fmt: skip
        return _success(text.LOGISTIC_MODEL_SUCCESS.format(n=len(cases)))


def _check_model_case(fn: Callable[..., Any], case: _Case) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = text.EXPECTED_MODEL_PROBABILITIES.format(values=_show(case.p))
    theta = {name: jnp.float32(value) for name, value in case.theta.items()}
    got = _values("logistic_model", _attempt(fn, theta, case.x), expected, case.x.shape)
    if _close(got, case.p):
        return
    w, b = case.theta["w"], case.theta["b"]
    mistakes = [
        (w * case.x + b, text.HINT_MODEL_NO_LOGISTIC),
        (_sigmoid(w * case.x) + b, text.HINT_MODEL_BIAS_OUTSIDE),
        (_sigmoid(w * case.x - b), text.HINT_MODEL_BIAS_SIGN),
    ]
    raise _fail("logistic_model", expected, _show(got),
                _known_mistake(got, mistakes, text.HINT_MODEL_OTHER))  # fmt: skip


def check_logistic_loss(fn: Callable[..., Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``logistic_loss(theta, model, x, y)``: the negative log-likelihood
    ``-sum(y log p + (1 - y) log(1 - p))`` of the labels under ``p = model(theta, x)``, summed
    over the points, and its gradient.

    Args:
        fn: the learner's function.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> from dl_workshop import logistic_loss
        >>> check_logistic_loss(logistic_loss, seed=0)  # doctest: +ELLIPSIS
        ✓ logistic_loss is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("logistic_loss", seed=seed) as rng:
        _require_callable(fn, "logistic_loss", text.LOGISTIC_LOSS_DEFINITION)
        _require_signature(fn, "logistic_loss", text.LOGISTIC_LOSS_CALL, None, None, None, None)
        cases = _cases(rng)
        for case in cases:
            _check_loss_case(fn, case)
            _differentiable(
                "logistic_loss", grad_of(fn), (case.theta, case.model, case.x, case.y),
                case.grad,
                text.EXPECTED_LOGISTIC_GRADIENT.format(gradient=_show_params(case.grad)),
                text.HINT_LOSS_GRADIENT,
            )  # fmt: skip
        return _success(text.LOGISTIC_LOSS_SUCCESS.format(n=len(cases)))


def _check_loss_case(fn: Callable[..., Any], case: _Case) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = text.EXPECTED_LOGISTIC_LOSS.format(value=case.loss)
    outcome = _attempt(fn, case.theta, case.model, case.x, case.y)
    got = _values("logistic_loss", outcome, expected, ())
    if _close(got, case.loss):
        return
    if not np.isfinite(got):
        raise _fail("logistic_loss", expected, _show(got), text.HINT_LOSS_NOT_FINITE)
    hint = _known_mistake(got, _loss_mistakes(case), text.HINT_LOSS_OTHER)
    raise _fail("logistic_loss", expected, _show(got), hint)


def _loss_mistakes(case: _Case) -> list[tuple[float, str]]:
    """The values of the usual wrong losses for this case, each with its hint."""
    y, p = case.y, case.p
    eps = float(np.finfo(np.float32).eps)
    labels = np.clip(y, eps, 1 - eps)  # binary_cross_entropy(p, y): the labels clipped
    mistakes = [
        (case.loss / y.size, text.HINT_LOSS_MEAN),
        (-case.loss, text.HINT_LOSS_NEGATED),
        (float(-np.sum(p * np.log(labels) + (1 - p) * np.log1p(-labels))), text.HINT_LOSS_SWAPPED),
        (float(-np.sum(y * np.log(p))), text.HINT_LOSS_ONE_TERM),
    ]
    if case.model is not logistic_model:
        plain = _sigmoid(case.theta["w"] * case.x + case.theta["b"])
        ignored = float(-np.sum(y * np.log(plain) + (1 - y) * np.log1p(-plain)))
        mistakes.append((ignored, text.HINT_LOSS_IGNORES_MODEL))
    return mistakes


def check_dlogistic_loss(fn: Any, *, seed: int | None = None) -> bool:
    """Check the learner's ``dlogistic_loss = grad(logistic_loss)`` against the exact gradient
    ``sum((p - y) x)``, ``sum(p - y)``.

    Args:
        fn: the learner's gradient function ``fn(theta, model, x, y)``.
        seed: draw the same random inputs as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> from dl_workshop import dlogistic_loss
        >>> check_dlogistic_loss(dlogistic_loss, seed=0)  # doctest: +ELLIPSIS
        ✓ dlogistic_loss is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("dlogistic_loss", seed=seed) as rng:
        _require_callable(fn, "dlogistic_loss", text.DLOGISTIC_LOSS_DEFINITION)
        _require_signature(
            fn, "dlogistic_loss", text.DLOGISTIC_LOSS_CALL, None, None, None, None
        )
        cases = _cases(rng)
        for case in cases:
            _check_gradient_case(fn, case)
        return _success(text.DLOGISTIC_LOSS_SUCCESS.format(n=len(cases)))


def _check_gradient_case(fn: Callable[..., Any], case: _Case) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = text.EXPECTED_LOGISTIC_GRADIENT.format(gradient=_show_params(case.grad))
    outcome = _attempt(fn, case.theta, case.model, case.x, case.y)
    if not outcome.ok:
        raise _error_fail("dlogistic_loss", expected, hints.GOT_AN_ERROR, outcome.value)
    value = outcome.value
    if value is None:
        raise _fail("dlogistic_loss", expected, "None", text.HINT_RETURNS_NONE)
    if np.ndim(value) == 0 and _as_float_array(value) is not None:
        raise _fail("dlogistic_loss", expected, _show(value), text.HINT_LOGISTIC_GRADIENT_VALUE)
    if not _same_structure(value, case.theta):
        raise _fail("dlogistic_loss", expected, describe(value), text.HINT_LOGISTIC_GRADIENT_OTHER)
    got, want = _flat(value), _flat(case.grad)
    if _close(got, want, rtol=_GRAD_RTOL):
        return
    mistakes = [
        (-want, text.HINT_LOGISTIC_GRADIENT_SIGN),
        (want / case.y.size, text.HINT_LOGISTIC_GRADIENT_MEAN.format(n=case.y.size)),
    ]
    hint = _known_mistake(got, mistakes, text.HINT_LOGISTIC_GRADIENT_OTHER, rtol=_GRAD_RTOL)
    raise _fail("dlogistic_loss", expected, _show_params(value), hint)
