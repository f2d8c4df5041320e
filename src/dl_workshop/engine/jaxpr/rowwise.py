"""Whether a model treats the rows of its data separately, read from its traced program.

Padding the rows of ``x`` (see :mod:`~dl_workshop.engine.shapecheck`) leaves a model's predictions
for the real rows unchanged only if row ``i`` of ``model(params, x)`` is computed from row ``i``
of ``x`` alone, and from nothing that depends on the number of rows. :func:`rows_separate` checks
both on the model's jaxpr, conservatively (``False`` whenever it cannot tell):

* the row axis is followed through the program: elementwise operations, broadcasts, transposes,
  reshapes that keep it leading, reductions and products over other axes, and calls of inner
  programs keep rows apart; anything that reduces, slices, sorts or gathers along the rows (e.g.
  ``x - x.mean(0)``), or an operation not known here, counts as mixing them;
* the program traced for ``N`` rows and for ``N + 1`` rows must be the same apart from the
  number of rows in shapes, so that no constant depends on it (e.g. ``x / x.shape[0]``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from jax.extend import core

#: Operations whose output element depends only on the input elements at the same position.
ELEMENTWISE = frozenset((
    "abs", "acos", "acosh", "add", "add_any", "and", "asin", "asinh", "atan", "atan2", "atanh",
    "bessel_i0e", "bessel_i1e", "cbrt", "ceil", "clamp", "clz", "complex", "conj",
    "convert_element_type", "copy", "copy_p", "cos", "cosh", "digamma", "div", "eq", "erf",
    "erf_inv", "erfc", "exp", "exp2", "expm1", "floor", "ge", "gt", "igamma", "igammac", "imag",
    "integer_pow", "is_finite", "le", "lgamma", "log", "log1p", "logistic", "lt", "max", "min",
    "mul", "ne", "neg", "nextafter", "not", "or", "polygamma", "population_count", "pow", "real",
    "reduce_precision", "rem", "round", "rsqrt", "select_n", "shift_left",
    "shift_right_arithmetic", "shift_right_logical", "sign", "sin", "sinh", "sqrt", "square",
    "stop_gradient", "sub", "tan", "tanh", "xor", "zeta",
))

#: Reductions over ``axes``: they keep rows apart unless the row axis is one of them.
REDUCTIONS = frozenset((
    "argmax", "argmin", "reduce_and", "reduce_max", "reduce_min", "reduce_or", "reduce_prod",
    "reduce_sum", "reduce_xor",
))

#: Scans along ``axis``: they mix rows when it is the row axis.
SCANS = frozenset(("cumlogsumexp", "cummax", "cummin", "cumprod", "cumsum"))

#: Calls of an inner program, by the parameter that holds it.
CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
}


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    """Shape, dtype and weak type: what the traced program depends on (as in
    :mod:`~dl_workshop.engine.jaxpr.rowmean`, whose key does not call into this module)."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return leaf
    aval = jax.typeof(leaf)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


class _MixedError(Exception):
    """Raised inside the analysis when rows may be mixed (or the operation is unknown)."""


def _shape(var: Any) -> tuple[int, ...]:
    return tuple(getattr(var.aval, "shape", ()))


def _elementwise(eqn: Any, axes: list[Any]) -> list[Any]:
    out = _shape(eqn.outvars[0])
    rows = {a for a in axes if a is not None}
    if len(rows) != 1:
        raise _MixedError
    axis = rows.pop()
    for var, a in zip(eqn.invars, axes, strict=False):
        if a is not None and (len(_shape(var)) != len(out) or _shape(var)[a] != out[a]):
            raise _MixedError  # a row axis broadcast against other rows
    return [axis] * len(eqn.outvars)


def _dot_general(eqn: Any, axes: list[Any]) -> list[Any]:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = axes
    if (lhs is not None and lhs in lc) or (rhs is not None and rhs in rc):
        raise _MixedError  # a sum over rows
    if lhs is not None and rhs is not None:
        if lhs in lb and rhs in rb and lb.index(lhs) == rb.index(rhs):
            return [lb.index(lhs)]
        raise _MixedError
    lhs_free = [d for d in range(len(_shape(eqn.invars[0]))) if d not in lc and d not in lb]
    if lhs is not None:
        return [lb.index(lhs) if lhs in lb else len(lb) + lhs_free.index(lhs)]
    if rhs in rb:
        return [rb.index(rhs)]
    rhs_free = [d for d in range(len(_shape(eqn.invars[1]))) if d not in rc and d not in rb]
    return [len(lb) + len(lhs_free) + rhs_free.index(rhs)]


