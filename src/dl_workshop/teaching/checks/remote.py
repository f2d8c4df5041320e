"""The grader's proxies of a learner's functions: each call is a request into their kernel.

The grader runs the same checkers as a notebook's ``check_*`` functions, in its own process,
with each learner function replaced by a :class:`Proxy`. Calling a proxy (or taking its
gradient with :func:`~dl_workshop.teaching.checks.runner.grad_of`) sends the arguments as plain data
to the kernel's agent (:mod:`~dl_workshop.teaching.checks.grade_kernel`), which calls the learner's
function there; only plain data comes back, checked strictly
(:func:`~dl_workshop.teaching.checks.plain.checked`). An exception raised there comes back as its
type
name and message and is raised here as a fresh exception of that name (a subclass of the
builtin or JAX error of that name, so that the checkers' hints still recognise it; never a
``BaseException`` such as ``SystemExit``). Nothing the learner prints, patches or defines
reaches this process.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import inspect
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from dl_workshop.teaching.checks import plain
from dl_workshop.teaching.checks.runner import Remote

__all__ = ["KernelLostError", "Proxy", "Session"]

#: How the kernel's agent module is reached from a ``user_expressions`` request.
_AGENT = "__import__('dl_workshop.teaching.checks.grade_kernel', fromlist=['call'])"

#: A reply is the repr of a base64 string, nothing else.
_REPLY = re.compile(r"'([A-Za-z0-9+/=]*)'")

_MAX_NAME = 100
_MAX_MESSAGE = 2_000
_MAX_REFS = 50

#: Exceptions rebuilt with their own class (a subclass of it) when a kernel reports them.
_BUILTIN_ERRORS = {
    name: cls
    for name, cls in vars(builtins).items()
    if isinstance(cls, type) and issubclass(cls, Exception)
}


class KernelLostError(Exception):
    """The learner's kernel stopped answering (hung, died, or the notebook's time ran out)."""


class Session:
    """One notebook's kernel, as the grader talks to it.

    Args:
        execute: ``execute(expression, timeout) -> text``: evaluates a Python expression in
            the kernel (a ``user_expressions`` request) and gives its ``text/plain`` result;
            raises :class:`KernelLostError` when the kernel does not answer in time.
        limit: seconds each call of the learner's code may run (in the kernel).
        references: the reference answers whose calls the kernel records (the names of the
            lesson's exercises).
    """

    def __init__(
        self, execute: Callable[[str, float], str], limit: float, references: Sequence[str] = ()
    ) -> None:
        self._execute, self.limit, self.references = execute, float(limit), list(references)
        self.refs: dict[str, set[str]] = {}  # learner function -> reference answers it called
        self.lost: str | None = None  # why the kernel stopped answering, once it did

    def describe(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the notebook defines under ``names`` (see
        :func:`~dl_workshop.teaching.checks.grade_kernel.describe`), each field checked."""
        expression = f"{_AGENT}.describe(globals(), {list(names)!r})"
        tree = self._request(expression)
        if not isinstance(tree, dict):
            raise plain.PlainDataError("the description is not a dict")
        return {name: _info(tree.get(name)) for name in names}

    def answer(self, name: str, info: dict[str, Any]) -> Any:
        """What the checkers get for the learner's ``name``: a proxy, or the plain value."""
        return Proxy(self, name, info) if info["callable"] else info["value"]

    def call(self, target: str, fn: Any, args: tuple, kwargs: dict, grad: Any = None) -> Any:
        """``fn(*args, **kwargs)`` (or its gradient) in the kernel; the result as plain data.

        Raises:
            KernelLostError: if the kernel does not answer.
            Exception: a rebuilt copy of what the learner's code raised.
        """
        if self.lost is not None:
            raise KernelLostError(self.lost)
        request = {
            "fn": plain.encode(fn, self._proxy_name),
            "args": [plain.encode(arg, self._proxy_name) for arg in args],
            "kwargs": plain.encode(dict(kwargs), self._proxy_name),
            "grad": grad and {**grad, "cotangent": plain.encode(grad["cotangent"], _none)},
            "limit": self.limit,
            "references": self.references,
        }
        reply = self._request(f"{_AGENT}.call(globals(), {json.dumps(request)!r})")
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise plain.PlainDataError("the reply is not a call's reply")
        refs = reply.get("refs")
        if isinstance(refs, list) and all(isinstance(r, str) for r in refs[:_MAX_REFS]):
            self.refs.setdefault(target, set()).update(r[:_MAX_NAME] for r in refs[:_MAX_REFS])
        if reply["ok"]:
            return plain.checked(reply.get("value"))
        raise _rebuilt(reply.get("error"))

    def _proxy_name(self, value: Any) -> str | None:
        return value.name if isinstance(value, Proxy) and value.session is self else None

    def _request(self, expression: str) -> Any:
        """The kernel's answer to one expression: base64 JSON, parsed (not yet checked)."""
        try:
            text = self._execute(expression, self.limit)
        except KernelLostError as error:
            self.lost = str(error)
            raise
        match = _REPLY.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise plain.PlainDataError("the kernel's agent did not answer with data")
        try:
            data = base64.b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError):
            raise plain.PlainDataError("the kernel's answer is not base64") from None
        return plain.parse(data)


