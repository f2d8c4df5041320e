"""The lesson's data: 100 points on [-5, 5] and noisy targets from a line of your choice."""

from __future__ import annotations

from typing import Any

import numpy as np

from dl_workshop._validation import as_data, check_int, check_positive
from dl_workshop.model import linear_model

__all__ = ["b_true", "make_y", "w_true"]

#: The lesson's inputs: 100 evenly spaced points from -5 to 5 (read-only, shape ``(100,)``).
x: np.ndarray = np.linspace(-5.0, 5.0, 100)
x.flags.writeable = False

#: The lesson's true slope.
w_true: float = 2.0

#: The lesson's true intercept.
b_true: float = 20.0


def make_y(
    x: Any,
    w: Any = w_true,
    b: Any = b_true,
    *,
    noise: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    """Targets from the line (or hyperplane) ``w, b`` plus Gaussian noise: ``x·w + b + noise·ε``.

    Unlike the lesson's original helper, the ``w`` and ``b`` you pass are the ones used.

    Args:
        x: inputs, shape ``(n,)`` with scalar ``w``, or ``(n, d_in)`` with ``w`` of shape
            ``(d_in,)`` or ``(d_in, d_out)``.
        w: the true weights (default the lesson's ``w_true = 2``).
        b: the true bias (default the lesson's ``b_true = 20``).
        noise: standard deviation of the noise, ``>= 0`` (``0`` gives the exact line).
        seed: seed of the noise; the same seed gives the same ``y``.

    Returns:
        A NumPy float array of shape ``(n,)`` or ``(n, d_out)``.

    Example:
        >>> from dl_workshop.data import x
        >>> make_y(x, 3.0, -1.0, noise=0.0)[:2]
        array([-16.       , -15.8989899])
    """
    noise = check_positive(noise, "noise", allow_zero=True)
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    inputs = as_data(x, "x")
    clean = np.asarray(linear_model({"w": w, "b": b}, inputs), dtype=np.float64)
    rng = np.random.default_rng(seed)
    return clean + noise * rng.normal(size=clean.shape)
