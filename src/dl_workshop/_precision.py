"""Float64 for one call: the single place that scopes JAX's x64 switch.

JAX computes in float32 unless its global ``jax_enable_x64`` flag is set. A call asked for
``dtype="float64"`` runs its whole body inside :func:`precision`, which turns the flag on for the
duration of the ``with`` block only (``jax.enable_x64``), so the caller's global setting is never
changed. :func:`x64` scopes the switch to a given value (on for float64, off otherwise) for
code that must trace in exactly the fit's dtype. No other module names JAX's x64 switch
(``tests/test_architecture.py`` checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np

FLOAT64 = np.dtype(np.float64)


def x64_enabled() -> bool:
    """Whether JAX's x64 switch is on here (globally, or inside a :func:`precision` block).

    Example:
        >>> with x64(True):
        ...     x64_enabled()
        True
    """
    return bool(jax.config.jax_enable_x64)


@contextlib.contextmanager
def precision(dtype: np.dtype) -> Iterator[None]:
    """Compute in ``dtype`` inside the block: enable x64 for float64 when it is not on already."""
    if dtype == FLOAT64 and not x64_enabled():
        with jax.enable_x64(True):
            yield
    else:
        yield


def x64(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """JAX's x64 switch set to ``enabled`` inside the block only (the caller's setting after).

    Example:
        >>> import jax.numpy as jnp
        >>> with x64(True):
        ...     str(jnp.zeros(1, "float64").dtype)
        'float64'
    """
    return jax.enable_x64(enabled)
