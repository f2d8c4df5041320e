"""What a diagram shows: the model's shape and values (:class:`Spec`), and which slots to draw.

A plain ``tuple`` of exactly two integers is a shape ``(n_inputs, n_outputs)``; anything else
is read as parameters (see :mod:`dl_workshop.teaching.diagrams`).
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import check_int, describe, unpack_linear_params

_AMBIGUOUS = (
    "params_or_shape {value!r} is ambiguous: pass a shape as a tuple of two ints "
    "(n_inputs, n_outputs), or parameters as floats or a dict {{'w': ..., 'b': ...}}"
)
_NOT_PARAMS = (
    "params_or_shape must be parameters (a dict {{'w': ..., 'b': ...}}, a (w, b) tuple or "
    "LinearParams) or a shape tuple (n_inputs, n_outputs) of ints; got {}"
)
_NOT_REAL = "params_or_shape's {name} must be real numbers (int or float); got {value}"
_BAD_W = "params_or_shape's w must be a scalar, shape (d_in,) or (d_in, d_out); got shape {}"
_BAD_B = (
    "params_or_shape's b must be a scalar or have shape ({n_out},) to match w of shape "
    "{w_shape}; got b of shape {b_shape}"
)


class Spec(NamedTuple):
    """The model to draw: its shape, and its parameters when they are known."""

    n_inputs: int
    n_outputs: int
    w: np.ndarray | None  # (n_inputs, n_outputs), or None when only the shape is known
    b: np.ndarray | None  # (n_outputs,)
    scalar: bool  # the lesson's scalar form (w and b plain numbers)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real_array(raw: Any, name: str) -> np.ndarray:
    """``raw`` as a float array, after checking it holds real numbers."""
    try:
        original = np.asarray(raw)
    except (TypeError, ValueError):
        original = np.asarray(None)  # ragged or otherwise unusable: rejected below
    if original.dtype.kind not in "iuf":
        raise TypeError(_NOT_REAL.format(name=name, value=describe(raw)))
    return original.astype(float)


def _params_spec(value: Any) -> Spec:
    """The :class:`Spec` of parameters: ``w`` as ``(d_in, d_out)``, ``b`` as ``(d_out,)``."""
    w_raw, b_raw = unpack_linear_params(value, "params_or_shape")
    w, b = _real_array(w_raw, "w"), _real_array(b_raw, "b")
    if w.ndim > 2 or w.size == 0:
        raise ValueError(_BAD_W.format(w.shape))
    scalar = w.ndim == 0 and b.ndim == 0
    w2 = w.reshape(1, 1) if w.ndim == 0 else (w[:, None] if w.ndim == 1 else w)
    n_in, n_out = w2.shape
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] not in (1, n_out)):
        raise ValueError(_BAD_B.format(n_out=n_out, w_shape=w.shape, b_shape=b.shape))
    b1 = np.broadcast_to(b.reshape(-1), (n_out,)).copy()
    return Spec(n_in, n_out, w2, b1, scalar)


def read_spec(params_or_shape: Any) -> Spec:
    """Read a shape ``(n_inputs, n_outputs)`` or parameters (see the package docstring).

    Raises:
        ValueError, TypeError: for an invalid or ambiguous shape, or invalid parameters.
    """
    value = params_or_shape
    if type(value) is tuple and len(value) == 2 and all(_is_int(v) for v in value):
        n_in = check_int(value[0], "params_or_shape's n_inputs", minimum=1)
        n_out = check_int(value[1], "params_or_shape's n_outputs", minimum=1)
        return Spec(n_in, n_out, None, None, scalar=False)
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value):
        raise ValueError(_AMBIGUOUS.format(value=value))
    if value is None or isinstance(value, (str, bytes, numbers.Number, np.ndarray)):
        raise TypeError(_NOT_PARAMS.format(describe(value)))
    return _params_spec(value)


def slots(count: int, limit: int) -> list[int | None]:
    """Indices to draw for ``count`` items in at most ``limit`` slots; ``None`` is the ellipsis."""
    if count <= limit:
        return list(range(count))
    return [*range(limit - 2), None, count - 1]
