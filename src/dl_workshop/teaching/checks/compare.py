"""Comparing the learner's values with the reference's, and showing them compactly in messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from dl_workshop._validation import describe
from dl_workshop.teaching.checks.runner import _attempt

#: Relative tolerance of a value comparison (gradients compare at 1e-3: they go through more
#: arithmetic).
_RTOL = 1e-4

#: How many entries of an array a message shows.
_SHOWN = 5


def _show(value: Any) -> str:
    """A compact display of a number or array for messages."""
    array = _as_float_array(value)
    if array is None:
        return describe(value)
    if array.ndim == 0:
        return f"{float(array):.4g}"
    shown = ", ".join(f"{v:.4g}" for v in array.ravel()[:_SHOWN])
    more = ", ..." if array.size > _SHOWN else ""
    return f"[{shown}{more}] (shape {array.shape})"


def _show_params(tree: Any) -> str:
    """``{'w': ..., 'b': ...}`` or ``(..., ...)`` with compact values, in the learner's order."""
    if isinstance(tree, Mapping) and set(tree) == {"w", "b"}:
        return f"{{'w': {_show(tree['w'])}, 'b': {_show(tree['b'])}}}"
    if isinstance(tree, (tuple, list)) and len(tree) == 2:
        return f"({_show(tree[0])}, {_show(tree[1])})"
    return _show(_flat(tree)) if _attempt(_flat, tree).ok else describe(tree)


def _as_float_array(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def _close(got: Any, expected: Any, rtol: float = _RTOL) -> bool:
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    return bool(np.allclose(got, expected, rtol=rtol, atol=rtol * scale))


def _known_mistake(got: Any, mistakes: Any, default: Any = None, rtol: float = _RTOL) -> Any:
    """The hint of the first ``(wrong value, hint)`` in ``mistakes`` that ``got`` is close to,
    else ``default``.

    Example:
        >>> _known_mistake(-2.0, [(2.0, "sign"), (-2.0, "negated")])
        'negated'
        >>> _known_mistake(5.0, [(2.0, "sign")], "other")
        'other'
    """
    return next((hint for wrong, hint in mistakes if _close(got, wrong, rtol)), default)


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


def _same_structure(a: Any, b: Any) -> bool:
    return jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
