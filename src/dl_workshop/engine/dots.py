"""Matrix-vector products over many rows in blocks: the slow product of XLA's CPU backend.

The gradient of any model that multiplies the data by its weights (``x @ w``) contains the
transposed product ``xᵀ r``: a contraction over the rows of a tall matrix with a vector. XLA's
CPU backend runs it at a third of the speed of memory (13 ms for 1M x 32 float32, where NumPy
needs 8 ms); the same product as a batch of products over blocks of 256 rows, summed, reads the
data once at full speed (4.7 ms), for any number of columns. :func:`blocked_dots` re-evaluates
an objective's traced program with every such product written that way: the same values up to
the order of float additions (per-block partial sums, slightly more accurate), for any model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax import lax
from jax.extend import core

from dl_workshop.engine.buckets import on_host_cpu

#: Contractions over fewer rows than this stay as they are (the data fits in cache anyway).
MIN_ROWS = 1 << 15

#: The other operand needs at least this many columns for the blocked form to pay.
MIN_COLUMNS = 8

#: Preferred rows per block (a divisor of the rows in ``BLOCK_RANGE`` closest to it is used).
BLOCK_ROWS = 256
BLOCK_RANGE = (128, 512)


def _block(rows: int) -> int | None:
    """Rows per block: a divisor of ``rows`` near ``BLOCK_ROWS`` (``None``: there is none)."""
    low, high = BLOCK_RANGE
    for offset in range(high - low + 1):
        for size in (BLOCK_ROWS - offset, BLOCK_ROWS + offset):
            if low <= size <= high and rows % size == 0:
                return size
    return None


def _vector(shape: tuple[int, ...]) -> bool:
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def blocked_rows(eqn: Any) -> int | None:
    """Rows per block for a ``dot_general`` that contracts the rows of a tall matrix with a
    vector, ``None`` for any other product."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lb or rb or tuple(lc) != (0,) or tuple(rc) != (0,):
        return None
    shapes = [tuple(v.aval.shape) for v in eqn.invars]
    if any(len(s) not in (1, 2) for s in shapes) or shapes[0][0] < MIN_ROWS:
        return None
    vectors = [_vector(s) for s in shapes]
    if vectors.count(True) != 1:
        return None
    matrix = shapes[vectors.index(False)]
    return _block(matrix[0]) if matrix[1] >= MIN_COLUMNS else None


def _blocked_dot(lhs: Any, rhs: Any, params: dict, block: int) -> Any:
    """``dot_general`` over the rows as a batch of per-block products, summed."""
    n_blocks = lhs.shape[0] // block
    lhs = lhs.reshape(n_blocks, block, *lhs.shape[1:])
    rhs = rhs.reshape(n_blocks, block, *rhs.shape[1:])
    partial = lax.dot_general(
        lhs, rhs, (((1,), (1,)), ((0,), (0,))), precision=params.get("precision"),
        preferred_element_type=params.get("preferred_element_type"),
    )
    return partial.sum(0)


def _has_product(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` or an inner program it calls has a product to block."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general" and blocked_rows(eqn):
            return True
        if eqn.primitive.name in ("jit", "pjit") and _has_product(eqn.params["jaxpr"].jaxpr):
            return True
    return False


def bind_equation(eqn: Any, values: list[Any]) -> list[Any]:
    """Evaluate one equation of a traced program on ``values`` (inside the caller's trace)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = params if isinstance(params, tuple) else ((), params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*subfuns, *values, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def _evaluate(jaxpr: Any, consts: list[Any], args: list[Any]) -> list[Any]:
    """Evaluate ``jaxpr`` (inside the caller's trace) with its row products blocked."""
    env = dict(zip([*jaxpr.constvars, *jaxpr.invars], [*consts, *args], strict=False))

    def read(var: Any) -> Any:
        return var.val if isinstance(var, core.Literal) else env[var]

    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        block = blocked_rows(eqn) if name == "dot_general" else None
        if block:
            outs = [_blocked_dot(*values, eqn.params, block)]
        elif name in ("jit", "pjit") and _has_product(eqn.params["jaxpr"].jaxpr):
            inner = eqn.params["jaxpr"]
            outs = _evaluate(inner.jaxpr, inner.consts, values)
        else:
            outs = bind_equation(eqn, values)
        env.update(zip(eqn.outvars, outs, strict=False))
    return [read(v) for v in jaxpr.outvars]


def blocked_dots(fun: Callable[..., Any]) -> Callable[..., Any]:
    """``fun`` with its matrix-vector products over many rows evaluated in blocks.

    Meant to be called while tracing (inside ``jax.jit``): ``fun`` is traced once more and its
    program re-evaluated, with each contraction over at least ``MIN_ROWS`` rows of a matrix and
    a vector (``xᵀ r``, ``r @ x``) written as per-block products that are summed. A program
    without such a product is evaluated unchanged.

    Args:
        fun: any function of arrays (pytrees in and out).

    Returns:
        A function with the same signature and results (to float rounding).

    Example:
        >>> import jax.numpy as jnp
        >>> x, r = jnp.ones((1 << 15, 16)), jnp.ones(1 << 15)
        >>> float(blocked_dots(lambda r, x: r @ x)(r, x)[0])
        32768.0
    """

    @functools.wraps(fun)
    def blocked(*args: Any) -> Any:
        closed, shapes = jax.make_jaxpr(fun, return_shape=True)(*args)
        if not _has_product(closed.jaxpr):
            return fun(*args)
        flat = jax.tree_util.tree_leaves(args)
        outs = _evaluate(closed.jaxpr, list(closed.consts), flat)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), outs)

    return blocked


def wants_blocked_dots(data: Any) -> bool:
    """Whether an objective reading ``data`` may have row products worth blocking: on the CPU,
    with an array of at least ``MIN_ROWS`` rows on one device."""
    return any(
        np.ndim(leaf) >= 1 and np.shape(leaf)[0] >= MIN_ROWS and on_host_cpu(leaf)
        for leaf in jax.tree_util.tree_leaves(data)
    )
