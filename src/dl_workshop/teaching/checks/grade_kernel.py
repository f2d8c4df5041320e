"""The grader's agent inside a learner's kernel: it calls the learner's functions, nothing more.

``dl-workshop grade`` executes a notebook in a sandboxed kernel, then asks this module (one
``user_expressions`` request per call) to describe the notebook's answers (:func:`describe`)
and to call them on the grader's inputs (:func:`call`). Each reply is plain data as JSON
(:mod:`~dl_workshop.teaching.checks.plain`), base64-encoded; the grader checks it and judges it in
its
own process (:mod:`~dl_workshop.teaching.checks.remote`), so nothing here decides a verdict: a
learner
who patches this module only changes what their own functions seem to return.

While the learner's function runs, a profile hook records which of the package's reference
answers to the lesson's exercises (those of :mod:`dl_workshop.answers` the request names) it
calls itself (not those the grader passed in as
arguments, e.g. the ``model`` of ``mseloss``), so that a wrapper around a reference answer
can be told that the answer must be the learner's own.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import inspect
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from dl_workshop.teaching.checks import hints, plain
from dl_workshop.teaching.checks.runner import _time_limit, _TimeUp, grad_of

PASS, FAIL, MISSING, ERROR = "pass", "fail", "missing", "error"

#: Longest exception message sent back.
_MAX_MESSAGE = 2_000

# dl_workshop/, three folders up from dl_workshop/teaching/checks/grade_kernel.py
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def describe(namespace: Mapping[str, Any], names: list[str]) -> str:
    """What the notebook defines under each of ``names``, as base64 JSON.

    Per name: ``defined``; ``callable``; ``module`` (``__module__``, to tell the package's own
    answers); ``name``; ``signature`` (``[[name, kind, has_default], ...]`` or ``None``); and
    ``value`` (the plain-data value, for an answer that is not a function).

    Example:
        >>> import base64, json
        >>> from dl_workshop.teaching.checks.grade_kernel import describe
        >>> reply = json.loads(base64.b64decode(describe({"f": len}, ["f", "g"])))
        >>> reply["f"]["callable"], reply["g"]["defined"]
        (True, False)
    """
    return _reply({name: _described(namespace, name) for name in names})


def _described(namespace: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name not in namespace:
        return {"defined": False}
    value = namespace[name]
    try:
        if not callable(value):
            return {"defined": True, "callable": False, "value": plain.encode_result(value)}
        module = getattr(value, "__module__", None)
        label = getattr(value, "__name__", name)
        return {
            "defined": True,
            "callable": True,
            "module": module if isinstance(module, str) else "",
            "name": label if isinstance(label, str) else name,
            "signature": _signature(value),
        }
    except BaseException as error:  # a hostile object: described by its error
        return {"defined": True, "callable": False, "value": _error(error)}


def _signature(fn: Any) -> list[list[Any]] | None:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return [[p.name, int(p.kind), p.default is not p.empty] for p in parameters]


def call(namespace: Mapping[str, Any], request: str) -> str:
    """Run one request of the grader (JSON) on the learner's functions; the reply, base64 JSON.

    The request: ``fn`` and ``args``/``kwargs`` as :func:`~dl_workshop.teaching.checks.plain.encode`
    trees, ``grad`` (``None`` or ``{"argnums": ..., "cotangent": tree}``: the gradient of the
    call instead) and ``limit`` (seconds). The reply: ``{"ok": true, "value": tree}`` or
    ``{"ok": false, "error": {"type", "module", "message"}}``, and ``refs``: the reference
    answers the learner's code called, of those named in the request's ``references``.

    Example:
        >>> import base64, json
        >>> from dl_workshop.teaching.checks.grade_kernel import call
        >>> no_kwargs = {"t": "dict", "k": [], "v": []}
        >>> request = {"fn": {"t": "learner", "name": "f"}, "args": [2.0],
        ...            "kwargs": no_kwargs, "grad": None, "limit": 5}
        >>> reply = call({"f": lambda w: w * 3}, json.dumps(request))
        >>> json.loads(base64.b64decode(reply))["value"]
        6.0
    """
    refs: set[str] = set()
    try:
        reply = _run(namespace, json.loads(request), refs)
    except BaseException as error:  # whatever the learner's code raised, SystemExit included
        reply = {"ok": False, "error": _error(error)}
    reply["refs"] = sorted(refs)
    return _reply(reply)


def _run(namespace: Mapping[str, Any], request: dict[str, Any], refs: set[str]) -> dict:
    def learner(name: str) -> Any:
        return namespace[name]

    fn = plain.decode(request["fn"], learner)
    args = plain.decode({"t": "list", "v": request["args"]}, learner)
    kwargs = plain.decode(request["kwargs"], learner)
    allowed = _codes_of_values([fn, *args, *kwargs.values()])
    references = [str(name) for name in request.get("references", [])]
    grad = request.get("grad")
    if grad is not None:
        argnums = grad["argnums"]
        argnums = tuple(argnums) if isinstance(argnums, list) else argnums
        cotangent = plain.decode(grad["cotangent"], learner)
        fn = grad_of(fn, argnums, cotangent=cotangent)
    try:
        with (
            _time_limit(float(request["limit"])),
            _recording(references, allowed, refs),
            np.errstate(all="ignore"),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            value = fn(*args, **kwargs)
            return {"ok": True, "value": plain.encode_result(value)}
    except _TimeUp:
        message = hints.STILL_RUNNING.format(seconds=float(request["limit"]))
        return {"ok": False, "error": {"type": "TimeoutError", "module": "", "message": message}}


def _error(error: BaseException) -> dict[str, str]:
    try:
        message = str(error)[:_MAX_MESSAGE]
    except BaseException:  # a hostile __str__
        message = ""
    kind = type(error)
    return {"type": kind.__name__, "module": kind.__module__ or "", "message": message}


def _reply(tree: Any) -> str:
    return base64.b64encode(json.dumps(tree).encode()).decode("ascii")


# --- which reference answers the learner's code calls -----------------------------------------


def _reference_codes(names: list[str]) -> dict[Any, str]:
    """``{code object: public name}`` of the package's reference answers called ``names``
    (the exercises', not the helpers a lesson imports, such as ``binary_cross_entropy``)."""
    # By name at run time, as plain.decode resolves the grader's functions: the answers
    # module sits above the checks in the package's layers.
    answers = importlib.import_module("dl_workshop.answers")
    codes = {}
    names = [name for name in names if name in answers.__all__]
    # Plain functions first: jax.grad(mseloss) unwraps to mseloss's code, named mseloss.
    names.sort(key=lambda n: hasattr(getattr(answers, n), "__wrapped__"))
    for name in names:
        fn = inspect.unwrap(getattr(answers, name))
        code = getattr(fn, "__code__", None)
        if code is not None and code.co_filename.startswith(_PACKAGE_DIR):
            codes.setdefault(code, name)
    return codes


def _codes_of_values(values: list[Any]) -> set[Any]:
    """The code objects of the package's functions the grader sent (allowed to be called)."""
    codes = set()
    for value in values:
        inner = getattr(value, "func", value)  # a functools.partial the grader sent
        module = getattr(inner, "__module__", "") or ""
        if module.startswith("dl_workshop"):
            code = getattr(inspect.unwrap(inner), "__code__", None)
            if code is not None:
                codes.add(code)
    return codes


@contextlib.contextmanager
def _recording(names: list[str], allowed: set[Any], refs: set[str]) -> Iterator[None]:
    """Add to ``refs`` the reference answers ``names`` called from code outside the package
    (the learner's, or JAX's on the learner's behalf), except those in ``allowed``."""
    codes = _reference_codes(names)
    references = {code: name for code, name in codes.items() if code not in allowed}
    # The grader's own code in the kernel (this module, runner.grad_of) calls for the learner.
    checks = os.path.dirname(os.path.abspath(__file__))

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in references:
            caller = frame.f_back
            filename = caller.f_code.co_filename if caller is not None else ""
            if not filename.startswith(_PACKAGE_DIR) or filename.startswith(checks):
                refs.add(references[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)
