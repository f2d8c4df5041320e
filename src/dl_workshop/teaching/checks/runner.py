"""Running the learner's code safely, and turning what goes wrong into an :class:`ExerciseError`.

A checker never lets the learner's code raise through it: :func:`_attempt` calls it under a
time limit with warnings silenced and hands back the result or the exception, and
:func:`_error_hint` explains the exception in one hint.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from dl_workshop._validation import describe
from dl_workshop.teaching.checks import hints

#: Seconds one call of the learner's function may take before the checker gives up on it.
_TIME_LIMIT_S = 30.0

#: JAX's errors for a traced value turned into a Python number (not differentiable).
_NOT_DIFFERENTIABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)

#: Parts of JAX's own messages (they raise plain TypeErrors) that name a known mistake.
_JAX_NOT_NUMBERS = "not a valid JAX type"
_JAX_INTEGER_GRAD = "requires real- or complex-valued inputs"

#: Longest first line of an error quoted in a message.
_MAX_ERROR_LINE = 160


class ExerciseError(AssertionError):
    """An exercise answer that does not match the reference, with a hint about the likely cause.

    A subclass of ``AssertionError``, so a failed check reads like a failed test, and a check
    works as a test cell of nbgrader or otter-grader. The message has three parts, what was
    expected, what came back and a hint, then the seed that draws the same inputs again
    (``seed=N``, its last line).

    Example:
        >>> from dl_workshop.teaching.checks import ExerciseError, check_linear_model
        >>> def linear_model(theta, x):
        ...     pass
        >>> try:
        ...     check_linear_model(linear_model)
        ... except ExerciseError as error:
        ...     print("Hint" in str(error))
        True
    """

    # Named where learners import it from: a plain traceback (or pytest's) reads
    # ``dl_workshop.teaching.checks.ExerciseError: ...``, as before the checkers became a package.
    __module__ = "dl_workshop.teaching.checks"

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the learner sees the message
        # only, not the checker's internals.
        return [f"{type(self).__name__}: {self}"]


class _TimeUp(BaseException):
    """Raised from the alarm handler; a BaseException so a learner's ``except Exception`` in a
    loop cannot swallow it."""


def _fail(exercise: str, expected: str, got: str, hint: str) -> ExerciseError:
    message = hints.FAILURE.format(exercise=exercise, expected=expected, got=got, hint=hint)
    return ExerciseError(message)


def _error_fail(exercise: str, expected: str, got: str, exc: BaseException) -> ExerciseError:
    """The failure for learner code that raised ``exc``: ``got`` then the error's first line."""
    return _fail(exercise, expected, f"{got}{_first_line(exc)}", _error_hint(exc, exercise))


def _success(message: str) -> bool:
    print(hints.SUCCESS.format(message=message))
    return True


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (POSIX main thread only; elsewhere, or with
    ``None``, no limit).

    A learner's ``while`` loop that never ends would otherwise hang the notebook.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        # Someone else (a test runner's timeout) owns the alarm: leave it alone.
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def learner_time_limit(seconds: float) -> Iterator[None]:
    """Give each call of learner code at most ``seconds`` inside the block (the grader's
    per-cell timeout), instead of the default 30 s.

    Example:
        >>> from dl_workshop.teaching.checks.runner import learner_time_limit
        >>> with learner_time_limit(5.0):
        ...     pass
    """
    global _TIME_LIMIT_S
    previous, _TIME_LIMIT_S = _TIME_LIMIT_S, float(seconds)
    try:
        yield
    finally:
        _TIME_LIMIT_S = previous


class _Outcome(NamedTuple):
    ok: bool
    value: Any  # the return value, or the exception raised


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Outcome:
    """Call learner code; return its result or the exception it raised (never propagate).

    A remote function (the grader's proxy of a learner's function in a sandboxed kernel,
    :mod:`~dl_workshop.teaching.checks.remote`) keeps its own time limit, inside that kernel."""
    remote = any(isinstance(value, Remote) for value in (fn, *args, *kwargs.values()))
    limit = None if remote else _TIME_LIMIT_S
    try:
        with _time_limit(limit), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Outcome(True, fn(*args, **kwargs))
    except _TimeUp:
        return _Outcome(False, TimeoutError(hints.STILL_RUNNING.format(seconds=_TIME_LIMIT_S)))
    except Exception as exc:  # any error in the learner's code is reported, not raised
        return _Outcome(False, exc)