def _only(axes: list[Any]) -> int:
    """The row axis of the operation's only row-carrying operand, the first one."""
    if axes[0] is None or any(a is not None for a in axes[1:]):
        raise _MixedError
    return axes[0]


def _structural(eqn: Any, axes: list[Any]) -> list[Any]:
    """Operations that move or drop axes; rows stay apart when the row axis is untouched."""
    name, params = eqn.primitive.name, eqn.params
    if name == "broadcast_in_dim":
        axis = _only(axes)
        new = params["broadcast_dimensions"][axis]
        if _shape(eqn.outvars[0])[new] != _shape(eqn.invars[0])[axis]:
            raise _MixedError
        return [new]
    if name == "reshape":
        axis = _only(axes)
        if axis != 0 or params.get("dimensions") is not None:
            raise _MixedError
        if _shape(eqn.outvars[0])[:1] != _shape(eqn.invars[0])[:1]:
            raise _MixedError
        return [0]
    axis = _only(axes)
    if name == "squeeze" and axis not in params["dimensions"]:
        return [axis - sum(d < axis for d in params["dimensions"])]
    if name == "transpose":
        return [list(params["permutation"]).index(axis)]
    if name in REDUCTIONS and axis not in params["axes"]:
        return [axis - sum(d < axis for d in params["axes"])] * len(eqn.outvars)
    if name in SCANS and params["axis"] != axis:
        return [axis]
    if name == "rev" and axis not in params["dimensions"]:
        return [axis]
    raise _MixedError


def _sliced(eqn: Any, axes: list[Any]) -> list[Any]:
    name, params = eqn.primitive.name, eqn.params
    if name == "concatenate":
        rows = {a for a in axes if a is not None}
        if len(rows) != 1 or params["dimension"] in rows:
            raise _MixedError
        return [rows.pop()]
    axis = _only(axes)
    size = _shape(eqn.invars[0])[axis]
    if name == "pad" and tuple(params["padding_config"][axis]) == (0, 0, 0):
        return [axis]
    if name == "slice":
        strides = params["strides"]
        if (
            params["start_indices"][axis] == 0
            and params["limit_indices"][axis] == size
            and (strides is None or strides[axis] == 1)
        ):
            return [axis]
    if name == "split" and params["axis"] != axis:
        return [axis] * len(eqn.outvars)
    raise _MixedError


def _fixed_point(body: Any, consts: list[Any], carry: list[Any], rest: list[Any]) -> list[Any]:
    """The row axes of a loop body's outputs once its carried values' axes stop changing (a
    carry that starts without rows may gain them, e.g. ``c = c * x + a``)."""
    for _ in range(len(carry) + 1):
        outs = _row_axes(body, [*consts, *carry, *rest])
        new = outs[: len(carry)]
        if new == carry:
            return outs
        pairs = list(zip(carry, new, strict=True))
        if any(a is not None and b is not None and a != b for a, b in pairs):
            raise _MixedError
        carry = [a if a is not None else b for a, b in pairs]
    raise _MixedError


def _control_flow(eqn: Any, axes: list[Any]) -> list[Any]:
    """Loops and branches: rows stay apart when every iteration or branch keeps them apart."""
    name, params = eqn.primitive.name, eqn.params
    if name == "scan":
        n_consts, n_carry = params["num_consts"], params["num_carry"]
        xs = axes[n_consts + n_carry :]
        if any(a == 0 for a in xs):
            raise _MixedError  # iterating over the rows carries one row into the next
        outs = _fixed_point(
            params["jaxpr"].jaxpr, axes[:n_consts], axes[n_consts : n_consts + n_carry],
            [None if a is None else a - 1 for a in xs],
        )
        return outs[:n_carry] + [None if a is None else a + 1 for a in outs[n_carry:]]
    if name == "while":
        n_cond, n_body = params["cond_nconsts"], params["body_nconsts"]
        carry = _fixed_point(
            params["body_jaxpr"].jaxpr, axes[n_cond : n_cond + n_body], axes[n_cond + n_body :],
            [],
        )
        if _row_axes(params["cond_jaxpr"].jaxpr, [*axes[:n_cond], *carry]) != [None]:
            raise _MixedError  # how long the loop runs depends on the rows
        return carry
    if name == "cond" and axes[0] is None:
        branches = [_row_axes(b.jaxpr, axes[1:]) for b in params["branches"]]
        merged = []
        for outs in zip(*branches, strict=False):
            rows = {a for a in outs if a is not None}
            if len(rows) > 1:
                raise _MixedError
            merged.append(rows.pop() if rows else None)
        return merged
    raise _MixedError


