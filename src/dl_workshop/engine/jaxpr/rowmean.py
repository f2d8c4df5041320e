"""Losses that are means over rows, read from their traced program, and evaluated on padded rows.

A loss of the user's own, e.g. ``jnp.mean((model(theta, x) - y) ** 2)`` or
``jnp.sum(jnp.abs(y - model(theta, x))) / len(y)``, gives the same value on the first ``n`` of
rows padded to a bucket (:mod:`~dl_workshop.engine.shapecheck`) when its program is rewritten in
two ways: every sum over the rows skips the padding rows, and every constant that comes from the
number of rows (the ``N`` of a mean) is computed from ``n`` at run time. :func:`row_mean_plan`
decides, conservatively, from the program traced for ``N`` and ``N + 1`` rows whether that is
exact:

* the row axis is followed through the program as in :mod:`~dl_workshop.engine.jaxpr.rowwise`; rows
  may meet only in sums over them (``reduce_sum`` over the row axis, a product contracting it);
* each scalar constant that differs between the two traces is proportional to the number of
  rows (``N * k``) or inversely proportional to it (``1 / (N * k)``);
* no value without rows has a shape that depends on the number of rows (``jnp.ones(len(y))``,
  ``jnp.arange(len(y))``), and no loop or branch depends on it.

Anything else (a median, a maximum over rows, a sort, a loss without rows) gets ``None``: such a
loss sees its data as it is, and compiles once per number of rows. :func:`masked_loss_value`
evaluates the rewritten program inside the caller's trace; ``jax.grad`` differentiates it like
any other function. The padding rows are copies of a real row (finite wherever the data is) and
are selected away before every sum, so neither they nor their gradients count.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core

from dl_workshop.engine.jaxpr.dots import bind_equation
from dl_workshop.engine.jaxpr.rowwise import CALLS, Differences, _MixedError, _rule, same_traces

#: Calls of inner programs whose rules the rewrite would bypass: they may be evaluated as they
#: are (nothing inside to rewrite), never inlined.
CUSTOM_RULES = frozenset(("custom_jvp_call", "custom_vjp_call"))

#: Loops and branches: evaluated as they are when nothing inside depends on the rows.
CONTROL_FLOW = frozenset(("scan", "while", "cond"))


class _Constant(NamedTuple):
    """A scalar literal that depends on the number of rows: ``scale * n`` or ``scale / n``."""

    scale: Any
    inverse: bool
    dtype: Any

    def at(self, n: int) -> float:
        """The constant's value for ``n`` rows (in Python's floats)."""
        return self.scale / n if self.inverse else self.scale * n


def _rtol(dtype: Any) -> float:
    """How far two values of one constant, each rounded to ``dtype`` once, may differ."""
    return 0.0 if np.issubdtype(dtype, np.integer) else 8 * float(np.finfo(dtype).eps)


class Plan(NamedTuple):
    """The traced loss (for the bucket's ``rows``) and how to rewrite it for ``n`` real rows."""

    closed: Any  # the ClosedJaxpr of ``(params leaves..., x, y) -> loss``
    rows: int
    masks: dict  # id(eqn) -> (operand index, row axis): select the real rows before the sum
    inline: frozenset  # id(eqn) of calls whose inner program holds something to rewrite
    constants: dict  # id(literal) -> _Constant


class _Walk:
    """What the analysis found so far (see :func:`row_mean_plan`)."""

    def __init__(self, found: Differences, constants: dict) -> None:
        self.found = found
        self.constants = constants
        self.masks: dict = {}
        self.inline: set = set()
        self.reached: set = set()


def _classify(value_n: Any, value_n1: Any, rows: int, dtype: Any) -> _Constant | None:
    """``value_n`` (traced for ``rows`` rows) and ``value_n1`` (for one more) as ``scale * N``
    or ``scale / N``, or ``None``."""
    a, b = float(value_n), float(value_n1)
    if np.issubdtype(dtype, np.integer):
        if a % rows == 0 and b == a // rows * (rows + 1):
            return _Constant(int(a) // rows, False, dtype)
        return None
    rtol = _rtol(dtype)
    if np.isclose(a / rows, b / (rows + 1), rtol=rtol, atol=0.0):
        return _Constant(a / rows, False, dtype)
    if np.isclose(a * rows, b * (rows + 1), rtol=rtol, atol=0.0):
        return _Constant(a * rows, True, dtype)
    return None


def _inner(eqn: Any) -> Any:
    """The inner program of a call: ``(jaxpr, consts)``."""
    inner = eqn.params[CALLS[eqn.primitive.name]]
    if isinstance(inner, core.ClosedJaxpr):
        return inner.jaxpr, list(inner.consts)
    return inner, []


def _nested(eqn: Any) -> list[Any]:
    """Every program inside an equation's parameters."""
    found = []
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, core.ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, core.Jaxpr):
                found.append(item)
    return found


def _touches_rows(jaxpr: Any, walk: _Walk) -> bool:
    """Whether a program holds a row-sized value or a row-dependent constant."""
    for eqn in jaxpr.eqns:
        if any(id(v) in walk.found.sized for v in eqn.outvars):
            return True
        if any(id(v) in walk.constants for v in eqn.invars if isinstance(v, core.Literal)):
            return True
        if any(_touches_rows(inner, walk) for inner in _nested(eqn)):
            return True
    return False


def _row_sum(eqn: Any, axes: list[Any], walk: _Walk) -> list[Any] | None:
    """A sum over the rows: record its mask and return its (row-free) output axes."""
    name = eqn.primitive.name
    if name == "reduce_sum" and axes[0] is not None and axes[0] in eqn.params["axes"]:
        walk.masks[id(eqn)] = (0, axes[0])
        return [None]
    if name == "dot_general":
        (lc, rc), _ = eqn.params["dimension_numbers"]
        lhs, rhs = axes
        if lhs is not None and lhs in lc and (rhs is None or (rhs in rc and
                                                              lc.index(lhs) == rc.index(rhs))):
            walk.masks[id(eqn)] = (0, lhs)
            return [None]
        if lhs is None and rhs is not None and rhs in rc:
            walk.masks[id(eqn)] = (1, rhs)
            return [None]
    return None


def _call(eqn: Any, axes: list[Any], walk: _Walk) -> list[Any]:
    jaxpr, _ = _inner(eqn)
    before = (len(walk.masks), len(walk.reached))
    outs = _walk(jaxpr, axes, walk)
    if (len(walk.masks), len(walk.reached)) != before:
        if eqn.primitive.name in CUSTOM_RULES:
            raise _MixedError  # rewriting inside would drop the custom derivative
        walk.inline.add(id(eqn))
    return outs


def _equation(eqn: Any, axes: list[Any], walk: _Walk) -> list[Any]:
    """The row axes of ``eqn``'s outputs; records what the rewrite must change."""
    name = eqn.primitive.name
    if name in CALLS:
        return _call(eqn, axes, walk)
    if name in CONTROL_FLOW and any(_touches_rows(j, walk) for j in _nested(eqn)):
        raise _MixedError  # the rows or their number inside a loop or branch
    summed = _row_sum(eqn, axes, walk) if name in ("reduce_sum", "dot_general") else None
    if summed is not None:
        return summed
    if all(a is None for a in axes):
        return [None] * len(eqn.outvars)
    return _rule(eqn, axes)


def _walk(jaxpr: Any, in_axes: list[Any], walk: _Walk) -> list[Any]:
    """Follow the row axis through ``jaxpr``; raise :class:`_MixedError` where the rewrite
    would not be exact."""
    found = dict(zip(jaxpr.invars, in_axes, strict=False))

    def axis(var: Any) -> Any:
        return None if isinstance(var, core.Literal) else found.get(var)

    for eqn in jaxpr.eqns:
        for var in eqn.invars:
            if isinstance(var, core.Literal) and id(var) in walk.constants:
                walk.reached.add(id(var))
        outs = _equation(eqn, [axis(v) for v in eqn.invars], walk)
        for var, out in zip(eqn.outvars, outs, strict=False):
            sized = walk.found.sized.get(id(var))
            if sized is not None and (out is None or sized != (out,)):
                raise _MixedError  # a value without rows whose shape has the rows' number
        found.update(zip(eqn.outvars, outs, strict=False))
    return [axis(v) for v in jaxpr.outvars]


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    """Shape, dtype and weak type: what the traced program depends on."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return leaf
    aval = jax.typeof(leaf)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


def _with_rows(a: jax.ShapeDtypeStruct, rows: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((rows, *a.shape[1:]), a.dtype, weak_type=a.weak_type)


def _trace(loss: Any, model: Any, treedef: Any, leaves: tuple, x: Any, y: Any, rows: int) -> Any:
    """The loss's closed program for ``rows`` rows (``None`` if it cannot be traced)."""

    def flat(*args: Any) -> Any:
        params = jax.tree_util.tree_unflatten(treedef, args[:-2])
        return loss(params, model, args[-2], args[-1])

    try:
        return jax.make_jaxpr(flat)(*leaves, _with_rows(x, rows), _with_rows(y, rows))
    except Exception:  # the loss fails for this number of rows: it depends on it
        return None


@functools.lru_cache(maxsize=32)
def _plan_cached(loss: Any, model: Any, treedef: Any, leaves: tuple, x: Any, y: Any) -> Any:
    rows = x.shape[0]
    first, second = (_trace(loss, model, treedef, leaves, x, y, n) for n in (rows, rows + 1))
    if first is None or second is None:
        return None
    found = Differences()
    if not same_traces(first, second, (rows, rows + 1), found):
        return None
    constants = {}
    for key, (literal, value_n, value_n1) in found.literals.items():
        constant = _classify(value_n, value_n1, rows, literal.aval.dtype)
        if constant is None:
            return None
        constants[key] = constant
    walk = _Walk(found, constants)
    try:
        outs = _walk(first.jaxpr, [None] * len(leaves) + [0, 0], walk)
    except _MixedError:
        return None
    if outs != [None] or not walk.masks or walk.reached != set(constants):
        return None  # rows left in the result, never summed, or a constant left unrewritten
    return Plan(first, rows, dict(walk.masks), frozenset(walk.inline), constants)


def _key(loss: Any, model: Any, params: Any, x: Any, y: Any) -> tuple:
    """What a plan depends on: the functions, the parameters' structure, shapes and dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    abstract = tuple(_abstract(leaf) for leaf in leaves)
    return loss, model, treedef, abstract, _abstract(x), _abstract(y)


def row_mean_plan(loss: Any, model: Any, params: Any, x: Any, y: Any) -> Plan | None:
    """How to evaluate ``loss(params, model, x[:n], y[:n])`` on ``x`` and ``y`` padded beyond
    ``n`` rows, or ``None`` when the loss is not known to allow it.

    Read from the traced program (nothing is computed) and remembered for the same loss,
    model, shapes and dtypes; ``x`` and ``y`` have the padded number of rows.

    Args:
        loss: ``loss(params, model, x, y) -> scalar``.
        model: the model passed to it.
        params: the parameters (arrays, tracers or shapes; only shapes and dtypes are read).
        x, y: arrays or ``jax.ShapeDtypeStruct`` of shapes ``(N, ...)``.

    Returns:
        A :class:`Plan` for :func:`masked_loss_value`, or ``None``.

    Example:
        >>> import jax.numpy as jnp
        >>> from dl_workshop import linear_model
        >>> x, y = jnp.ones(16), jnp.ones(16)
        >>> mae = lambda p, m, x, y: jnp.mean(jnp.abs(y - m(p, x)))
        >>> row_mean_plan(mae, linear_model, (1.0, 0.0), x, y) is not None
        True
        >>> median = lambda p, m, x, y: jnp.median(jnp.abs(y - m(p, x)))
        >>> row_mean_plan(median, linear_model, (1.0, 0.0), x, y) is None
        True
    """
    try:
        return _plan_cached(*_key(loss, model, params, x, y))
    except TypeError:  # an unhashable loss or model
        return None


@functools.lru_cache(maxsize=256)
def _holds_cached(
    loss: Any, model: Any, treedef: Any, leaves: tuple, x: Any, y: Any, rows: int
) -> bool:
    plan = _plan_cached(loss, model, treedef, leaves, _with_rows(x, rows), _with_rows(y, rows))
    if plan is None:
        return False
    n = x.shape[0]
    if n == rows:
        return True
    traced = _trace(loss, model, treedef, leaves, x, y, n)
    found = Differences()
    if traced is None or not same_traces(plan.closed, traced, (rows, n), found):
        return False  # e.g. Python code that branches on the number of rows
    for key, (_, _, value_n) in found.literals.items():
        constant = plan.constants.get(key)
        if constant is None:
            return False
        rtol = _rtol(constant.dtype)
        if not np.isclose(float(value_n), constant.at(n), rtol=rtol, atol=0.0):
            return False
    return True


def plan_holds(loss: Any, model: Any, params: Any, x: Any, y: Any, rows: int) -> bool:
    """Whether padding ``x`` and ``y`` (the real data, ``n`` rows) to ``rows`` rows and masking
    them as :func:`row_mean_plan` plans gives exactly the loss on ``x`` and ``y``.

    Besides the plan for ``rows`` rows, the loss is traced for ``n`` rows: the program must be
    the same apart from shapes and the constants the plan computes from ``n`` (Python code that
    branches on ``len(y)`` would otherwise pass unseen). Remembered per number of rows.

    Example:
        >>> import jax.numpy as jnp
        >>> from dl_workshop import linear_model
        >>> mae = lambda p, m, x, y: jnp.mean(jnp.abs(y - m(p, x)))
        >>> plan_holds(mae, linear_model, (1.0, 0.0), jnp.ones(5), jnp.ones(5), 16)
        True
        >>> odd = lambda p, m, x, y: jnp.mean(y - m(p, x)) ** (2 if len(y) > 8 else 1)
        >>> plan_holds(odd, linear_model, (1.0, 0.0), jnp.ones(5), jnp.ones(5), 16)
        False
    """
    try:
        return _holds_cached(*_key(loss, model, params, x, y), rows)
    except TypeError:  # an unhashable loss or model
        return False


def _value(constant: _Constant, n_rows: Any) -> Any:
    n = jnp.asarray(n_rows).astype(constant.dtype)
    scale = jnp.asarray(constant.scale, constant.dtype)
    return scale / n if constant.inverse else scale * n


def _real_rows(value: Any, axis: int, n_rows: Any) -> Any:
    """``value`` with its entries beyond ``n_rows`` along ``axis`` replaced by zeros."""
    real = lax.broadcasted_iota(jnp.int32, jnp.shape(value), axis) < n_rows
    return jnp.where(real, value, jnp.zeros_like(value))


def _evaluate(plan: Plan, jaxpr: Any, consts: list[Any], args: list[Any], n_rows: Any) -> list:
    env = dict(zip([*jaxpr.constvars, *jaxpr.invars], [*consts, *args], strict=False))

    def read(var: Any) -> Any:
        if not isinstance(var, core.Literal):
            return env[var]
        constant = plan.constants.get(id(var))
        return var.val if constant is None else _value(constant, n_rows)

    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        mask = plan.masks.get(id(eqn))
        if mask is not None:
            operand, axis = mask
            values[operand] = _real_rows(values[operand], axis, n_rows)
        if id(eqn) in plan.inline:
            inner, inner_consts = _inner(eqn)
            outs = _evaluate(plan, inner, inner_consts, values, n_rows)
        else:
            outs = bind_equation(eqn, values)
        env.update(zip(eqn.outvars, outs, strict=False))
    return [read(v) for v in jaxpr.outvars]


def masked_loss_value(plan: Plan, params: Any, x: Any, y: Any, n_rows: Any) -> Any:
    """The loss of ``plan`` on the first ``n_rows`` rows of the padded ``x`` and ``y``.

    Args:
        plan: from :func:`row_mean_plan` for these shapes and dtypes.
        params: the parameters (a pytree as traced).
        x, y: the data padded to ``plan.rows`` rows.
        n_rows: the number of real rows (may be traced: every ``n`` shares compiled code).

    Returns:
        The scalar loss, equal to the loss on the unpadded rows up to the order of additions.

    Example:
        >>> import jax.numpy as jnp
        >>> from dl_workshop import linear_model
        >>> x, y = jnp.arange(16.0), jnp.zeros(16)
        >>> mae = lambda p, m, x, y: jnp.mean(jnp.abs(y - m(p, x)))
        >>> plan = row_mean_plan(mae, linear_model, (1.0, 0.0), x, y)
        >>> float(masked_loss_value(plan, (1.0, 0.0), x, y, 3))  # mean of 0, 1, 2
        1.0
    """
    leaves = jax.tree_util.tree_leaves(params)
    closed = plan.closed
    (out,) = _evaluate(plan, closed.jaxpr, list(closed.consts), [*leaves, x, y], n_rows)
    return out
