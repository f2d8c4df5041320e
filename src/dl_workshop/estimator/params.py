"""The estimator's hyperparameters: a declared table of constraints, checked at fit time.

As in scikit-learn (``_parameter_constraints``), each constructor argument of
:class:`~dl_workshop.estimator.GradientDescentRegressor` has one entry in
:data:`PARAMETER_CONSTRAINTS`, and :func:`validate_hyperparameters` applies the table in one
pass. The constraints are small callables of our own, ``constraint(value, name) -> value``,
rather than scikit-learn's, so that the error messages stay the package's (they name the
argument, the accepted values and what was given).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import optax

from dl_workshop._validation import check_int, check_positive, describe, float_dtype

#: Names accepted by ``optimizer`` (besides any ``optax.GradientTransformation``).
OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs")

_OPTIMIZER_CHOICES = f"{', '.join(map(repr, OPTIMIZERS))} or an optax.GradientTransformation"
OPTIMIZER_MESSAGE = "optimizer must be one of " + _OPTIMIZER_CHOICES + "; got {}"
LEARNING_RATE_MESSAGE = "learning_rate must be 'auto' or a number > 0; got {!r}"
FLAG_MESSAGE = "{} must be True or False; got {}"
RANDOM_STATE_MESSAGE = "random_state must be None, an int or a numpy.random.RandomState; got {}"

#: ``constraint(value, name) -> value``: the validated (possibly converted) value, or an error.
Constraint = Callable[[Any, str], Any]


class Optimizer(NamedTuple):
    """One of :data:`OPTIMIZERS`, or any ``optax.GradientTransformation``."""

    def __call__(self, value: Any, name: str) -> Any:
        if isinstance(value, str):
            if value not in OPTIMIZERS:
                raise ValueError(OPTIMIZER_MESSAGE.format(repr(value)))
        elif not isinstance(value, optax.GradientTransformation):
            raise TypeError(OPTIMIZER_MESSAGE.format(describe(value)))
        return value


class Integer(NamedTuple):
    """An integer ``>= minimum`` (bools rejected)."""

    minimum: int

    def __call__(self, value: Any, name: str) -> int:
        return check_int(value, name, minimum=self.minimum)


class Real(NamedTuple):
    """A finite number ``> 0``, or ``>= 0`` with ``allow_zero``."""

    allow_zero: bool = False

    def __call__(self, value: Any, name: str) -> float:
        return check_positive(value, name, allow_zero=self.allow_zero)


class AutoOr(NamedTuple):
    """The string ``"auto"``, or a value that ``inner`` accepts."""

    inner: Constraint

    def __call__(self, value: Any, name: str) -> Any:
        if isinstance(value, str):
            if value == "auto":
                return value
            raise ValueError(LEARNING_RATE_MESSAGE.format(value))
        return self.inner(value, name)


class NoneOr(NamedTuple):
    """``None``, or a value that ``inner`` accepts; with ``zero_is_none``, 0 also means None."""

    inner: Constraint
    zero_is_none: bool = False

    def __call__(self, value: Any, name: str) -> Any:
        if value is None:
            return None
        checked = self.inner(value, name)
        return None if self.zero_is_none and not checked else checked


class Boolean(NamedTuple):
    """``True`` or ``False`` (Python or NumPy bools, not 0 and 1)."""

    def __call__(self, value: Any, name: str) -> Any:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(FLAG_MESSAGE.format(name, describe(value)))
        return value


class RandomState(NamedTuple):
    """``None``, an int or a ``numpy.random.RandomState`` (kept as given: it is a generator)."""

    def __call__(self, value: Any, name: str) -> Any:
        if value is not None and not isinstance(value, (numbers.Integral, np.random.RandomState)):
            raise TypeError(RANDOM_STATE_MESSAGE.format(describe(value)))
        return value


class FloatDtype(NamedTuple):
    """``"float32"`` or ``"float64"`` (or their NumPy dtypes), as a ``numpy.dtype``."""

    def __call__(self, value: Any, name: str) -> np.dtype:
        return float_dtype(value)


class Unchecked(NamedTuple):
    """Passed on as given: the engine validates it (the checkpoint options)."""

    def __call__(self, value: Any, name: str) -> Any:
        return value


#: One constraint per constructor argument, in the order they are checked (the first invalid
#: one raises).
PARAMETER_CONSTRAINTS: dict[str, Constraint] = {
    "optimizer": Optimizer(),
    "learning_rate": AutoOr(Real()),
    "tol": NoneOr(Real(allow_zero=True), zero_is_none=True),
    "fit_intercept": Boolean(),
    "standardize": Boolean(),
    "warm_start": Boolean(),
    "verbose": Boolean(),
    "random_state": RandomState(),
    "max_iter": Integer(minimum=1),
    "n_iter_no_change": Integer(minimum=1),
    "alpha": Real(allow_zero=True),
    "degree": NoneOr(Integer(minimum=1)),
    "dtype": FloatDtype(),
    "checkpoint": Unchecked(),
    "checkpoint_every": Unchecked(),
    "resume": Unchecked(),
    "overwrite": Unchecked(),
}

#: The hyperparameters that name a file the estimator writes, or say what to do with it: never
#: saved in a model file, and ignored when one holds them (a model from someone else must not
#: choose what ``fit`` writes); a loaded model has their defaults (no checkpoint).
FILE_PARAMETERS = ("checkpoint", "resume", "overwrite")


class Hyperparameters(NamedTuple):
    """The validated hyperparameters of one fit (``tol=0`` becomes ``None``: no early stop)."""

    optimizer: str | optax.GradientTransformation
    learning_rate: float | str
    tol: float | None
    fit_intercept: bool
    standardize: bool
    warm_start: bool
    verbose: bool
    random_state: int | np.random.RandomState | None
    max_iter: int
    n_iter_no_change: int
    alpha: float
    dtype: np.dtype
    checkpoint: Any
    checkpoint_every: Any
    resume: Any
    overwrite: Any = False
    degree: int | None = None


def validate_hyperparameters(params: dict[str, Any]) -> Hyperparameters:
    """Check ``params`` (``estimator.get_params()``) against :data:`PARAMETER_CONSTRAINTS`.

    Args:
        params: the constructor arguments by name.

    Returns:
        The validated values.

    Raises:
        TypeError, ValueError: for the first invalid value, naming the argument.

    Example:
        >>> from dl_workshop.estimator import GradientDescentRegressor
        >>> validate_hyperparameters(GradientDescentRegressor(tol=0.0).get_params()).tol is None
        True
        >>> validate_hyperparameters(GradientDescentRegressor(max_iter=0).get_params())
        Traceback (most recent call last):
        ...
        ValueError: max_iter must be an integer >= 1; got 0
    """
    return Hyperparameters(
        **{
            name: check(params[name], name)
            for name, check in PARAMETER_CONSTRAINTS.items()
            if name in params or name not in Hyperparameters._field_defaults
        }
    )

