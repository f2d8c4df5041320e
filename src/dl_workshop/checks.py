"""Exercise checkers for the lesson: is the learner's own function right, and if not, why not?

Each ``check_*`` function runs the learner's function next to the package's reference on fresh
random inputs (drawn anew on every call, so a function that special-cases the checker's inputs is
caught), compares values, shapes and gradients, and either prints one short line and returns
``True`` or raises :class:`ExerciseError` saying what was expected, what came back and what the
likely mistake is. The learner's code is run defensively: whatever it raises comes back as an
:class:`ExerciseError` with a hint, never as a traceback from inside the checker.

These are the only functions in the package that print: the confirmation line is the point of a
checker in a notebook.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import check_int, describe, unpack_linear_params
from dl_workshop.losses import dmseloss, mseloss
from dl_workshop.model import linear_model

__all__ = [
    "ExerciseError",
    "check_dmseloss",
    "check_initialize_linear_params",
    "check_linear_model",
    "check_mseloss",
    "check_optimization_loop",
]

#: Seconds one call of the learner's function may take before the checker gives up on it.
_TIME_LIMIT_S = 30.0

#: Steps the optimization-loop checker asks for: few, so that a slow Python loop stays quick.
_LOOP_STEPS = 25

_RTOL = 1e-4

# Fixed, small sample counts (values are fresh on every call): JAX compiles each operation once
# per shape, so fixed shapes keep repeated checks fast. None is 100, the lesson's size, so that a
# hard-coded 100 is caught.
_N_MODEL = 9
_N_LOSS = 11
_N_LOOP = 30

_NOT_DIFFERENTIABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


class ExerciseError(AssertionError):
    """An exercise answer that does not match the reference, with a hint about the likely cause.

    A subclass of ``AssertionError``, so a failed check reads like a failed test. The message has
    three parts: what was expected, what came back and a hint.

    Example:
        >>> from dl_workshop.checks import ExerciseError, check_linear_model
        >>> def linear_model(theta, x):
        ...     pass
        >>> try:
        ...     check_linear_model(linear_model)
        ... except ExerciseError as error:
        ...     print("Hint" in str(error))
        True
    """

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the learner sees the message
        # only, not the checker's internals.
        return [f"{type(self).__name__}: {self}"]


class _TimeUp(BaseException):
    """Raised from the alarm handler; a BaseException so a learner's ``except Exception`` in a
    loop cannot swallow it."""


# ----------------------------------------------------------------------------------------------
# Running learner code safely and explaining what went wrong
# ----------------------------------------------------------------------------------------------


def _fail(exercise: str, expected: str, got: str, hint: str) -> ExerciseError:
    return ExerciseError(
        f"{exercise} is not right yet.\n  Expected: {expected}\n  Got:      {got}\n  Hint: {hint}"
    )


def _error_fail(exercise: str, expected: str, got: str, exc: BaseException) -> ExerciseError:
    """The failure for learner code that raised ``exc``: ``got`` then the error's first line."""
    return _fail(exercise, expected, f"{got}{_first_line(exc)}", _error_hint(exc, exercise))


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (POSIX main thread only; elsewhere no limit).

    A learner's ``while`` loop that never ends would otherwise hang the notebook.
    """
    usable = (
        hasattr(signal, "setitimer")
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


class _Outcome(NamedTuple):
    ok: bool
    value: Any  # the return value, or the exception raised


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Outcome:
    """Call learner code; return its result or the exception it raised (never propagate)."""
    try:
        with _time_limit(_TIME_LIMIT_S), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Outcome(True, fn(*args, **kwargs))
    except _TimeUp:
        return _Outcome(False, TimeoutError(f"still running after {_TIME_LIMIT_S:g} s"))
    except Exception as exc:  # any error in the learner's code is reported, not raised
        return _Outcome(False, exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    line = line if len(line) <= 160 else line[:157] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _error_hint(exc: BaseException, exercise: str) -> str:
    """A hint for an exception raised by the learner's code."""
    if isinstance(exc, jax.errors.TracerArrayConversionError):
        return (
            "JAX cannot differentiate through NumPy: a NumPy function (np....) received a value "
            "that JAX is tracing. Use jax.numpy (jnp....) instead of numpy (np....) for anything "
            "computed from the parameters."
        )
    if isinstance(exc, _NOT_DIFFERENTIABLE):
        return (
            "JAX cannot differentiate your code: float(), int(), .item() (or bool/int use of a "
            "parameter) turns a traced value into a plain Python number. Keep the arithmetic on "
            "arrays, e.g. theta['w'] * x, without converting the parameters."
        )
    if isinstance(exc, TimeoutError):
        return (
            f"your function did not finish within {_TIME_LIMIT_S:g} s. Does a loop ever end? "
            "Use `for step in range(n_steps):` rather than a `while` loop."
        )
    if isinstance(exc, NameError):
        return (
            f"{_first_line(exc)}. A name your function uses is not defined: check the spelling, "
            "and run the cell that defines it (and its imports) before this one."
        )
    if "not a valid JAX type" in str(exc):
        return (
            "JAX was asked to differentiate with respect to something that is not numbers (the "
            "model function?). grad differentiates the first argument: keep theta first and do "
            "not pass argnums."
        )
    if "requires real- or complex-valued inputs" in str(exc):
        return (
            "jax.grad can only differentiate floating-point parameters, and these are integers. "
            "Draw or write the parameters as floats (e.g. 1.0, not 1)."
        )
    return f"your function raised {_first_line(exc)}. Read that error and fix the line causing it."