def grad_of(
    fn: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *, cotangent: Any = None
) -> Callable[..., Any]:
    """``jax.grad(fn, argnums)``, the one way the checkers differentiate a learner's function.

    With ``cotangent``, the gradient of ``vdot(fn(...), cotangent)`` (a vector-Jacobian
    product, for functions with an array result). When ``fn`` or an argument of the call is a
    remote function (a proxy of a learner's function in a sandboxed kernel, see
    :mod:`~dl_workshop.teaching.checks.remote`), the gradient is computed there and comes back as
    data.

    Example:
        >>> from dl_workshop.teaching.checks.runner import grad_of
        >>> float(grad_of(lambda w: w**2)(3.0))
        6.0
    """

    def gradient(*args: Any, **kwargs: Any) -> Any:
        for value in (fn, *args, *kwargs.values()):
            if isinstance(value, Remote):
                return value.remote_grad(fn, args, kwargs, argnums, cotangent)
        if cotangent is None:
            return jax.grad(fn, argnums)(*args, **kwargs)
        weights = jax.numpy.asarray(cotangent)

        def projected(*inner: Any, **named: Any) -> Any:
            return jax.numpy.vdot(jax.numpy.asarray(fn(*inner, **named)), weights)

        return jax.grad(projected, argnums)(*args, **kwargs)

    return _RemoteGradient(gradient) if isinstance(fn, Remote) else gradient


class Remote:
    """Base of the grader's proxies of learner functions running in a sandboxed kernel
    (:mod:`~dl_workshop.teaching.checks.remote`): their calls keep their own time limit there, and
    :func:`grad_of` asks them for gradients (``remote_grad``)."""

    def remote_grad(self, fn: Any, args: tuple, kwargs: dict, argnums: Any, cotangent: Any) -> Any:
        raise NotImplementedError


class _RemoteGradient(Remote):
    """The gradient of a remote function: itself remote (computed in the sandbox)."""

    def __init__(self, gradient: Callable[..., Any]) -> None:
        self._gradient = gradient

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._gradient(*args, **kwargs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    line = line if len(line) <= _MAX_ERROR_LINE else line[: _MAX_ERROR_LINE - 3] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _error_hint(exc: BaseException, exercise: str) -> str:
    """A hint for an exception raised by the learner's code."""
    if isinstance(exc, jax.errors.TracerArrayConversionError):
        return hints.HINT_NUMPY_IN_JAX
    if isinstance(exc, _NOT_DIFFERENTIABLE):
        return hints.HINT_CONVERTED_PARAMETER
    if isinstance(exc, TimeoutError):
        return hints.HINT_TIMEOUT.format(seconds=_TIME_LIMIT_S)
    if isinstance(exc, NameError):
        return hints.HINT_NAME_ERROR.format(error=_first_line(exc))
    if _JAX_NOT_NUMBERS in str(exc):
        return hints.HINT_NOT_NUMBERS
    if _JAX_INTEGER_GRAD in str(exc):
        return hints.HINT_INTEGER_PARAMETERS
    return hints.HINT_RAISED.format(error=_first_line(exc))


def _require_callable(fn: Any, exercise: str, example: str) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    expected = hints.EXPECTED_A_FUNCTION.format(example=example)
    if fn is None:
        raise _fail(exercise, expected, "None", hints.HINT_STILL_NONE.format(exercise=exercise))
    if not callable(fn):
        raise _fail(exercise, expected, describe(fn), hints.HINT_NOT_CALLABLE)


def _require_signature(
    fn: Callable[..., Any], exercise: str, example: str, *args: Any, hint: str | None = None
) -> None:
    """Fail early, with the expected signature, when ``fn`` cannot take the lesson's arguments
    (``hint``: the advice, by default to give it exactly the lesson's arguments)."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C functions: just try calling them
        return
    try:
        signature.bind(*args)
    except TypeError:
        name = fn.__name__ if hasattr(fn, "__name__") else ""
        raise _fail(
            exercise,
            hints.EXPECTED_CALLED_AS.format(example=example),
            hints.GOT_SIGNATURE.format(signature=f"{name}{signature}"),
            hint or hints.HINT_SIGNATURE.format(example=example),
        ) from None
