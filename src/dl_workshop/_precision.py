"""Float64 for one call: the single place that scopes JAX's x64 switch.

JAX computes in float32 unless its global ``jax_enable_x64`` flag is set. A call asked for
``dtype="float64"`` runs its whole body inside :func:`precision`, which turns the flag on for the
duration of the ``with`` block only (``jax.enable_x64``), so the caller's global setting is never
changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np

FLOAT64 = np.dtype(np.float64)


@contextlib.contextmanager
def precision(dtype: np.dtype) -> Iterator[None]:
    """Compute in ``dtype`` inside the block: enable x64 for float64 when it is not on already."""
    if dtype == FLOAT64 and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            yield
    else:
        yield
