"""The path of one call through the package, module by module (docs/architecture.md, "walks").

A *walk* records, with ``sys.setprofile``, every call into a package module made from another
module (an *entry*), from the front door until the compiled loop starts (the engine's
``run_loop``). Layer 0 (``_validation``, ``_precision``, ``_version``, ``compilation``) is a set
of services every layer may call and that call nothing back: entries into it are not counted.
A straight path enters each module once, in order: the walk lists the modules in the order they
are first entered and fails when one is entered a second time (a stage that returns to a module
it left, or calls the same module twice).
"""

from __future__ import annotations

import sys
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from dl_workshop import GradientDescentRegressor, fit, linear_model

SERVICES = ("_validation", "_precision", "_version", "compilation")
LOOP = ("dl_workshop.engine.runner", "run_loop")
MAX_FIT_MODULES = 8
MAX_ESTIMATOR_MODULES = 12


def _package_module(frame) -> str | None:
    """The package module of ``frame``, or None outside the package or in a service."""
    name = frame.f_globals.get("__name__", "")
    if not (name == "dl_workshop" or name.startswith("dl_workshop.")):
        return None
    rest = name.split(".")[1] if "." in name else ""
    return None if rest in SERVICES else name


def _caller_module(frame) -> str | None:
    """The nearest package module up the stack from ``frame`` (JAX's frames skipped)."""
    frame = frame.f_back
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name == "dl_workshop" or name.startswith("dl_workshop."):
            return _package_module(frame) or name
        frame = frame.f_back
    return None


def walk(call) -> list[tuple[str | None, str]]:
    """Run ``call()`` and return its entries ``(from module, into module)`` until the loop."""
    entries: list[tuple[str | None, str]] = []
    done = False

    def profile(frame, event, arg):
        nonlocal done
        if done or event != "call":
            return
        module = _package_module(frame)
        if module is None:
            return
        if (module, frame.f_code.co_name) == LOOP:
            done = True
        caller = _caller_module(frame)
        if caller is None and entries:
            return  # the user or a library (scikit-learn) calling the front door again
        if caller != module:
            entries.append((caller, module))

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    assert done, "the call never reached the compiled loop (engine.runner.run_loop)"
    return entries


def modules_of(entries) -> list[str]:
    """The modules of a walk in the order they are first entered."""
    return list(dict.fromkeys(module for _, module in entries))


def revisits(entries) -> list[tuple[str | None, str]]:
    """The entries into a module already entered before."""
    seen, again = set(), []
    for caller, module in entries:
        if module in seen:
            again.append((caller, module))
        seen.add(module)
    return again


def _short(module: str | None) -> str:
    return "(front door)" if module is None else module.removeprefix("dl_workshop.")


def _describe(entries) -> str:
    return " -> ".join(_short(m) for m in modules_of(entries)) + "; again: " + ", ".join(
        f"{_short(a)} -> {_short(b)}" for a, b in revisits(entries)
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 3))
    return x, x @ np.array([1.0, -2.0, 0.5]) + 1.0


def _user_loss(theta, model, x, y):
    return jnp.mean((model(theta, x) - y) ** 2)


def test_fit_with_a_users_loss_is_a_straight_path(data):
    x, y = data
    theta = {"w": np.zeros(3), "b": 0.0}

    def call():
        return fit(theta, linear_model, _user_loss, x, y, n_steps=5, step_size=0.1, progress=False)

    call()  # warm: the walk is the path of every call, not the first compilation's
    entries = walk(call)
    modules = modules_of(entries)
    assert len(modules) <= MAX_FIT_MODULES, _describe(entries)
    assert not revisits(entries), _describe(entries)


def test_estimator_fit_is_a_straight_path(data):
    x, y = data

    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return GradientDescentRegressor(max_iter=5).fit(x, y)

    call()
    entries = walk(call)
    modules = modules_of(entries)
    assert len(modules) <= MAX_ESTIMATOR_MODULES, _describe(entries)
    assert not revisits(entries), _describe(entries)


def test_a_walk_sees_a_revisit():
    """The walk recorder itself: a module entered twice is reported (so the tests can fail)."""
    entries = [(None, "a"), ("a", "b"), ("b", "a"), ("a", "c"), ("a", "b")]
    assert modules_of(entries) == ["a", "b", "c"]
    assert revisits(entries) == [("b", "a"), ("a", "b")]