def _require_callable(fn: Any, exercise: str, example: str) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    if fn is None:
        raise _fail(
            exercise,
            f"a function, e.g. `{example}`",
            "None",
            f"{exercise} is still None: define it (run the cell with your answer) and pass the "
            "function itself to the checker.",
        )
    if not callable(fn):
        raise _fail(
            exercise,
            f"a function, e.g. `{example}`",
            describe(fn),
            "pass the function itself (its name, without parentheses), not the result of "
            "calling it.",
        )


def _require_signature(fn: Callable[..., Any], exercise: str, example: str, *args: Any) -> None:
    """Fail early, with the expected signature, when ``fn`` cannot take the lesson's arguments."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C functions: just try calling them
        return
    try:
        signature.bind(*args)
    except TypeError:
        raise _fail(
            exercise,
            f"a function called as `{example}`",
            f"a function with signature {fn.__name__}{signature}"
            if hasattr(fn, "__name__")
            else f"a function with signature {signature}",
            f"the lesson calls it as `{example}`: give it exactly those arguments, in that "
            "order, with theta first.",
        ) from None


def _check_seed(seed: Any) -> np.random.Generator:
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    # No seed: fresh entropy on every call, so a learner cannot special-case the inputs.
    return np.random.default_rng(seed)


def _show(value: Any) -> str:
    """A compact display of a number or array for messages."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return describe(value)
    if array.ndim == 0:
        return f"{float(array):.4g}"
    shown = ", ".join(f"{v:.4g}" for v in array.ravel()[:5])
    more = ", ..." if array.size > 5 else ""
    return f"[{shown}{more}] (shape {array.shape})"


def _show_params(tree: Any) -> str:
    """``{'w': ..., 'b': ...}`` or ``(..., ...)`` with compact values, in the learner's order."""
    if isinstance(tree, Mapping) and set(tree) == {"w", "b"}:
        return f"{{'w': {_show(tree['w'])}, 'b': {_show(tree['b'])}}}"
    if isinstance(tree, (tuple, list)) and len(tree) == 2:
        return f"({_show(tree[0])}, {_show(tree[1])})"
    return _show(_flat(tree)) if _attempt(_flat, tree).ok else describe(tree)


def _close(got: Any, expected: Any, rtol: float = _RTOL) -> bool:
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    return bool(np.allclose(got, expected, rtol=rtol, atol=rtol * scale))


