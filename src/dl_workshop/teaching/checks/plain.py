"""Plain data between the grader and a learner's kernel: JSON only, no pickle, no objects.

The grader (trusted) calls a learner's function in a sandboxed kernel
(:mod:`~dl_workshop.teaching.checks.remote`); the arguments go in and the result comes back as JSON
trees of tagged nodes. Going in (:func:`encode`, read by :func:`decode` in the kernel):
numbers, strings, arrays (with their dtype, and whether they are JAX arrays), tuples, lists and
dicts, and functions named by their module and name: the package's own (e.g.
``dl_workshop.lesson.model.linear_model``, or a ``functools.partial`` of one with plain arguments),
or another of the learner's graded functions (``{"t": "learner", "name": ...}``). Coming back
(:func:`encode_result` in the kernel, :func:`decode_result` in the grader, which checks every
node strictly): ``None``, booleans, numbers, short strings, ``float64``/``int64`` arrays,
tuples, lists and dicts with string keys; anything else is only a type name
(:class:`Opaque`), never an object.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

#: Bounds of what a kernel may send back (a hostile one gets an error, not a grader crash).
MAX_DEPTH = 16
MAX_NODES = 10_000
MAX_ELEMENTS = 2_000_000
MAX_TEXT = 2_000
MAX_REPLY_BYTES = 64 * 2**20

_INT_BOUND = 2**63
_PACKAGE = "dl_workshop"


class PlainDataError(ValueError):
    """What a kernel sent back is not plain data within the bounds."""


class Opaque:
    """A value the learner's function returned that is not plain data: only its type's name
    came back. Compares equal to nothing but itself; not callable, not an array."""

    __slots__ = ("type_name", "is_callable")

    def __init__(self, type_name: str, is_callable: bool = False) -> None:
        self.type_name, self.is_callable = type_name, is_callable

    def __repr__(self) -> str:
        kind = "function" if self.is_callable else "object"
        return f"<{kind} of type {self.type_name}>"


# --- the grader's side: arguments in ----------------------------------------------------------


def encode(value: Any, learner_name: Callable[[Any], str | None]) -> Any:
    """A JSON tree for ``value`` (a checker's argument); ``learner_name(value)`` names a proxy of
    a learner's function, or gives ``None``.

    Raises:
        TypeError: for a value that cannot be sent (a checker bug, not the learner's).
    """
    name = learner_name(value)
    if name is not None:
        return {"t": "learner", "name": name}
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else {"t": "s", "v": value}
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return _number(value)
    if isinstance(value, (tuple, list)):
        tag = "list" if isinstance(value, list) else "tuple"
        return {"t": tag, "v": [encode(item, learner_name) for item in value]}
    if isinstance(value, dict):
        keys = list(value)
        if not all(isinstance(key, str) for key in keys):
            raise TypeError(f"only str keys can be sent to a kernel; got {keys!r}")
        return {"t": "dict", "k": keys, "v": [encode(value[k], learner_name) for k in keys]}
    if callable(value):
        return _function(value, learner_name)
    return _array(value)


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"t": "f", "v": repr(value)}
    return value


def _array(value: Any) -> dict[str, Any]:
    import jax

    is_jax = isinstance(value, jax.Array)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"only numeric arrays can be sent to a kernel; got {array.dtype}")
    return {
        "t": "array",
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "data": [_number(x) for x in array.ravel().tolist()],
        "jax": is_jax,
        "scalar": isinstance(value, np.generic),
    }


def _function(fn: Any, learner_name: Callable[[Any], str | None]) -> dict[str, Any]:
    if isinstance(fn, functools.partial):
        inner = _function(fn.func, learner_name)
        if inner.get("args") or inner.get("kwargs"):
            raise TypeError("nested partials cannot be sent to a kernel")
        inner["args"] = [encode(arg, learner_name) for arg in fn.args]
        inner["kwargs"] = encode(dict(fn.keywords), learner_name)
        return inner
    module = getattr(fn, "__module__", None) or ""
    if module == _PACKAGE or module.startswith(_PACKAGE + "."):
        namespace = vars(sys.modules[module]) if module in sys.modules else {}
        for name, candidate in namespace.items():
            if candidate is fn:
                return {"t": "fn", "module": module, "name": name}
    raise TypeError(f"only the package's module-level functions can be sent; got {fn!r}")


# --- the kernel's side: arguments decoded, results encoded ------------------------------------


def decode(tree: Any, learner: Callable[[str], Any]) -> Any:
    """The value :func:`encode` sent (in the kernel); ``learner(name)`` is the learner's
    function of that name."""
    if tree is None or isinstance(tree, (bool, int, float)):
        return tree
    tag = tree["t"]
    if tag == "s":
        return tree["v"]
    if tag == "f":
        return float(tree["v"])
    if tag in ("tuple", "list"):
        items = [decode(item, learner) for item in tree["v"]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        return {k: decode(v, learner) for k, v in zip(tree["k"], tree["v"], strict=True)}
    if tag == "learner":
        return learner(tree["name"])
    if tag == "fn":
        fn = _resolve(tree["module"], tree["name"])
        if "args" in tree:
            args = [decode(arg, learner) for arg in tree["args"]]
            return functools.partial(fn, *args, **decode(tree["kwargs"], learner))
        return fn
    return _decode_array(tree)


def _resolve(module: str, name: str) -> Any:
    if not (module == _PACKAGE or module.startswith(_PACKAGE + ".")):
        raise PlainDataError(f"not a module of the package: {module!r}")
    return getattr(importlib.import_module(module), name)


def _decode_array(tree: dict[str, Any]) -> Any:
    data = [float(x["v"]) if isinstance(x, dict) else x for x in tree["data"]]
    array = np.array(data, dtype=np.dtype(tree["dtype"])).reshape(tree["shape"])
    if tree.get("jax"):
        import jax.numpy as jnp

        return jnp.asarray(array)
    return array[()] if tree.get("scalar") else array


def encode_result(value: Any, depth: int = 0) -> Any:
    """A JSON tree of what a learner's function returned, as plain data only (in the kernel).

    Arrays (NumPy, JAX, anything with ``__array__``) become ``float64``/``int64`` lists; tuples
    (NamedTuples too), lists and dicts (string keys) are kept; anything else becomes its type's
    name.
    """
    if depth > MAX_DEPTH:
        return {"t": "object", "type": "nested too deeply"}
    if value is None or type(value) in (bool, str):
        return value if type(value) is not str else {"t": "s", "v": value[:MAX_TEXT]}
    if type(value) in (int, float):
        return _number(value) if abs(value) < _INT_BOUND else _number(float(value))
    if isinstance(value, (tuple, list)) and type(value).__module__ != "numpy":
        tag = "list" if isinstance(value, list) else "tuple"
        return {"t": tag, "v": [encode_result(item, depth + 1) for item in list(value)]}
    if isinstance(value, dict):
        keys = list(value)
        if all(type(key) is str for key in keys):
            items = [encode_result(dict.__getitem__(value, k), depth + 1) for k in keys]
            return {"t": "dict", "k": keys, "v": items}
    return _result_array(value)


def _result_array(value: Any) -> Any:
    type_name = f"{type(value).__module__}.{type(value).__qualname__}"
    if callable(value) or not (hasattr(value, "__array__") or isinstance(value, (int, float))):
        return {"t": "object", "type": type_name, "callable": callable(value)}
    try:
        array = np.asarray(value)
        kind = array.dtype.kind
        if kind == "f":
            array = array.astype(np.float64)
        elif kind in "biu":
            array = array.astype(np.int64)
        else:
            return {"t": "object", "type": f"array of {array.dtype}"}
    except Exception:  # an object whose __array__ fails: only its type comes back
        return {"t": "object", "type": type_name}
    data = [_number(x) for x in array.ravel().tolist()]
    return {"t": "array", "dtype": array.dtype.name, "shape": list(array.shape), "data": data}


# --- the grader's side: results validated -----------------------------------------------------


def decode_result(text: str) -> Any:
    """What a learner's function returned, from the kernel's JSON, checked node by node.

    Raises:
        PlainDataError: for anything but plain data within the bounds.
    """
    return checked(parse(text))


def parse(text: str | bytes) -> Any:
    """JSON from a kernel, within :data:`MAX_REPLY_BYTES` (not yet checked: see :func:`checked`).

    Raises:
        PlainDataError: if it is too large or not JSON.
    """
    if len(text) > MAX_REPLY_BYTES:
        raise PlainDataError("the reply is too large")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise PlainDataError(f"the reply is not JSON: {str(error)[:100]}") from None


def checked(tree: Any) -> Any:
    """The value an :func:`encode_result` tree stands for, checked node by node.

    Raises:
        PlainDataError: for anything but plain data within the bounds.
    """
    return _checked(tree, 0, {"nodes": 0, "elements": 0})


def _no_constant(name: str) -> Any:
    raise PlainDataError(f"unexpected constant {name}")


def _checked(tree: Any, depth: int, budget: dict[str, int]) -> Any:
    budget["nodes"] += 1
    if depth > MAX_DEPTH + 2 or budget["nodes"] > MAX_NODES:
        raise PlainDataError("the reply is nested too deeply or has too many parts")
    if tree is None or type(tree) is bool:
        return tree
    if type(tree) is int:
        if abs(tree) >= _INT_BOUND:
            raise PlainDataError("an integer out of range")
        return tree
    if type(tree) is float:
        return tree
    if type(tree) is not dict or type(tree.get("t")) is not str:
        raise PlainDataError("a node of unknown form")
    return _checked_node(tree, depth, budget)


def _checked_node(tree: dict, depth: int, budget: dict[str, int]) -> Any:
    tag = tree["t"]
    if tag == "s" and type(tree.get("v")) is str:
        return tree["v"][:MAX_TEXT]
    if tag == "f" and tree.get("v") in ("nan", "inf", "-inf"):
        return float(tree["v"])
    if tag in ("tuple", "list") and type(tree.get("v")) is list:
        items = [_checked(item, depth + 1, budget) for item in tree["v"]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict" and type(tree.get("k")) is list and type(tree.get("v")) is list:
        keys = tree["k"]
        if len(keys) != len(tree["v"]) or not all(type(k) is str for k in keys):
            raise PlainDataError("a dict with bad keys")
        values = [_checked(v, depth + 1, budget) for v in tree["v"]]
        return {k[:MAX_TEXT]: v for k, v in zip(keys, values, strict=True)}
    if tag == "object":
        name = tree.get("type")
        name = name[:MAX_TEXT] if type(name) is str else "unknown"
        return Opaque(name, tree.get("callable") is True)
    if tag == "array":
        return _checked_array(tree, budget)
    raise PlainDataError(f"a node of unknown kind {tag[:40]!r}")


def _checked_array(tree: dict, budget: dict[str, int]) -> np.ndarray:
    dtype, shape, data = tree.get("dtype"), tree.get("shape"), tree.get("data")
    if dtype not in ("float64", "int64") or type(shape) is not list or type(data) is not list:
        raise PlainDataError("an array of a kind the grader does not take")
    if not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape) or len(shape) > 8:
        raise PlainDataError("an array of a bad shape")
    size = math.prod(shape)
    budget["elements"] += size
    if size != len(data) or budget["elements"] > MAX_ELEMENTS:
        raise PlainDataError("an array whose data does not fit its shape, or too many numbers")
    values = [_checked_scalar(x, dtype) for x in data]
    return np.array(values, dtype=dtype).reshape(shape)


def _checked_scalar(x: Any, dtype: str) -> Any:
    if dtype == "int64":
        if type(x) is not int or abs(x) >= _INT_BOUND:
            raise PlainDataError("a bad integer in an array")
        return x
    if type(x) is float or type(x) is int:
        return float(x)
    if type(x) is dict and x.get("t") == "f" and x.get("v") in ("nan", "inf", "-inf"):
        return float(x["v"])
    raise PlainDataError("a bad number in an array")
