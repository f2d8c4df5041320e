"""The traced shape check: evaluate the objective abstractly once, turn a mismatch into one
clear error (never a traceback from inside JAX)."""

from __future__ import annotations

import functools
import linecache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop.compilation.executables import check_once


def abstract_leaf(a: Any, rows: int | None = None) -> jax.ShapeDtypeStruct:
    """The shape and dtype of an array or a number (its first axis ``rows`` long if given)."""
    shape = np.shape(a) if rows is None else (rows, *np.shape(a)[1:])
    return jax.ShapeDtypeStruct(shape, a.dtype if hasattr(a, "dtype") else np.result_type(a))


def abstract_tree(tree: Any) -> tuple[Any, tuple[jax.ShapeDtypeStruct, ...]]:
    """``tree`` as a hashable (treedef, shapes and dtypes) pair: a key for what was traced.

    Example:
        >>> import numpy as np
        >>> treedef, leaves = abstract_tree({"w": np.zeros(3, np.float32)})
        >>> leaves[0].shape, str(leaves[0].dtype)
        ((3,), 'float32')
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(abstract_leaf(a) for a in leaves)


def check_structure(objective: Any, params: Any, data: Any) -> None:
    """Trace the objective once (no computation) to turn shape mismatches into one clear error.

    A trace that succeeded is remembered for the same objective, shapes and dtypes (as
    ``jax.jit`` remembers compiled code), so a repeated fit does not pay for it again.
    """
    key = (objective, abstract_tree(params), abstract_tree(data))
    try:
        hash(key)
    except TypeError:  # an unhashable model or loss: trace every time
        _trace_structure(objective, params, data)
        return
    _trace_structure_cached(*key)


def check_structure_padded(objective: Any, params: Any, data: Any, rows: int) -> bool:
    """:func:`check_structure` for ``data`` with its rows padded to ``rows``; ``True`` if it holds.

    Traced for the padded shapes (remembered per number of rows, so the fits of every number of
    rows that pads to ``rows`` share one trace). If that fails, the check is repeated for the
    data's own shapes: it raises the error those shapes give (naming them), or passes when only
    the padding failed (the objective depends on the number of rows): then ``False``.
    """
    padded = jax.tree_util.tree_map(lambda a: abstract_leaf(a, rows), data)
    try:
        check_structure(objective, params, padded)
    except (ValueError, TypeError):
        check_structure(objective, params, data)
        return False
    return True


@functools.lru_cache(maxsize=256)
def _trace_structure_cached(objective: Any, params: Any, data: Any) -> None:
    def tree(abstract: Any) -> Any:
        return jax.tree_util.tree_unflatten(abstract[0], abstract[1])

    params, data = tree(params), tree(data)
    # The library's own objectives are checked once per shapes in any process (a user's once
    # per process): the trace costs about 10 ms of a fit's first call.
    check_once(
        lambda: _trace_structure(objective, params, data),
        f"{__name__}.check_structure",
        (params, data),
        {"objective": objective},
    )


def _shapes(params: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), params)


def _trace_structure(objective: Any, params: Any, data: Any) -> None:
    try:
        loss_shape, _ = jax.eval_shape(
            lambda p, d: objective(p, jnp.zeros((), jnp.int32), d), params, data
        )
    except (ValueError, TypeError) as exc:
        if _raised_by_us(exc):
            # JAX appends a note about its hidden frames to the message: keep our sentence.
            raise type(exc)(first_line(exc)) from None
        raise ValueError(
            f"the model and loss could not be evaluated on theta with shapes {_shapes(params)} "
            f"and x of shape {tuple(data[0].shape)}: {first_line(exc)}"
        ) from exc
    except Exception as exc:
        raise ValueError(
            f"the model and loss failed on theta with shapes {_shapes(params)}: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from exc
    if loss_shape.shape != ():
        raise ValueError(f"loss must return a scalar; it returned shape {loss_shape.shape}")


def _raised_by_us(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a ``raise`` statement of this package (whose messages are
    clear). JAX hides its own frames, so an error from inside JAX (or a call with the wrong
    number of arguments) shows our call site as the innermost frame: hence the ``raise`` test."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or "dl_workshop" not in tb.tb_frame.f_code.co_filename:
        return False
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
    return line.startswith("raise")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
