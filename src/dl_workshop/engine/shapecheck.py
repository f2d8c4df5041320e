"""Shapes: the traced shape check of an objective, and the buckets of rows data is padded to.

The shape check evaluates an objective abstractly once and turns a mismatch into one clear
error (never a traceback from inside JAX); :func:`bucket_of` runs it for a fit's data, at the
shapes of its bucket of rows when the data may be padded.

Compiled code is specialized to the shapes of its inputs; a loop compiled for 100 rows cannot
run on 101. Data whose rows may be padded is padded to :func:`bucket_rows` rows: the next power
of two up to ``POWER_OF_TWO_ROWS`` rows (small problems, whose steps cost little next to
compiling them: every ``n`` from 65 to 4 096 shares one of six buckets), and beyond that ``n``
rounded up to four significant binary digits (at most 1/8 of the rows are padding). The padding
rows are copies of the first row (:func:`~dl_workshop.objectives.full_batch.pad_rows`): finite
wherever the model is finite on the data, and exactly zero after the shift by the first row
that the fast path's statistics use. Whoever pads also makes the padding count for nothing (a
row mask, or batches drawn from the first ``n`` rows only); this module only chooses the shapes.
"""

from __future__ import annotations

import functools
import linecache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop.compilation import without
from dl_workshop.compilation.executables import check_once
from dl_workshop.engine.shortcuts import SHORTCUTS

#: The smallest bucket: every problem with at most this many rows shares it.
MIN_BUCKET_ROWS = 16

#: Up to this many rows, buckets are powers of two.
POWER_OF_TWO_ROWS = 4096

#: Data larger than this (bytes, all padded arrays together) is not padded: its copy would cost
#: more than the compilation it saves, and few fits of such data vary in size.
MAX_PADDED_BYTES = 1 << 26


def bucket_rows(n: int) -> int:
    """The bucket of ``n`` rows: a power of two up to ``POWER_OF_TWO_ROWS``, then ``n`` rounded up
    to four significant binary digits.

    Args:
        n: number of rows, >= 1.

    Returns:
        The number of rows to pad to (at least ``MIN_BUCKET_ROWS``; below ``n * 9 / 8`` beyond
        ``POWER_OF_TWO_ROWS``).

    Example:
        >>> [bucket_rows(n) for n in (1, 100, 442, 4096, 4097, 10_000, 1_000_000)]
        [16, 128, 512, 4096, 4608, 10240, 1048576]
    """
    if n <= POWER_OF_TWO_ROWS:
        return max(MIN_BUCKET_ROWS, 1 << max(0, n - 1).bit_length())
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def on_host_cpu(array: Any) -> bool:
    """Whether ``array`` is a NumPy array, or a JAX array on one CPU device (readable in place).

    NumPy arrays count only when JAX computes on the CPU (where the compiled loop reads them).
    """
    if isinstance(array, jax.Array):
        devices = array.sharding.device_set
        return len(devices) == 1 and next(iter(devices)).platform == "cpu"
    return isinstance(array, (np.ndarray, np.generic)) and jax.default_backend() == "cpu"


def nbytes(*arrays: Any) -> int:
    """The bytes of ``arrays`` together."""
    return sum(np.dtype(a.dtype).itemsize * int(np.size(a)) for a in arrays)


def paddable(*arrays: Any) -> bool:
    """Whether ``arrays`` (sharing their number of rows) are small host data worth padding.

    NumPy arrays, and JAX arrays on one CPU device (read in place), up to ``MAX_PADDED_BYTES``.
    Arrays on accelerators or split over devices stay as they are: padding them would take a
    compiled program of its own for every number of rows.
    """
    host = all(isinstance(a, np.ndarray) or on_host_cpu(a) for a in arrays)
    return host and nbytes(*arrays) <= MAX_PADDED_BYTES


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


def bucket_of(objective: Any, params: Any, data: tuple[Any, Any], shortcut: str) -> int | None:
    """Check that ``objective`` evaluates on ``data = (x, y)`` (one clear error if not); return
    the bucket of rows the data may be padded to, or ``None`` when it must stay as it is.

    The data may be padded when ``shortcut`` (a name of
    :data:`~dl_workshop.engine.shortcuts.SHORTCUTS`) is on and the arrays are small host data
    (:func:`paddable`). The check is then traced for the bucket's shapes (remembered per
    bucket, so a fit with another number of rows in the same bucket traces nothing); if it
    fails there, it is repeated for the data's own shapes, which raises the error the user
    should see (or shows that the objective depends on the number of rows, e.g. one parameter
    per row).
    """
    if shortcut not in SHORTCUTS:
        raise ValueError(f"unknown shortcut {shortcut!r}; known: {sorted(SHORTCUTS)}")
    x, y = data
    if without(shortcut) or not paddable(x, y):
        check_structure(objective, params, data)
        return None
    rows = bucket_rows(len(x))
    return rows if check_structure_padded(objective, params, data, rows) else None


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