def _as_float_array(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def _signed(rng: np.random.Generator, low: float, high: float, size: Any = None) -> Any:
    """Random magnitudes in [low, high) with random signs: far from 0 and from each other."""
    magnitude = rng.uniform(low, high, size)
    sign = rng.choice([-1.0, 1.0], size)
    return magnitude * sign


def _containers(w: Any, b: Any) -> list[tuple[str, Any]]:
    return [("dict", {"w": w, "b": b}), ("tuple", (w, b))]


def _same_values(a: Any, b: Any) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if len(leaves_a) != len(leaves_b):
        return False
    for left, right in zip(leaves_a, leaves_b, strict=True):
        left_arr, right_arr = _as_float_array(left), _as_float_array(right)
        if left_arr is None or right_arr is None or left_arr.shape != right_arr.shape:
            return False
        if not np.array_equal(left_arr, right_arr):
            return False
    return True


def _flat(tree: Any) -> np.ndarray:
    leaves = jax.tree_util.tree_leaves(tree)
    return np.concatenate([np.asarray(leaf, dtype=float).ravel() for leaf in leaves])


def _success(message: str) -> bool:
    print(f"\u2713 {message}")
    return True


# ----------------------------------------------------------------------------------------------
# linear_model
# ----------------------------------------------------------------------------------------------


class _ModelCase(NamedTuple):
    form: str
    w: Any
    b: Any
    x: np.ndarray
    expected: np.ndarray


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


def _model_exception_hint(case: _ModelCase, exc: BaseException) -> str:
    text = str(exc)
    if case.form == "matrix" and "broadcast" in text:
        return (
            "in matrix form x has shape (n, d_in) and w has shape (d_in, d_out), so w * x "
            "cannot work: use a matrix product, x @ w + b (or jnp.dot(x, w) + b)."
        )
    if case.form == "matrix" and any(
        key in text for key in ("matmul", "dot_general", "core dimension", "contracting", "dot")
    ):
        return (
            "the matrix product is the wrong way round: each row of x is one sample, so the "
            "prediction is x @ w + b (shape (n, d_in) @ (d_in, d_out)), not w @ x."
        )
    if case.form == "scalar" and "matmul" in text:
        return (
            "in the lesson's scalar form w is a single number, and x @ w needs w to be an array: "
            "use w * x + b, or jnp.dot(x, w) + b, which handles both forms."
        )
    return _error_hint(exc, "linear_model")


def _expected_text(case: _ModelCase) -> str:
    return (
        f"w * x + b = {_show(case.expected)}"
        if case.form == "scalar"
        else f"x @ w + b, shape {case.expected.shape}"
    )


def _diagnose_model_values(case: _ModelCase, got: np.ndarray, label: str) -> str:
    w, b, x = case.w, case.b, case.x
    product = w * x if case.form == "scalar" else x @ w
    if _close(got, product):
        return "the predictions are off by exactly b: you forgot to add the bias b."
    if _close(got, product - b):
        return "the bias has the wrong sign: the model is w * x + b, not w * x - b."
    if case.form == "scalar" and _close(got, b * x + w):
        order = "(w, b), in that order" if label == "tuple" else "{'w': w, 'b': b}"
        return f"w and b are swapped: theta is {order}; the slope multiplies x."
    if case.form == "scalar" and _close(got, w * x):
        return "you forgot to add the bias b."
    return (
        "compute w * x + b (x @ w + b in matrix form) from the theta and x passed in, "
        "not from global variables."
    )


def _check_model_case(fn: Callable[..., Any], case: _ModelCase) -> list[str]:
    """Check one input case with dict and tuple params; return the containers that worked."""
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "linear_model"
    outcomes = {
        label: (theta, _attempt(fn, theta, case.x)) for label, theta in _containers(case.w, case.b)
    }
    for _, outcome in outcomes.values():
        if outcome.ok and outcome.value is None:
            raise _fail(
                exercise,
                f"predictions {_expected_text(case)}",
                "None",
                "your function returns None: replace `pass` with `return ...` and the prediction.",
            )
    working = {label: (theta, o.value) for label, (theta, o) in outcomes.items() if o.ok}
    if not working:
        for _label, theta in _containers(case.w, case.b):
            swapped = _attempt(fn, case.x, theta)
            if swapped.ok and swapped.value is not None:
                got = _as_float_array(swapped.value)
                if got is not None and _close(got, case.expected):
                    raise _fail(
                        exercise,
                        "linear_model(theta, x) with the parameters first",
                        "a function that works only as linear_model(x, theta)",
                        "the parameters must be the first argument: jax.grad differentiates "
                        "with respect to the first argument. Write def linear_model(theta, x).",
                    )
        first = outcomes["dict"][1].value
        hint = _model_exception_hint(case, first)
        raise _fail(
            exercise,
            f"predictions {_expected_text(case)} for theta as a dict {{'w': w, 'b': b}} or a "
            "tuple (w, b)",
            f"an error for both: {_first_line(first)}",
            hint,
        )
    for label, (theta, value) in working.items():
        got = _as_float_array(value)
        if got is None:
            raise _fail(
                exercise,
                f"predictions {_expected_text(case)}",
                describe(value),
                "return the predictions as an array of numbers (one per sample).",
            )
        if got.shape != case.expected.shape:
            if got.ndim == 0:
                hint = (
                    "you returned one number; the model gives one prediction per sample. Do not "
                    "sum or average inside the model."
                )
            elif case.form == "matrix":
                hint = (
                    "in matrix form the prediction is x @ w + b: x of shape (n, d_in) times w of "
                    "shape (d_in, d_out) gives (n, d_out)."
                )
            else:
                hint = "return one prediction per entry of x: w * x + b has the shape of x."
            raise _fail(
                exercise,
                f"predictions of shape {case.expected.shape}",
                f"shape {got.shape}",
                hint,
            )
        if not _close(got, case.expected):
            raise _fail(
                exercise,
                f"{_expected_text(case)}",
                _show(got),
                _diagnose_model_values(case, got, label),
            )
        _check_model_gradient(fn, case, theta)
    return sorted(working)


def _check_model_gradient(fn: Callable[..., Any], case: _ModelCase, theta: Any) -> None:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    cotangent = np.random.default_rng(0).normal(size=case.expected.shape)
    # d/dw and d/db of sum(cotangent * (x·w + b)), by hand.
    if case.form == "scalar":
        grad_w, grad_b = float(np.sum(cotangent * case.x)), float(np.sum(cotangent))
    else:
        grad_w, grad_b = case.x.T @ cotangent, cotangent.sum(axis=0)
    expected = {"w": grad_w, "b": grad_b} if isinstance(theta, dict) else (grad_w, grad_b)
    outcome = _attempt(jax.grad(lambda p: jnp.vdot(jnp.asarray(fn(p, case.x)), cotangent)), theta)
    if not outcome.ok:
        raise _error_fail(
            "linear_model",
            "a function JAX can differentiate with respect to theta",
            "jax.grad failed: ",
            outcome.value,
        )
    if not _close(_flat(outcome.value), _flat(expected), rtol=1e-3):
        raise _fail(
            "linear_model",
            f"gradient with respect to theta of {_show_params(expected)}",
            _show_params(outcome.value),
            "the values are right but the derivative is not: do not hide the parameters from "
            "JAX (no jax.lax.stop_gradient, np.asarray or float() on them).",
        )


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
        seed: make the random inputs reproducible (tests); by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.
        ValueError: if ``form`` is not one of the three forms.

    Example:
        >>> from dl_workshop.checks import check_linear_model
        >>> def linear_model(theta, x):
        ...     return theta["w"] * x + theta["b"]
        >>> check_linear_model(linear_model, seed=0)  # doctest: +ELLIPSIS
        ✓ linear_model ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    forms = {"scalar": ("scalar",), "matrix": ("matrix",), "both": ("scalar", "matrix")}
    if form not in forms:
        raise ValueError(f"form must be 'scalar', 'matrix' or 'both'; got {form!r}")
    rng = _check_seed(seed)
    _require_callable(fn, "linear_model", "def linear_model(theta, x): ...")
    _require_signature(fn, "linear_model", "linear_model(theta, x)", None, None)
    accepted: set[str] = set()
    n_cases = 0
    for which in forms[form]:
        for _ in range(2):
            accepted.update(_check_model_case(fn, _model_case(rng, which)))
            n_cases += 1
    kinds = " and ".join(f"{c} params" for c in sorted(accepted))
    return _success(
        f"linear_model matches the reference on {n_cases} fresh random inputs "
        f"({' and '.join(forms[form])} form, {kinds}), values and gradients."
    )


# ----------------------------------------------------------------------------------------------
# initialize_linear_params
# ----------------------------------------------------------------------------------------------


def check_initialize_linear_params(
    fn: Callable[[], Any],
    *,
    model: Callable[[Any, Any], Any] | None = None,
    seed: int | None = None,
) -> bool:
    """Check the learner's ``initialize_linear_params()``: random starting values ``model`` takes.

    Calls ``fn()`` twice and checks that it returns numbers (floats, so ``jax.grad`` can
    differentiate them) in a structure ``model`` accepts, giving one prediction per input, and
    that two calls give different random values.

    Args:
        fn: the learner's function, called with no arguments, returning ``theta``.
        model: the ``linear_model`` the parameters must work with; pass the learner's own to
            check the two fit together. Default: the package's :func:`~dl_workshop.linear_model`.
        seed: make the checker's random data reproducible (tests).

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.

    Example:
        >>> import numpy.random as npr
        >>> from dl_workshop.checks import check_initialize_linear_params
        >>> def initialize_linear_params():
        ...     return {"w": npr.normal(), "b": npr.normal()}
        >>> check_initialize_linear_params(initialize_linear_params)  # doctest: +ELLIPSIS
        ✓ initialize_linear_params ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "initialize_linear_params"
    rng = _check_seed(seed)
    _require_callable(fn, exercise, "def initialize_linear_params(): ...")
    _require_callable(model if model is not None else linear_model, "model", "linear_model")
    model = linear_model if model is None else model
    expected = "random starting values such as {'w': 0.37, 'b': -1.2} or (0.37, -1.2)"
    first = _attempt(fn)
    if not first.ok:
        exc = first.value
        if isinstance(exc, TypeError) and "required positional argument" in str(exc):
            hint = (
                "the lesson calls initialize_linear_params() with no arguments: draw the random "
                "numbers inside the function."
            )
        else:
            hint = _error_hint(exc, exercise)
        raise _fail(exercise, expected, f"an error: {_first_line(exc)}", hint)
    theta = first.value
    if theta is None:
        raise _fail(
            exercise,
            expected,
            "None",
            "your function returns None: replace `pass` with `return` and the parameters, "
            "e.g. return {'w': npr.normal(), 'b': npr.normal()}.",
        )
    leaves = jax.tree_util.tree_leaves(theta)
    for leaf in leaves:
        array = _as_float_array(leaf) if not isinstance(leaf, (str, bytes)) else None
        if array is None:
            raise _fail(
                exercise,
                expected,
                describe(theta),
                "every parameter must be a number; the structure holds something else.",
            )
    n = _N_MODEL
    x = np.sort(rng.uniform(-5.0, 5.0, n))
    prediction = _attempt(model, theta, x)
    scalar_leaves = all(np.size(leaf) == 1 for leaf in leaves)
    if not prediction.ok or not scalar_leaves:
        if not scalar_leaves and not isinstance(theta, (np.ndarray, jax.Array)):
            raise _fail(
                exercise,
                f"{expected}: two single numbers",
                describe(theta),
                "for the lesson's one-input model, w and b are single numbers (e.g. "
                "npr.normal()), not arrays.",
            )
        if isinstance(theta, (np.ndarray, jax.Array)):
            shape_hint = (
                "an array [w, b] cannot be unpacked by name; return a dict {'w': w, 'b': b} or "
                "a tuple (w, b)"
            )
        else:
            shape_hint = (
                "return the parameters in the structure your linear_model reads, e.g. a dict "
                "{'w': w, 'b': b} for theta['w'], or a tuple (w, b) for w, b = theta"
            )
        raise _fail(
            exercise,
            f"{expected}, in a structure linear_model can take",
            f"{describe(theta)}, and linear_model(theta, x) raised {_first_line(prediction.value)}",
            f"linear_model cannot use what initialize_linear_params returns: {shape_hint}.",
        )
    predicted = _as_float_array(prediction.value)
    if predicted is None or predicted.shape != (n,):
        got_shape = "no array" if predicted is None else f"shape {predicted.shape}"
        raise _fail(
            exercise,
            f"parameters giving one prediction per input: shape ({n},) for x of shape ({n},)",
            f"{got_shape} from linear_model(theta, x) with theta = {describe(theta)}",
            "for the lesson's one-input model, w and b are single numbers (e.g. npr.normal()), "
            "not arrays.",
        )
    for leaf in leaves:
        if np.asarray(leaf).dtype.kind not in "f":
            raise _fail(
                exercise,
                "floating-point parameters (jax.grad differentiates only floats)",
                f"{describe(theta)} with a {np.asarray(leaf).dtype} value",
                "draw floats, e.g. npr.normal(); integers (npr.randint, or 1 instead of 1.0) "
                "cannot be differentiated.",
            )
        if not np.all(np.isfinite(np.asarray(leaf, dtype=float))):
            raise _fail(exercise, "finite starting values", describe(theta), "draw finite numbers.")
    second = _attempt(fn)
    if second.ok and _same_values(theta, second.value):
        raise _fail(
            exercise,
            "different random values on every call",
            f"the same values twice: {describe(theta)}",
            "draw the values with a random number generator (e.g. npr.normal()) inside the "
            "function, without fixing a seed there, instead of writing constants.",
        )
    y = x * float(_signed(rng, 1.0, 3.0)) + float(_signed(rng, 2.0, 9.0))
    gradient = _attempt(dmseloss, theta, model, x, y)
    if not gradient.ok:
        raise _error_fail(
            exercise,
            "parameters jax.grad can differentiate",
            "jax.grad(mseloss) failed: ",
            gradient.value,
        )
    return _success(
        f"initialize_linear_params returns fresh random {type(theta).__name__} params that "
        "linear_model takes and jax.grad can differentiate."
    )


# ----------------------------------------------------------------------------------------------
# mseloss
# ----------------------------------------------------------------------------------------------


def _sine_model(theta: Any, x: Any) -> Any:
    """A model that is not ``linear_model``, to see whether the loss uses its model argument."""
    w, b = (theta["w"], theta["b"]) if isinstance(theta, Mapping) else theta
    return w * jnp.sin(x) + b


class _LossCase(NamedTuple):
    theta: Any
    model: Callable[..., Any]
    x: np.ndarray
    y: np.ndarray
    description: str
    loss: float  # the reference mean squared error, computed with NumPy in float64
    grad: Any  # its gradient, in theta's structure
    residual: np.ndarray  # y - model(theta, x)


def _loss_case(rng: np.random.Generator, container: str, form: str, model: Any) -> _LossCase:
    if form == "scalar":
        x = np.sort(rng.uniform(-5.0, 5.0, _N_LOSS))
        w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 2.0, 9.0))
        y = w_true * x + b_true + rng.normal(size=_N_LOSS)
        # Start away from the truth, with a clear offset in b, so that the residuals have a
        # non-zero mean and "square of the mean" differs from "mean of the squares".
        w, b = w_true + float(_signed(rng, 0.5, 1.5)), b_true + float(_signed(rng, 2.0, 4.0))
    else:
        d_in, d_out = 2, 3
        x = rng.uniform(-5.0, 5.0, (_N_LOSS, d_in))
        w = _signed(rng, 0.5, 2.0, (d_in, d_out))
        b = _signed(rng, 1.0, 4.0, (d_out,))
        y = x @ w + b + _signed(rng, 1.0, 3.0, (_N_LOSS, d_out))
    features = np.sin(x) if model is _sine_model else x
    prediction = features @ w + b if form == "matrix" else features * w + b
    residual = y - prediction
    # The gradient of mean(residual ** 2) by hand: d loss / d prediction = -2 residual / size.
    upstream = -2.0 * residual / residual.size
    if form == "matrix":
        grad_w, grad_b = features.T @ upstream, upstream.sum(axis=0)
    else:
        grad_w, grad_b = float(np.sum(upstream * features)), float(np.sum(upstream))
    theta = {"w": w, "b": b} if container == "dict" else (w, b)
    grad = {"w": grad_w, "b": grad_b} if container == "dict" else (grad_w, grad_b)
    model_name = "linear_model" if model is linear_model else "another model"
    description = f"{form} form, {container} params, {model_name}"
    return _LossCase(theta, model, x, y, description, float(np.mean(residual**2)), grad, residual)


def _loss_mistakes(residual: np.ndarray) -> list[tuple[float, str]]:
    n_elements = residual.size
    mean_sq = float(np.mean(residual**2))
    mistakes = [
        (
            float(np.sum(residual**2)),
            "you sum the squared errors instead of averaging them: use jnp.mean (the sum grows "
            "with the number of samples, and so would the step size you need).",
        ),
        (
            float(np.sum(residual) ** 2),
            "you square the sum of the errors instead of summing the squares: square each "
            "error first, then average, jnp.mean((y - y_pred) ** 2). Positive and negative "
            "errors must not cancel.",
        ),
        (
            float(np.mean(residual) ** 2),
            "you square the mean of the errors instead of averaging the squares: "
            "jnp.mean((y - y_pred) ** 2), with the ** 2 inside the mean.",
        ),
        (
            float(np.mean(residual)),
            "you average the errors without squaring them: positive and negative errors cancel. "
            "Use jnp.mean((y - y_pred) ** 2).",
        ),
        (
            -float(np.mean(residual)),
            "you average the errors without squaring them: positive and negative errors cancel. "
            "Use jnp.mean((y - y_pred) ** 2).",
        ),
        (
            float(np.mean(np.abs(residual))),
            "that is the mean absolute error; the exercise asks for the mean *squared* error.",
        ),
        (
            float(np.sqrt(mean_sq)),
            "that is the root of the mean squared error; leave out the square root.",
        ),
        (mean_sq / 2, "you halve the mean squared error; leave out the factor 1/2."),
        (
            -mean_sq,
            "the loss is negative: minimizing it would make the errors larger. Drop the minus "
            "sign; (y - y_pred) ** 2 and (y_pred - y) ** 2 are the same.",
        ),
    ]
    if residual.ndim == 2:
        mistakes.insert(
            0,
            (
                float(np.sum(residual**2) / residual.shape[0]),
                f"you divide by the number of rows (len(y) = {residual.shape[0]}) instead of the "
                f"number of values ({n_elements}): with several outputs use jnp.mean, which "
                "averages over every element.",
            ),
        )
    return mistakes


def _loss_call(fn: Callable[..., Any], case: _LossCase) -> Any:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "mseloss"
    args = (case.theta, case.model, case.x, case.y)
    expected_value = case.loss
    expected = f"the mean squared error, a single number: {expected_value:.6g}"
    outcome = _attempt(fn, *args)
    if not outcome.ok:
        names = ("theta", "model", "x", "y")
        for order in itertools.permutations(range(4)):
            if order == (0, 1, 2, 3):
                continue
            permuted = _attempt(fn, *(args[i] for i in order))
            if permuted.ok and permuted.value is not None:
                got = _as_float_array(permuted.value)
                if got is not None and got.size == 1 and _close(got.ravel()[0], expected_value):
                    theirs = ", ".join(names[i] for i in order)
                    raise _fail(
                        exercise,
                        "mseloss(theta, model, x, y) with theta first",
                        f"a function that works as mseloss({theirs})",
                        "put the arguments in the order theta, model, x, y: jax.grad "
                        "differentiates with respect to the first argument, so theta must "
                        "come first.",
                    )
        raise _error_fail(exercise, expected, f"an error ({case.description}): ", outcome.value)
    value = outcome.value
    if value is None:
        raise _fail(
            exercise,
            expected,
            "None",
            "your function returns None: replace `pass` with `return` and the loss.",
        )
    got = _as_float_array(value)
    if got is None:
        raise _fail(exercise, expected, describe(value), "return the loss as a number.")
    if got.shape != ():
        if got.shape == np.shape(case.y):
            hint = (
                "you return one squared error per sample; average them into one number with "
                "jnp.mean."
            )
        else:
            hint = "the loss must be a scalar (shape ()), e.g. jnp.mean((y - y_pred) ** 2)."
        raise _fail(exercise, expected, f"an array of shape {got.shape}", hint)
    if not _close(got, expected_value):
        hint = next(
            (text for candidate, text in _loss_mistakes(case.residual) if _close(got, candidate)),
            None,
        )
        if hint is None and case.model is not linear_model:
            w, b = unpack_linear_params(case.theta)
            linear_value = float(np.mean((case.y - (w * case.x + b)) ** 2))
            if _close(got, linear_value):
                hint = (
                    "your loss ignores its model argument and calls linear_model directly: "
                    "predict with y_pred = model(theta, x), so the loss works for any model."
                )
        if hint is None:
            hint = (
                "compute y_pred = model(theta, x) from the arguments passed in (not global "
                "variables), then jnp.mean((y - y_pred) ** 2)."
            )
        ratio = (
            f" ({float(got) / expected_value:.3g} x the expected value)" if expected_value else ""
        )
        raise _fail(exercise, expected, f"{float(got):.6g}{ratio} ({case.description})", hint)
    return got


def check_mseloss(fn: Callable[[Any, Any, Any, Any], Any], *, seed: int | None = None) -> bool:
    """Check the learner's ``mseloss(theta, model, x, y)`` against the reference.

    Draws fresh random data on every call and compares the loss value (a scalar) and its
    gradient with respect to ``theta``, for dict and tuple params, one and several outputs, and a
    model other than ``linear_model`` (so the loss must use its ``model`` argument). The sign of
    the residual does not matter: ``(y_pred - y) ** 2`` is accepted.

    Args:
        fn: the learner's function ``fn(theta, model, x, y) -> scalar``.
        seed: make the random inputs reproducible (tests); by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the function is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.

    Example:
        >>> import jax.numpy as jnp
        >>> from dl_workshop.checks import check_mseloss
        >>> def mseloss(theta, model, x, y):
        ...     return jnp.mean((y - model(theta, x)) ** 2)
        >>> check_mseloss(mseloss, seed=0)  # doctest: +ELLIPSIS
        ✓ mseloss ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "mseloss"
    rng = _check_seed(seed)
    _require_callable(fn, exercise, "def mseloss(theta, model, x, y): ...")
    _require_signature(fn, exercise, "mseloss(theta, model, x, y)", None, None, None, None)
    cases = [
        _loss_case(rng, "dict", "scalar", linear_model),
        _loss_case(rng, "tuple", "scalar", linear_model),
        _loss_case(rng, "dict", "matrix", linear_model),
        _loss_case(rng, "dict", "scalar", _sine_model),
    ]
    for case in cases:
        _loss_call(fn, case)
    for case in cases[:3]:
        args = (case.theta, case.model, case.x, case.y)
        expected = case.grad
        outcome = _attempt(jax.grad(fn), *args)
        if not outcome.ok:
            raise _error_fail(
                exercise,
                "a loss JAX can differentiate with respect to theta",
                "jax.grad(mseloss) failed: ",
                outcome.value,
            )
        if not _close(_flat(outcome.value), _flat(expected), rtol=1e-3):
            raise _fail(
                exercise,
                f"gradient {_show_params(expected)} ({case.description})",
                _show_params(outcome.value),
                "the loss values are right but not its gradient: do not hide theta from JAX "
                "(no np.asarray, float() or jax.lax.stop_gradient on it).",
            )
    return _success(
        f"mseloss matches the reference on {len(cases)} fresh random inputs (one and several "
        "outputs, dict and tuple params, any model), values and gradients."
    )


# ----------------------------------------------------------------------------------------------
# dmseloss
# ----------------------------------------------------------------------------------------------


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
    exercise = "dmseloss"
    rng = _check_seed(seed)
    if fn is not None and not callable(fn):
        raise _fail(
            exercise,
            "a function: dmseloss = grad(mseloss)",
            describe(fn),
            "dmseloss must be the gradient *function*, grad(mseloss), not the gradient "
            "evaluated at one theta: do not call it when defining it.",
        )
    _require_callable(fn, exercise, "dmseloss = grad(mseloss)")
    cases = [
        _loss_case(rng, "dict", "scalar", linear_model),
        _loss_case(rng, "tuple", "scalar", linear_model),
        _loss_case(rng, "dict", "matrix", linear_model),
    ]
    for case in cases:
        args = (case.theta, case.model, case.x, case.y)
        expected = case.grad
        structure = (
            "a dict {'w': dw, 'b': db}" if isinstance(case.theta, dict) else "a tuple (dw, db)"
        )
        expected_text = f"{structure} = {_show_params(expected)} ({case.description})"
        outcome = _attempt(fn, *args)
        if not outcome.ok:
            raise _error_fail(exercise, expected_text, "an error: ", outcome.value)
        value = outcome.value
        if value is None:
            raise _fail(
                exercise,
                expected_text,
                "None",
                "dmseloss returns None: define it as dmseloss = grad(mseloss) (a one-liner), "
                "not as a function with `pass` in it.",
            )
        as_number = _as_float_array(value) if not isinstance(value, (dict, tuple, list)) else None
        if as_number is not None and as_number.shape == ():
            if _close(as_number, case.loss):
                hint = "dmseloss returns the loss itself: take its gradient, grad(mseloss)."
            else:
                hint = "the gradient must have one entry per parameter, in theta's structure."
            raise _fail(exercise, expected_text, _show(as_number), hint)
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and np.shape(value[0]) == ()
            and jax.tree_util.tree_structure(value[1]) == jax.tree_util.tree_structure(case.theta)
        ):
            raise _fail(
                exercise,
                expected_text,
                "a pair (loss, gradient)",
                "that is what jax.value_and_grad returns; dmseloss is grad(mseloss), the "
                "gradient alone.",
            )
        if jax.tree_util.tree_structure(value) != jax.tree_util.tree_structure(case.theta):
            raise _fail(
                exercise,
                expected_text,
                describe(value),
                "the gradient must have the same structure as theta (jax.grad does this for "
                "you): a dict for dict params, a tuple for tuple params.",
            )
        got = _flat(value)
        want = _flat(expected)
        if got.shape != want.shape:
            raise _fail(
                exercise,
                expected_text,
                _show(got),
                "each gradient entry must have the shape of its parameter.",
            )
        if not _close(got, want, rtol=1e-3):
            n = len(case.y)
            hints = [
                (
                    -want,
                    "the gradient has the wrong sign: differentiate the loss as it is, "
                    "jax.grad(mseloss), and subtract the gradient only in the update step.",
                ),
                (
                    n * want,
                    f"the gradient is {n} (= n) times too large: your loss sums the "
                    "squared errors instead of averaging them (jnp.mean).",
                ),
                (
                    want / 2,
                    "the gradient is half the expected one: your loss has a factor 1/2 "
                    "that the mean squared error does not.",
                ),
            ]
            hint = next(
                (text for candidate, text in hints if _close(got, candidate, rtol=1e-3)),
                "define dmseloss = jax.grad(mseloss) and check that mseloss itself is right "
                "(check_mseloss).",
            )
            raise _fail(exercise, expected_text, _show_params(value), hint)
    return _success(
        f"dmseloss matches jax.grad of the reference loss on {len(cases)} fresh random inputs "
        "(dict and tuple params, one and several outputs)."
    )


