"""An optimizer's path over the two parameters ``(w, b)``, read from what users pass.

A path is a :class:`~dl_workshop.FitResult` with a recorded path, a ``(w_path, b_path)`` pair
or parameters with a leading axis of steps; it is read into two float arrays of shape ``(k,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import describe, unpack_linear_params
from dl_workshop.fitting.optimization import FitResult

_NO_PATH = (
    "{name} is a FitResult without a parameter path; run fit(..., record_every=k) "
    "(e.g. record_every=10) to record one"
)
_NOT_NUMERIC = "{name}'s {part} must be numeric; got {value}"
_NO_STEPS = "{name}'s {part} must have a leading axis of steps (shape (k,)); got shape {shape}"
_NOT_SCALAR = (
    "the loss landscape is drawn over scalar w and b; {name}'s {part} has shape {shape} "
    "(k steps of shape {step})"
)
_NOT_FINITE = "{name}'s {part} must be finite; got NaN or infinite values"
_STEPS_DIFFER = "{name}'s w and b must have the same number of steps; got {n_w} and {n_b}"


class Trajectory(NamedTuple):
    """One path to draw: its legend label, ``w`` and ``b`` of shape ``(k,)`` and its colour."""

    label: str
    w: np.ndarray
    b: np.ndarray
    color: str


def _steps(value: Any, name: str, part: str) -> np.ndarray:
    """One parameter's steps as a finite float array of shape ``(k,)``."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(_NOT_NUMERIC.format(name=name, part=part, value=describe(value))) from exc
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(_NO_STEPS.format(name=name, part=part, shape=array.shape))
    if array.size != array.shape[0]:
        raise ValueError(
            _NOT_SCALAR.format(name=name, part=part, shape=array.shape, step=array.shape[1:])
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(_NOT_FINITE.format(name=name, part=part))
    return array.reshape(-1)


def path_arrays(path: Any, name: str = "path") -> tuple[np.ndarray, np.ndarray]:
    """``(w_path, b_path)``, each of shape ``(k,)``, from a FitResult or a params trajectory.

    Args:
        path: a FitResult with a recorded path, a ``(w_path, b_path)`` pair or parameters with
            a leading axis of steps.
        name: how messages name ``path``.

    Raises:
        ValueError, TypeError: for a FitResult without a path, or steps that are not numeric,
            finite, scalar or equally many for ``w`` and ``b``.
    """
    if isinstance(path, FitResult):
        if path.path is None:
            raise ValueError(_NO_PATH.format(name=name))
        path = path.path
    w, b = unpack_linear_params(path, name)
    w_arr, b_arr = _steps(w, name, "w"), _steps(b, name, "b")
    if w_arr.shape != b_arr.shape:
        raise ValueError(_STEPS_DIFFER.format(name=name, n_w=w_arr.size, n_b=b_arr.size))
    return w_arr, b_arr


def params_like(template: Any) -> Callable[[Any, Any], Any]:
    """A function ``(w, b) -> params`` building the container type of ``template``.

    ``template`` is a path (or a FitResult, whose ``theta`` is used); a NamedTuple gives that
    NamedTuple, a tuple or list a ``(w, b)`` tuple, anything else a dict ``{"w": w, "b": b}``.
    """
    if isinstance(template, FitResult):
        template = template.theta
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        kind = type(template)
        return lambda w, b: kind(w=w, b=b)
    if isinstance(template, (tuple, list)):
        return lambda w, b: (w, b)
    return lambda w, b: {"w": w, "b": b}
