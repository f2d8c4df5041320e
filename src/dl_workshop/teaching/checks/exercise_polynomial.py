"""The checkers of the lesson "Gradient-based optimization": ``f(w) = w**2 + 3*w - 5``, its
derivative ``df`` by hand, ``dfdw = grad(f)`` and ``descend``, the gradient-descent loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dl_workshop._validation import describe
from dl_workshop.lesson.polynomial import df as reference_df
from dl_workshop.lesson.polynomial import f as reference_f
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks import hints_chapter as text
from dl_workshop.teaching.checks.compare import _as_float_array, _close, _known_mistake, _show
from dl_workshop.teaching.checks.inputs import _signed
from dl_workshop.teaching.checks.probe_functions import BOWLS
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

#: Random points each value check uses.
_N_POINTS = 5
#: Random runs of the loop ``descend`` is checked on.
_N_RUNS = 3

#: Usual wrong versions of f and of its derivative, each with its hint.
_F_MISTAKES: tuple[tuple[Callable[[float], float], str], ...] = (
    (lambda w: w**2 + 3 * w, text.HINT_F_CONSTANT),
    (lambda w: w**2 + 3 * w + 5, text.HINT_F_CONSTANT),
    (lambda w: w**2 - 3 * w - 5, text.HINT_F_LINEAR),
    (lambda w: 2 * w + 3 * w - 5, text.HINT_F_SQUARE),
    (lambda w: 2 * w + 3, text.HINT_F_IS_DF),
)
_DF_MISTAKES: tuple[tuple[Callable[[float], float], str], ...] = (
    (reference_f, text.HINT_DF_IS_F),
    (lambda w: 2 * w, text.HINT_DF_CONSTANT),
    (lambda w: w + 3, text.HINT_DF_SQUARE),
    (lambda w: 2 * w - 2, text.HINT_DF_KEPT_CONSTANT),
    (lambda w: -(2 * w + 3), text.HINT_DF_SIGN),
)


def _points(rng: np.random.Generator) -> np.ndarray:
    """Random points of shape ``(_N_POINTS,)``, away from 0 and from each other."""
    return np.asarray(_signed(rng, 0.3, 6.0, _N_POINTS), dtype=float)


def _raised(name: str, expected: str, exc: BaseException) -> Exception:
    """The failure for learner code that raised ``exc`` (``^`` for a power gets its own hint)."""
    if isinstance(exc, TypeError) and "for ^" in str(exc):
        return _fail(name, expected, f"{type(exc).__name__}: {exc}", text.HINT_CARET)
    return _error_fail(name, expected, hints.GOT_AN_ERROR, exc)


def _check_values(fn: Callable[..., Any], name: str, reference: Callable, mistakes: tuple,
                  other: str, points: np.ndarray) -> None:  # fmt: skip
    """``fn(w)`` is one number equal to ``reference(w)`` at every point (else the mistake's
    hint)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    for w in points:
        want = reference(float(w))
        expected = text.EXPECTED_VALUE_AT.format(name=name, w=w, value=want)
        outcome = _attempt(fn, float(w))
        if not outcome.ok:
            raise _raised(name, expected, outcome.value)
        if outcome.value is None:
            raise _fail(name, expected, "None", text.HINT_RETURNS_NONE)
        got = _as_float_array(outcome.value)
        if got is None or got.shape != ():
            raise _fail(name, expected, describe(outcome.value), text.HINT_NOT_A_NUMBER)
        if not _close(got, want):
            hint = _known_mistake(got, [(wrong(float(w)), h) for wrong, h in mistakes], other)
            raise _fail(name, expected, _show(got), hint)


