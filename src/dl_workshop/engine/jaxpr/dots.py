"""Matrix-vector products over many rows as a multiply-and-sum: the slow product of XLA's CPU
backend.

The gradient of any model that multiplies the data by its weights (``x @ w``) contains the
transposed product ``xᵀ r``: a contraction over the rows of a tall matrix with a vector. XLA's
CPU backend runs it at a fraction of the speed of memory (``benchmarks/bench_fullbatch.py``,
1M x 32 float32: 10.7 ms, where NumPy needs 3.8 ms); the same product written as
``sum(x * r[:, None], axis=0)``, which XLA fuses into one loop over the data, takes 3.8 ms,
for any number of rows and columns.
:func:`fused_row_products` re-evaluates an objective's traced program with every such product
written that way: the same values up to the order of float additions, for any model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

from dl_workshop.engine.shapecheck import on_host_cpu
from dl_workshop.engine.shortcuts import enabled

#: Contractions over fewer rows than this stay as they are (the data fits in cache anyway).
MIN_ROWS = 1 << 15

#: The other operand needs at least this many columns for the rewritten form to pay.
MIN_COLUMNS = 8


def _vector(shape: tuple[int, ...]) -> bool:
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def is_row_product(eqn: Any) -> bool:
    """Whether a ``dot_general`` contracts the rows of a tall matrix (at least ``MIN_ROWS`` rows,
    ``MIN_COLUMNS`` columns) with a vector: the product :func:`fused_row_products` rewrites."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lb or rb or tuple(lc) != (0,) or tuple(rc) != (0,):
        return False
    shapes = [tuple(v.aval.shape) for v in eqn.invars]
    if any(len(s) not in (1, 2) for s in shapes) or shapes[0][0] < MIN_ROWS:
        return False
    vectors = [_vector(s) for s in shapes]
    if vectors.count(True) != 1:
        return False
    return shapes[vectors.index(False)][1] >= MIN_COLUMNS


def _multiply_and_sum(eqn: Any, lhs: Any, rhs: Any) -> Any:
    """``dot_general`` over the rows as ``sum(matrix * vector[:, None], axis=0)``."""
    vector_first = _vector(tuple(eqn.invars[0].aval.shape))
    vector, matrix = (lhs, rhs) if vector_first else (rhs, lhs)
    dtype = eqn.params.get("preferred_element_type") or eqn.outvars[0].aval.dtype
    column = jnp.reshape(vector, (-1, 1)).astype(dtype)
    total = jnp.sum(matrix.astype(dtype) * column, axis=0)
    return jnp.reshape(total, eqn.outvars[0].aval.shape)


def _has_product(jaxpr: Any) -> bool:
    """Whether ``jaxpr`` or an inner program it calls has a product to rewrite."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general" and is_row_product(eqn):
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
    """Evaluate ``jaxpr`` (inside the caller's trace) with its row products rewritten."""
    env = dict(zip([*jaxpr.constvars, *jaxpr.invars], [*consts, *args], strict=False))

    def read(var: Any) -> Any:
        return var.val if isinstance(var, core.Literal) else env[var]

    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "dot_general" and is_row_product(eqn):
            outs = [_multiply_and_sum(eqn, *values)]
        elif name in ("jit", "pjit") and _has_product(eqn.params["jaxpr"].jaxpr):
            inner = eqn.params["jaxpr"]
            outs = _evaluate(inner.jaxpr, inner.consts, values)
        else:
            outs = bind_equation(eqn, values)
        env.update(zip(eqn.outvars, outs, strict=False))
    return [read(v) for v in jaxpr.outvars]


def fused_row_products(fun: Callable[..., Any]) -> Callable[..., Any]:
    """``fun`` with its matrix-vector products over many rows evaluated as multiply-and-sums.

    Meant to be called while tracing (inside ``jax.jit``): ``fun`` is traced once more and its
    program re-evaluated, with each contraction over at least ``MIN_ROWS`` rows of a matrix and
    a vector (``xᵀ r``, ``r @ x``) written as ``sum(x * r[:, None], axis=0)``. A program
    without such a product is evaluated unchanged.

    Args:
        fun: any function of arrays (pytrees in and out).

    Returns:
        A function with the same signature and results (to float rounding).

    Example:
        >>> import jax.numpy as jnp
        >>> x, r = jnp.ones((1 << 15, 16)), jnp.ones(1 << 15)
        >>> float(fused_row_products(lambda r, x: r @ x)(r, x)[0])
        32768.0
    """

    @functools.wraps(fun)
    def fused(*args: Any) -> Any:
        closed, shapes = jax.make_jaxpr(fun, return_shape=True)(*args)
        if not _has_product(closed.jaxpr):
            return fun(*args)
        flat = jax.tree_util.tree_leaves(args)
        try:
            outs = _evaluate(closed.jaxpr, list(closed.consts), flat)
        except Exception:  # an equation this JAX cannot re-bind: no shortcut
            return fun(*args)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), outs)

    return fused


def wants_fused_row_products(data: Any) -> bool:
    """Whether an objective reading ``data`` may have row products worth blocking: on the CPU,
    with an array of at least ``MIN_ROWS`` rows on one device (and the shortcut on)."""
    return enabled("fused-dots") and any(
        np.ndim(leaf) >= 1 and np.shape(leaf)[0] >= MIN_ROWS and on_host_cpu(leaf)
        for leaf in jax.tree_util.tree_leaves(data)
    )
