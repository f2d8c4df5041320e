"""Random draws for the lesson: NumPy's global generator unless a seed is given.

The lesson tells learners that ``np.random.seed(0)`` (``npr.seed(0)``) makes their random
numbers repeatable; every draw of the package without ``seed=`` (:func:`noise`, the starting
values of :func:`~dl_workshop.initialize_linear_params`, the noise of
:func:`~dl_workshop.make_y`) therefore comes from NumPy's global generator, and a ``seed=``
gives a private generator of its own that the global state does not touch.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from dl_workshop._validation import check_int, describe

__all__ = ["noise"]

_BAD_SHAPE = "shape must be an integer >= 0 or a tuple of them, e.g. 100 or (41, 20); got {}"


def generator(seed: Any) -> Any:
    """Where draws come from: ``np.random.default_rng(seed)``, or with ``seed=None`` NumPy's
    global generator (the ``np.random`` module, whose ``normal`` and friends
    ``np.random.seed`` controls).

    Raises:
        TypeError, ValueError: if ``seed`` is not ``None`` or an integer >= 0.
    """
    if seed is None:
        return np.random
    return np.random.default_rng(check_int(seed, "seed", minimum=0))


def _shape(shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple of ints >= 0 (an int ``n`` is ``(n,)``)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(_BAD_SHAPE.format(describe(shape)))
    sizes = []
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(_BAD_SHAPE.format(describe(shape)))
        if size < 0:
            raise ValueError(_BAD_SHAPE.format(describe(shape)))
        sizes.append(int(size))
    return tuple(sizes)


def noise(shape: int | tuple[int, ...], *, seed: int | None = None) -> np.ndarray:
    """Standard-normal draws of the given shape: Gaussian noise to add to a line.

    Args:
        shape: the shape of the draws, an integer ``n`` (shape ``(n,)``) or a tuple such as
            ``(41, 20)``.
        seed: seed of a private generator; ``None`` draws from NumPy's global generator, so
            ``np.random.seed(...)`` makes the draws repeatable.

    Returns:
        A float64 NumPy array of shape ``shape`` (``(n,)`` for an integer).

    Raises:
        TypeError, ValueError: if ``shape`` is not a size or a tuple of sizes >= 0, or ``seed``
            is not an integer >= 0.

    Example:
        >>> import numpy as np
        >>> np.random.seed(0)
        >>> first = noise(3)
        >>> np.random.seed(0)
        >>> bool(np.array_equal(first, noise(3))), noise((41, 20)).shape
        (True, (41, 20))
    """
    return generator(seed).normal(size=_shape(shape))