def _check_elementwise(fn: Callable[..., Any], name: str, reference: Callable,
                       points: np.ndarray) -> None:  # fmt: skip
    """``fn`` of an array is the array of its values."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    want = reference(points)
    expected = text.EXPECTED_ELEMENTWISE.format(name=name, values=_show(want))
    outcome = _attempt(fn, points)
    if not outcome.ok:
        raise _fail(name, expected, describe(outcome.value), text.HINT_ELEMENTWISE)
    got = _as_float_array(outcome.value)
    if got is None or not _close(got, want):
        raise _fail(name, expected, _show(outcome.value), text.HINT_ELEMENTWISE)


def check_f(fn: Callable[[Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``f(w) = w**2 + 3*w - 5`` at random points, on arrays and under
    ``jax.grad``.

    Args:
        fn: the learner's function ``f(w)``.
        seed: draw the same random points as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> check_f(lambda w: w**2 + 3 * w - 5, seed=0)  # doctest: +ELLIPSIS
        ✓ f is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("f", seed=seed) as rng:
        _require_callable(fn, "f", text.F_DEFINITION)
        _require_signature(fn, "f", text.F_CALL, None)
        points = _points(rng)
        _check_values(fn, "f", reference_f, _F_MISTAKES, text.HINT_F_OTHER, points)
        _check_elementwise(fn, "f", reference_f, points)
        w = float(points[0])
        expected = text.EXPECTED_DIFFERENTIABLE_F.format(w=w, value=reference_df(w))
        outcome = _attempt(grad_of(fn), w)
        if not outcome.ok or not _close(outcome.value, reference_df(w)):
            got = describe(outcome.value) if not outcome.ok else _show(outcome.value)
            raise _fail("f", expected, got, text.HINT_NOT_DIFFERENTIABLE_F)
        return _success(text.F_SUCCESS.format(n=len(points)))


def check_df(fn: Callable[[Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's hand-written derivative ``df(w) = 2*w + 3`` at random points.

    Args:
        fn: the learner's function ``df(w)``.
        seed: draw the same random points as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> check_df(lambda w: 2 * w + 3, seed=0)  # doctest: +ELLIPSIS
        ✓ df is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("df", seed=seed) as rng:
        _require_callable(fn, "df", text.DF_DEFINITION)
        _require_signature(fn, "df", text.DF_CALL, None)
        points = np.append(_points(rng), -1.5)  # and the minimum, where the slope is 0
        _check_values(fn, "df", reference_df, _DF_MISTAKES, text.HINT_DF_OTHER, points)
        _check_elementwise(fn, "df", reference_df, points)
        return _success(text.DF_SUCCESS.format(n=len(points) - 1))


def check_dfdw(fn: Any, *, seed: int | None = None) -> bool:
    """Check the learner's ``dfdw = grad(f)``: a function giving ``f``'s slope ``2*w + 3``.

    Args:
        fn: the learner's gradient function.
        seed: draw the same random points as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> import jax
        >>> from dl_workshop import f
        >>> check_dfdw(jax.grad(f), seed=0)  # doctest: +ELLIPSIS
        ✓ dfdw is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("dfdw", seed=seed) as rng:
        if fn is not None and not callable(fn):
            expected = hints.EXPECTED_A_FUNCTION.format(example=text.DFDW_DEFINITION)
            raise _fail("dfdw", expected, describe(fn), text.HINT_DFDW_CALLED)
        _require_callable(fn, "dfdw", text.DFDW_DEFINITION)
        points = _points(rng)
        _check_values(fn, "dfdw", reference_df, (), text.HINT_DFDW_VALUES, points)
        return _success(text.DFDW_SUCCESS.format(n=len(points)))