def _rule(eqn: Any, axes: list[Any]) -> list[Any]:
    """The row axes of ``eqn``'s outputs, given those of its inputs (``None``: no rows)."""
    name = eqn.primitive.name
    if name in ("scan", "while", "cond"):
        return _control_flow(eqn, axes)
    if name in ELEMENTWISE:
        return _elementwise(eqn, axes)
    if name == "dot_general":
        return _dot_general(eqn, axes)
    if name in CALLS:
        inner = eqn.params[CALLS[name]]
        return _row_axes(getattr(inner, "jaxpr", inner), axes)
    if name in ("concatenate", "pad", "slice", "split"):
        return _sliced(eqn, axes)
    return _structural(eqn, axes)


def _row_axes(jaxpr: Any, in_axes: list[Any]) -> list[Any]:
    """Follow the row axis through ``jaxpr``; raise :class:`_MixedError` where rows may mix."""
    found = dict(zip(jaxpr.invars, in_axes, strict=False))

    def axis(var: Any) -> Any:
        return None if isinstance(var, core.Literal) else found.get(var)

    for eqn in jaxpr.eqns:
        axes = [axis(v) for v in eqn.invars]
        outs = [None] * len(eqn.outvars) if all(a is None for a in axes) else _rule(eqn, axes)
        found.update(zip(eqn.outvars, outs, strict=False))
    return [axis(v) for v in jaxpr.outvars]


def _same_shape(a: Any, b: Any, sizes: tuple[int, int]) -> bool:
    sa, sb = _shape(a), _shape(b)
    return len(sa) == len(sb) and all(
        x == y or (x, y) == sizes for x, y in zip(sa, sb, strict=True)
    )


class Differences:
    """What two traces of one function for two numbers of rows differ in, when asked to
    record it (see :func:`same_traces`) instead of calling them different."""

    def __init__(self) -> None:
        #: ``id`` of a scalar literal of the first trace -> ``(literal, its value, the other's)``.
        self.literals: dict[int, tuple[Any, Any, Any]] = {}
        #: ``id`` of a variable of the first trace -> the axes where the two shapes differ.
        self.sized: dict[int, tuple[int, ...]] = {}


def _same_value(a: Any, b: Any, sizes: tuple[int, int], record: Any = None) -> bool:
    """Equal parameters, where an ``int`` may be the number of rows of each trace."""
    if isinstance(a, core.ClosedJaxpr):
        return _same_closed(a, b, sizes, record)
    if isinstance(a, core.Jaxpr):
        return isinstance(b, core.Jaxpr) and _same_program(a, b, sizes, record)
    if isinstance(a, (tuple, list)):
        return (
            type(a) is type(b) and len(a) == len(b)
            and all(_same_value(x, y, sizes, record) for x, y in zip(a, b, strict=False))
        )
    if isinstance(a, int) and not isinstance(a, bool) and isinstance(b, int):
        return a == b or (a, b) == sizes
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)
    if (callable(a) and callable(b)) or type(a).__name__ == "WrappedFun":
        return True  # rules and thunks: new objects in every trace, the same code
    try:
        return bool(a == b)
    except Exception:  # objects without a truth value of ==: judged by their type
        return type(a) is type(b)


def _same_closed(a: Any, b: Any, sizes: tuple[int, int], record: Any = None) -> bool:
    if not isinstance(b, core.ClosedJaxpr) or len(a.consts) != len(b.consts):
        return False
    consts = all(_same_value(np.asarray(x), np.asarray(y), sizes) for x, y in
                 zip(a.consts, b.consts, strict=False))
    return consts and _same_program(a.jaxpr, b.jaxpr, sizes, record)


def same_traces(a: Any, b: Any, sizes: tuple[int, int], record: Differences | None = None) -> bool:
    """Whether two closed traces of one function, for ``sizes = (N, M)`` rows, are the same
    program apart from the number of rows in shapes.

    With ``record``, scalar literals that differ (e.g. the ``N`` a mean divides by) count as the
    same and are written into ``record.literals``, and the variables whose shapes differ into
    ``record.sized``: the caller decides what they mean.
    """
    return _same_closed(a, b, sizes, record)