def _none(value: Any) -> None:
    return None


class Proxy(Remote):
    """A learner's function in their kernel, callable here: plain data in, plain data out.

    ``inspect.signature`` gives the learner's function's parameters (their defaults are
    placeholders); ``__name__`` is its name.
    """

    def __init__(self, session: Session, name: str, info: dict[str, Any]) -> None:
        self.session, self.name = session, name
        self.__name__ = self.__qualname__ = info.get("name") or name
        self.__signature__ = _signature(info.get("signature"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.call(self.name, self, args, kwargs)

    def remote_grad(self, fn: Any, args: tuple, kwargs: dict, argnums: Any, cotangent: Any) -> Any:
        argnums = list(argnums) if isinstance(argnums, tuple) else int(argnums)
        grad = {"argnums": argnums, "cotangent": cotangent}
        return self.session.call(self.name, fn, args, kwargs, grad)

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"


def _info(tree: Any) -> dict[str, Any]:
    """One name's description, every field checked (a bad one: not defined)."""
    if not isinstance(tree, dict) or tree.get("defined") is not True:
        return {"defined": False, "callable": False}
    if tree.get("callable") is not True:
        return {"defined": True, "callable": False, "value": plain.checked(tree.get("value"))}
    module, name = tree.get("module"), tree.get("name")
    return {
        "defined": True,
        "callable": True,
        "module": module[:_MAX_NAME] if isinstance(module, str) else "",
        "name": name[:_MAX_NAME] if isinstance(name, str) and name.isidentifier() else "",
        "signature": tree.get("signature"),
    }


def _signature(parameters: Any) -> inspect.Signature:
    """The signature the kernel described; ``(*args, **kwargs)`` when it could not be read."""
    anything = inspect.Signature(
        [
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]
    )
    if not isinstance(parameters, list) or len(parameters) > _MAX_NAME:
        return anything
    try:
        return inspect.Signature(
            [
                inspect.Parameter(
                    name,
                    inspect._ParameterKind(kind),
                    default=0.0 if has_default is True else inspect.Parameter.empty,
                )
                for name, kind, has_default in parameters
            ]
        )
    except (TypeError, ValueError):
        return anything


def _rebuilt(error: Any) -> Exception:
    """A fresh exception standing for the one the learner's code raised in the kernel."""
    error = error if isinstance(error, dict) else {}
    name, module, message = (error.get(key) for key in ("type", "module", "message"))
    name = name[:_MAX_NAME] if isinstance(name, str) and name.isidentifier() else "Error"
    module = module[:_MAX_NAME] if isinstance(module, str) else ""
    message = message[:_MAX_MESSAGE] if isinstance(message, str) else ""
    base: type[Exception] = Exception
    if module == "builtins" and name in _BUILTIN_ERRORS:
        base = _BUILTIN_ERRORS[name]
    elif name == "TimeoutError":
        base = TimeoutError
    elif module.startswith("jax"):
        import jax

        candidate = getattr(jax.errors, name, None)
        if isinstance(candidate, type) and issubclass(candidate, Exception):
            base = candidate
    kind = type(name, (base,), {"__module__": module or "learner", "__str__": _message})
    exc = kind.__new__(kind)
    exc.args = (message,)
    return exc


def _message(self: BaseException) -> str:
    return str(self.args[0]) if self.args else ""