class _Run:
    """One run of gradient descent on ``a (w - c)**2`` from ``start``, and its exact answer.

    The bowl is one of :data:`~dl_workshop.teaching.checks.probe_functions.BOWLS`, whose gradient
    is a
    module-level function (what the learner's ``descend`` is given); the start, the step size
    and the number of steps are drawn afresh.
    """

    def __init__(self, rng: np.random.Generator, bowl: tuple[float, float, Callable]) -> None:
        self.a, self.c, self.gradient = bowl
        self.start = self.c + float(_signed(rng, 1.0, 4.0))
        self.n_steps = int(rng.integers(6, 20))
        # The step shrinks the distance to c by a factor whose n-th power is in [0.1, 0.5]:
        # still well short of the minimum after n steps, so one step more or less is a
        # difference of at least 1% of |start - c| (the comparison resolves 1e-4).
        factor = float(rng.uniform(0.1, 0.5)) ** (1.0 / self.n_steps)
        self.step_size = (1.0 - factor) / (2.0 * self.a)

    def after(self, n: int, *, factor: float | None = None, a: float | None = None,
              c: float | None = None, step_size: float | None = None) -> float:  # fmt: skip
        """w after ``n`` steps (with another curvature, centre or step: the usual mistakes)."""
        a = self.a if a is None else a
        c = self.c if c is None else c
        step = self.step_size if step_size is None else step_size
        factor = 1 - 2 * a * step if factor is None else factor
        return c + factor**n * (self.start - c)

    def mistakes(self) -> list[tuple[float, str]]:
        n = self.n_steps
        return [
            (self.after(n, factor=1 + 2 * self.a * self.step_size), text.HINT_DESCEND_ASCENDS),
            (self.start, text.HINT_DESCEND_UNCHANGED),
            (self.after(n - 1), text.HINT_DESCEND_STEPS),
            (self.after(n + 1), text.HINT_DESCEND_STEPS),
            (self.after(1), text.HINT_DESCEND_FIRST_STEP),
            (self.after(n, a=1.0, c=-1.5), text.HINT_DESCEND_GLOBAL),  # the lesson's df
            (self.after(n, step_size=0.01), text.HINT_DESCEND_GLOBAL),  # a fixed step
        ]


def _check_run(fn: Callable[..., Any], run: _Run) -> None:
    """``fn(gradient, start, step_size, n_steps)`` returns the exact last ``w``."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    want = run.after(run.n_steps)
    expected = text.EXPECTED_FINAL_W.format(
        n_steps=run.n_steps, step_size=run.step_size, start=run.start, value=want
    )
    outcome = _attempt(fn, run.gradient, run.start, run.step_size, run.n_steps)
    if not outcome.ok:
        raise _error_fail("descend", expected, hints.GOT_AN_ERROR, outcome.value)
    if outcome.value is None:
        raise _fail("descend", expected, "None", text.HINT_RETURNS_NONE)
    got = _as_float_array(outcome.value)
    if got is None or got.shape != ():
        listed = got is not None and got.ndim == 1
        hint = text.HINT_DESCEND_LIST if listed else text.HINT_NOT_A_NUMBER
        raise _fail("descend", expected, describe(outcome.value), hint)
    if not _close(got, want):
        hint = _known_mistake(got, run.mistakes(), text.HINT_DESCEND_OTHER)
        raise _fail("descend", expected, _show(got), hint)


def check_descend(fn: Callable[..., Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``descend(df, w, step_size, n_steps)``: ``n_steps`` steps
    ``w = w - step_size * df(w)`` from ``w``, returning the last ``w``.

    Each run descends a random bowl ``a (w - c)**2`` with its own gradient function, start,
    step size and number of steps, against the exact answer
    ``c + (1 - 2 a step_size)**n_steps (w - c)``.

    Args:
        fn: the learner's function.
        seed: draw the same random runs as the check whose message ended with ``seed=N``.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back, a hint and the seed.

    Example:
        >>> def descend(df, w, step_size=0.01, n_steps=1000):
        ...     for _ in range(n_steps):
        ...         w = w - step_size * df(w)
        ...     return w
        >>> check_descend(descend, seed=0)  # doctest: +ELLIPSIS
        ✓ descend is right: ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    with checking("descend", seed=seed) as rng:
        _require_callable(fn, "descend", text.DESCEND_DEFINITION)
        _require_signature(fn, "descend", text.DESCEND_CALL, None, None, None, None)
        bowls = rng.choice(len(BOWLS), size=_N_RUNS, replace=False)
        runs = [_Run(rng, BOWLS[int(i)]) for i in bowls]
        for run in runs:
            _check_run(fn, run)
        return _success(text.DESCEND_SUCCESS.format(n=len(runs)))