# ----------------------------------------------------------------------------------------------
# The optimization loop
# ----------------------------------------------------------------------------------------------


def _wb(theta: Any) -> np.ndarray:
    w, b = unpack_linear_params(theta)
    return np.array([np.asarray(w, dtype=float).item(), np.asarray(b, dtype=float).item()])


def _scalar_loss_and_grad(theta: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error of the scalar-form line and its gradient ``[d/dw, d/db]`` (NumPy)."""
    w, b = _wb(theta)
    residual = y - (w * x + b)
    upstream = -2.0 * residual / residual.size
    return float(np.mean(residual**2)), np.array([np.sum(upstream * x), np.sum(upstream)])


def _loop_result(fn: Callable[..., Any], theta: Any, x: Any, y: Any, n_steps: int) -> _Outcome:
    # A deep copy: a loop that updates theta in place must not change the checker's copy.
    return _attempt(fn, copy.deepcopy(theta), linear_model, mseloss, x, y, n_steps=n_steps)


def _unpack_loop_result(value: Any, theta0: Any, n_steps: int) -> tuple[np.ndarray, Any]:
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "the optimization loop"
    expected = f"a pair (losses, theta): {n_steps} loss value(s) and the updated parameters"
    if value is None:
        raise _fail(
            exercise,
            expected,
            "None",
            "your loop returns None: end the function with `return losses, theta`.",
        )
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _fail(
            exercise,
            expected,
            describe(value),
            "return both the recorded losses and the final parameters: `return losses, theta`.",
        )
    losses, theta = value
    structure = jax.tree_util.tree_structure(theta0)
    if (
        jax.tree_util.tree_structure(losses) == structure
        and jax.tree_util.tree_structure(theta) != structure
    ):
        raise _fail(
            exercise,
            expected,
            "(theta, losses)",
            "the lesson unpacks `losses, theta = ...`: return the losses first.",
        )
    array = _as_float_array(losses)
    if array is None:
        raise _fail(
            exercise,
            expected,
            f"losses = {describe(losses)}",
            "losses should be a list (or array) of numbers, one loss per step.",
        )
    if not _attempt(_wb, theta).ok:
        raise _fail(
            exercise,
            expected,
            f"theta = {describe(theta)}",
            "return the updated parameters (w and b, single numbers) in the same structure as "
            "the theta passed in.",
        )
    return np.atleast_1d(array), theta


def _loop_length_hint(got: int, n_steps: int) -> str:
    if got == 0:
        return "nothing is recorded: append the loss to the list inside the loop, once per step."
    if got == 1 and n_steps > 1:
        return (
            "the loss is recorded once instead of at every step: put losses.append(...) inside "
            "the loop body (indented under the for)."
        )
    return (
        f"run exactly n_steps steps with `for step in range(n_steps):`, using the n_steps "
        f"argument rather than a fixed number (got {got} losses for n_steps={n_steps})."
    )


def check_optimization_loop(
    fn: Callable[..., tuple[Any, Any]],
    *,
    seed: int | None = None,
) -> bool:
    """Check the learner's optimization loop ``fn(theta, model, loss, x, y, n_steps=...)``.

    Runs the loop on fresh random data with :func:`~dl_workshop.linear_model` and
    :func:`~dl_workshop.mseloss`, for 1 step and for a few (25) steps (few, so that a slow Python
    loop still checks quickly), and checks that it returns ``(losses, theta)`` with one loss per
    step, that the first step moves theta downhill, that the recorded losses are the losses of
    the parameters along the way, and that the loss falls. A diverging loop is told whether its
    step size is above the largest stable one, ``2 / L``.

    Args:
        fn: the learner's loop, ``fn(theta, model, loss, x, y, n_steps=...) -> (losses, theta)``,
            with its own step size. It is given dict params, and tuple params if dicts fail.
        seed: make the random inputs reproducible (tests); by default fresh ones are drawn.

    Returns:
        ``True`` (after printing one line) when the loop is right.

    Raises:
        ExerciseError: with what was expected, what came back and a hint.

    Example:
        >>> from dl_workshop import model_optimization_loop
        >>> from dl_workshop.checks import check_optimization_loop
        >>> check_optimization_loop(model_optimization_loop, seed=0)  # doctest: +ELLIPSIS
        ✓ the optimization loop ...
        True
    """
    __tracebackhide__ = True  # tracebacks in pytest stop at the learner's call
    exercise = "the optimization loop"
    rng = _check_seed(seed)
    signature_text = "model_optimization_loop(theta, model, loss, x, y, n_steps=...)"
    _require_callable(fn, exercise, f"def {signature_text}: ...")
    try:
        inspect.signature(fn).bind(None, None, None, None, None, n_steps=1)
    except TypeError:
        raise _fail(
            exercise,
            f"a function called as {signature_text}",
            f"a function with signature {inspect.signature(fn)}",
            "take theta, model, loss, x and y in that order and an n_steps argument; the "
            "lesson calls it as loop(theta, linear_model, mseloss, x, y, n_steps=3000).",
        ) from None
    except ValueError:
        pass

    n = _N_LOOP
    x = np.sort(rng.uniform(-5.0, 5.0, n))
    w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 5.0, 20.0))
    y = w_true * x + b_true + rng.normal(size=n)
    w0, b0 = w_true + float(_signed(rng, 1.0, 2.0)), b_true + float(_signed(rng, 2.0, 5.0))

    # One step first: it reveals the update's direction and size without a long run.
    attempts = []
    for _label, theta0 in _containers(w0, b0):
        outcome = _loop_result(fn, theta0, x, y, 1)
        attempts.append((theta0, outcome))
        if outcome.ok:
            break
    theta0, one_step = attempts[-1]
    if not one_step.ok:
        exc = attempts[0][1].value
        raise _error_fail(exercise, f"(losses, theta) from {signature_text}", "an error: ", exc)
    losses1, theta1 = _unpack_loop_result(one_step.value, theta0, 1)
    if len(losses1) != 1:
        raise _fail(
            exercise,
            "1 loss for n_steps=1",
            f"{len(losses1)} losses",
            _loop_length_hint(len(losses1), 1),
        )
    if _same_values(theta1, theta0):
        raise _fail(
            exercise,
            "theta to change after a step",
            "the starting theta, unchanged",
            "theta is never updated: assign the new values back, e.g. "
            "theta = {'w': w - step_size * grads['w'], 'b': b - step_size * grads['b']} inside "
            "the loop, and return that theta.",
        )
    loss0, grad0 = _scalar_loss_and_grad(theta0, x, y)
    loss1, _ = _scalar_loss_and_grad(theta1, x, y)
    delta = np.subtract(_wb(theta1), _wb(theta0))
    if float(np.dot(delta, grad0)) > 0:
        raise _fail(
            exercise,
            f"a step downhill: the loss of {loss0:.4g} at the start should fall",
            f"a step uphill, to a loss of {loss1:.4g}",
            "the update has the wrong sign: step against the gradient, "
            "theta - step_size * gradient, not theta + step_size * gradient. (The sign inside "
            "the loss does not matter; the sign of the update does.)",
        )

    run = _loop_result(fn, theta0, x, y, _LOOP_STEPS)
    if not run.ok:
        raise _error_fail(
            exercise, f"(losses, theta) after {_LOOP_STEPS} steps", "an error: ", run.value
        )
    losses, theta = _unpack_loop_result(run.value, theta0, _LOOP_STEPS)
    if len(losses) != _LOOP_STEPS:
        raise _fail(
            exercise,
            f"{_LOOP_STEPS} losses for n_steps={_LOOP_STEPS}, one per step",
            f"{len(losses)} loss(es)",
            _loop_length_hint(len(losses), _LOOP_STEPS),
        )
    final_loss, _ = _scalar_loss_and_grad(theta, x, y)
    if not np.all(np.isfinite(losses)) or not np.isfinite(final_loss) or final_loss > loss0:
        hessian = 2.0 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
        curvature = float(np.max(np.linalg.eigvalsh(hessian)))
        step = -float(np.dot(delta, grad0)) / float(np.dot(grad0, grad0))
        got = f"the loss grew from {loss0:.4g} to {final_loss:.4g} in {_LOOP_STEPS} steps"
        if step > 2.0 / curvature:
            hint = (
                f"the loop diverges because the step size (about {step:.3g}) is too large: on "
                f"this data gradient descent is stable only below 2/L = {2 / curvature:.3g} "
                f"(L = {curvature:.3g}, the loss's largest curvature). Use a smaller step, such "
                f"as {1 / curvature:.2g} or the lesson's 0.001."
            )
        else:
            hint = (
                "the loss grows although the first step is small enough: make every step "
                "theta - step_size * gradient, with the gradient of the current theta."
            )
        raise _fail(exercise, "the loss to fall", got, hint)
    if np.ptp(losses) == 0:
        raise _fail(
            exercise,
            "the loss of the current theta at each step",
            f"the same value, {losses[0]:.6g}, at every step",
            "compute the loss inside the loop from the current theta before appending it, "
            "rather than appending one value computed before the loop.",
        )
    if not (_close(losses[0], loss0, rtol=1e-3) or _close(losses[0], loss1, rtol=1e-3)):
        raise _fail(
            exercise,
            f"a first recorded loss of {loss0:.6g} (the starting theta) or {loss1:.6g} "
            "(after one step)",
            f"{losses[0]:.6g}",
            "record loss(theta, model, x, y) with the model, x and y passed to the loop, not "
            "global variables.",
        )
    if not losses[-1] < losses[0]:
        raise _fail(
            exercise,
            "the recorded losses to fall",
            f"from {losses[0]:.4g} to {losses[-1]:.4g}",
            "record the loss of the current theta at every step, after computing it afresh.",
        )
    return _success(
        f"the optimization loop records one loss per step and moves downhill: on fresh random "
        f"data the loss fell from {loss0:.4g} to {final_loss:.4g} in {_LOOP_STEPS} steps."
    )
