"""The random inputs the checkers draw, and the reference answers that go with them.

Inputs are fresh on every call unless a seed is given, so that a function that special-cases
the checker's inputs is caught; every call draws from one seed, which a failure message names so
that the same inputs can be drawn again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dl_workshop._validation import check_int
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.checks import hints
from dl_workshop.teaching.checks.probe_functions import named_line_model, sine_model

# Fixed, small sample counts (values are fresh on every call): JAX compiles each operation once
# per shape, so fixed shapes keep repeated checks fast. None is 100, the lesson's size, so that a
# hard-coded 100 is caught.
_N_MODEL = 9
_N_LOSS = 11

#: A loss case's starting point is drawn again (at most this often) until the mean of the
#: residuals' absolute values exceeds the absolute value of their mean by this fraction of it.
_MAX_DRAWS = 100
_SIGN_MIX = 0.1


#: Seeds drawn when none is given lie below this: short enough to copy from a message.
_SEED_RANGE = 10**6


def _replay_seed(seed: Any) -> int:
    """``seed`` validated, or a freshly drawn one: the one number that fixes a check's inputs."""
    if seed is not None:
        return check_int(seed, "seed", minimum=0)
    # Fresh entropy on every call, so a learner cannot special-case the inputs.
    return secrets.randbelow(_SEED_RANGE)


def _check_seed(seed: Any) -> np.random.Generator:
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    # No seed: fresh entropy on every call, so a learner cannot special-case the inputs.
    return np.random.default_rng(seed)


def _signed(rng: np.random.Generator, low: float, high: float, size: Any = None) -> Any:
    """Random magnitudes in [low, high) with random signs: far from 0 and from each other."""
    magnitude = rng.uniform(low, high, size)
    sign = rng.choice([-1.0, 1.0], size)
    return magnitude * sign


def _containers(w: Any, b: Any) -> list[tuple[str, Any]]:
    return [("dict", {"w": w, "b": b}), ("tuple", (w, b))]


class _LossCase(NamedTuple):
    theta: Any
    model: Callable[..., Any]
    x: np.ndarray
    y: np.ndarray
    description: str
    loss: float  # the reference mean squared error, computed with NumPy in float64
    grad: Any  # its gradient, in theta's structure
    residual: np.ndarray  # y - model(theta, x)


def _loss_data(rng: np.random.Generator, form: str) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """Parameters ``w, b`` and data ``x, y`` for one loss case."""
    if form == "scalar":
        x = np.sort(rng.uniform(-5.0, 5.0, _N_LOSS))
        w_true, b_true = float(_signed(rng, 1.0, 3.0)), float(_signed(rng, 2.0, 9.0))
        y = w_true * x + b_true + rng.normal(size=_N_LOSS)
        # Start away from the truth, with a clear offset in b, so that the residuals have a
        # non-zero mean and "square of the mean" differs from "mean of the squares"; and with
        # residuals of both signs (drawn again until there are), so that "mean of the errors"
        # differs clearly from "mean of their absolute values".
        for _ in range(_MAX_DRAWS):
            w, b = w_true + float(_signed(rng, 0.5, 1.5)), b_true + float(_signed(rng, 2.0, 4.0))
            residual = y - (w * x + b)
            mean_abs = float(np.mean(np.abs(residual)))
            if mean_abs - abs(float(np.mean(residual))) >= _SIGN_MIX * mean_abs:
                break
        return w, b, x, y
    d_in, d_out = 2, 3
    x = rng.uniform(-5.0, 5.0, (_N_LOSS, d_in))
    w = _signed(rng, 0.5, 2.0, (d_in, d_out))
    b = _signed(rng, 1.0, 4.0, (d_out,))
    y = x @ w + b + _signed(rng, 1.0, 3.0, (_N_LOSS, d_out))
    return w, b, x, y


def _params(container: str, w: Any, b: Any) -> Any:
    """``w`` and ``b`` in a dict, a tuple, or the dict of
    :func:`~dl_workshop.teaching.checks.probe_functions.named_line_model` (``"named"``)."""
    if container == "named":
        return {"slope": w, "intercept": b}
    return {"w": w, "b": b} if container == "dict" else (w, b)


def _loss_case(rng: np.random.Generator, container: str, form: str, model: Any) -> _LossCase:
    w, b, x, y = _loss_data(rng, form)
    features = np.sin(x) if model is sine_model else x
    prediction = features @ w + b if form == "matrix" else features * w + b
    residual = y - prediction
    # The gradient of mean(residual ** 2) by hand: d loss / d prediction = -2 residual / size.
    upstream = -2.0 * residual / residual.size
    if form == "matrix":
        grad_w, grad_b = features.T @ upstream, upstream.sum(axis=0)
    else:
        grad_w, grad_b = float(np.sum(upstream * features)), float(np.sum(upstream))
    theta, grad = _params(container, w, b), _params(container, grad_w, grad_b)
    model_name = "linear_model" if model is linear_model else hints.ANOTHER_MODEL
    label = hints.NAMED_PARAMS if container == "named" else container
    description = hints.CASE_DESCRIPTION.format(form=form, container=label, model=model_name)
    return _LossCase(theta, model, x, y, description, float(np.mean(residual**2)), grad, residual)


def _model_probe_cases(rng: np.random.Generator) -> list[_LossCase]:
    """Cases with models that are not ``linear_model``: one with the same parameters, one with
    parameters of its own (so that a loss calling ``linear_model`` gives another value, or fails).
    """
    return [
        _loss_case(rng, "dict", "scalar", sine_model),
        _loss_case(rng, "named", "scalar", named_line_model),
    ]


def _linear_loss_cases(rng: np.random.Generator) -> list[_LossCase]:
    """Scalar form with dict and tuple params, then matrix form: the loss exercises' cases."""
    return [
        _loss_case(rng, "dict", "scalar", linear_model),
        _loss_case(rng, "tuple", "scalar", linear_model),
        _loss_case(rng, "dict", "matrix", linear_model),
    ]