def _same_literal(x: Any, y: Any, sizes: tuple[int, int], record: Any) -> bool:
    if not (isinstance(x, core.Literal) and isinstance(y, core.Literal)):
        return False
    if x.aval.dtype != y.aval.dtype:
        return False
    if _same_value(np.asarray(x.val), np.asarray(y.val), sizes):
        return True
    if record is not None and np.ndim(x.val) == 0:
        record.literals[id(x)] = (x, x.val, y.val)
        return True
    return False


def _note_sizes(x: Any, y: Any, record: Any) -> None:
    if record is not None:
        pairs = zip(_shape(x), _shape(y), strict=False)
        differ = tuple(i for i, (p, q) in enumerate(pairs) if p != q)
        if differ:
            record.sized[id(x)] = differ


def _same_program(a: Any, b: Any, sizes: tuple[int, int], record: Any = None) -> bool:
    """Whether two traces of one function differ only in the number of rows of shapes."""
    if (len(a.eqns), len(a.invars), len(a.constvars), len(a.outvars)) != (
        len(b.eqns), len(b.invars), len(b.constvars), len(b.outvars)
    ):
        return False
    pairs = dict(zip([*a.invars, *a.constvars], [*b.invars, *b.constvars], strict=False))

    def same_var(x: Any, y: Any) -> bool:
        if isinstance(x, core.Literal) or isinstance(y, core.Literal):
            return _same_literal(x, y, sizes, record)
        return pairs.get(x) is y

    if not all(_same_shape(x, y, sizes) for x, y in pairs.items()):
        return False
    for x, y in pairs.items():
        _note_sizes(x, y, record)
    for ea, eb in zip(a.eqns, b.eqns, strict=False):
        if ea.primitive is not eb.primitive or len(ea.invars) != len(eb.invars):
            return False
        if not all(same_var(x, y) for x, y in zip(ea.invars, eb.invars, strict=False)):
            return False
        if ea.params.keys() != eb.params.keys() or not all(
            _same_value(ea.params[k], eb.params[k], sizes, record) for k in ea.params
        ):
            return False
        for x, y in zip(ea.outvars, eb.outvars, strict=False):
            if not _same_shape(x, y, sizes):
                return False
            _note_sizes(x, y, record)
            pairs[x] = y
    return all(same_var(x, y) for x, y in zip(a.outvars, b.outvars, strict=False))


@functools.lru_cache(maxsize=128)
def _rows_separate_cached(fun: Any, treedef: Any, leaves: tuple, x: jax.ShapeDtypeStruct) -> bool:
    params = jax.tree_util.tree_unflatten(treedef, leaves)
    rows = x.shape[0]
    traces = []
    for n in (rows, rows + 1):
        x_n = jax.ShapeDtypeStruct((n, *x.shape[1:]), x.dtype)
        try:
            traces.append(jax.make_jaxpr(fun)(params, x_n))
        except Exception:  # the model fails for some number of rows: it depends on it
            return False
    first, second = traces
    if not _same_closed(first, second, (rows, rows + 1)):
        return False
    n_params = len(leaves)
    try:
        outs = _row_axes(first.jaxpr, [None] * n_params + [0])
    except _MixedError:
        return False
    return all(
        a == 0 or (a is None and _shape(v)[:1] == (rows,))
        for a, v in zip(outs, first.jaxpr.outvars, strict=False)
    )


def rows_separate(fun: Any, params: Any, x: Any) -> bool:
    """Whether ``fun(params, x)`` computes row ``i`` of its output from row ``i`` of ``x`` alone.

    Read from the traced program (nothing is computed), for ``x``'s shape and dtype; the answer
    is remembered for the same function, parameter shapes and shape of ``x``. ``False`` also
    when the function cannot be traced or is not hashable.

    Args:
        fun: ``fun(params, x) -> array`` with one row per row of ``x``, e.g. a model.
        params: the parameters (any pytree; only shapes and dtypes are read).
        x: an array or ``jax.ShapeDtypeStruct`` of shape ``(N, ...)``.

    Returns:
        ``True`` when padding ``x`` with more rows cannot change the first ``N`` output rows.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.ones((8, 3))
        >>> rows_separate(lambda p, x: jnp.tanh(x @ p), jnp.ones(3), x)
        True
        >>> rows_separate(lambda p, x: (x - x.mean(0)) @ p, jnp.ones(3), x)
        False
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    try:
        return _rows_separate_cached(fun, treedef, tuple(map(_abstract, leaves)), _abstract(x))
    except TypeError:  # an unhashable function
        return False
