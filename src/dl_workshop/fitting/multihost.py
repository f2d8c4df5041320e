"""Several JAX processes fitting one global array must agree on its rows, or fail together.

``jax.make_array_from_process_local_data(sharding, local_rows)`` without ``global_shape`` infers
the global shape from the local rows of the process that calls it: processes with different
numbers of rows (4 001 and 3 999) each build a *different* global array, and each would return
a different fit without any error. :func:`check_process_shards` exchanges every process's row
counts in one tiny collective before anything else touches the data, so that on a mismatch
every process raises the same ``ValueError`` (none is left waiting for the others). With one
process, or arrays that one process holds entirely, it does nothing and costs nothing.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

#: The message when processes see different global arrays ({name}: "x" or "y"; {counts}: each
#: process's rows).
SHARD_MISMATCH = (
    "the {n_processes} JAX processes disagree on the rows of {name}: {counts}. Every process "
    "must hold the same number of rows: drop the extra rows (or pad every shard to the same "
    "length) before jax.make_array_from_process_local_data, and pass it "
    "global_shape=(total_rows, ...) so that JAX checks the shards"
)

#: Counts travel as two int32 halves (the collective may run without 64-bit integers).
_HALF = 2**30

def _is_global(array: Any) -> bool:
    """Whether ``array`` is a JAX array with rows held by other processes too."""
    return isinstance(array, jax.Array) and not array.is_fully_addressable


def _local_rows(array: jax.Array) -> int:
    """Rows of ``array`` held by this process (each row counted once, however replicated)."""
    spans = {shard.index[0].indices(array.shape[0])[:2] for shard in array.addressable_shards}
    return sum(stop - start for start, stop in spans)


def _gather_counts(arrays: list[jax.Array]) -> np.ndarray:
    """Every process's ``(global rows, local rows)`` of each array: shape ``(P, len, 2)``."""
    from jax.experimental import multihost_utils

    counts = np.array([[a.shape[0], _local_rows(a)] for a in arrays], np.int64)
    halves = np.stack([counts // _HALF, counts % _HALF], axis=-1).astype(np.int32)
    gathered = np.asarray(multihost_utils.process_allgather(halves), np.int64)
    return gathered[..., 0] * _HALF + gathered[..., 1]


def _describe(counts: np.ndarray) -> str:
    return ", ".join(
        f"process {p} holds {local} rows of a global {total}"
        for p, (total, local) in enumerate(counts.tolist())
    )


def check_process_shards(x: Any, y: Any = None) -> None:
    """Raise ``ValueError`` on every process unless all processes agree on the rows of x and y.

    Applies to arrays assembled across processes (``jax.Array`` not fully addressable, e.g.
    from ``jax.make_array_from_process_local_data``) when ``jax.process_count() > 1``; every
    process must call it (as it calls ``fit``). Anything else passes unchecked.

    Args:
        x: inputs of a fit, any type.
        y: targets of a fit, any type, or ``None``.

    Raises:
        ValueError: naming each process's local and global row counts, and the fix.

    Example:
        >>> import numpy as np
        >>> check_process_shards(np.zeros((4, 2)), np.zeros(4))  # one process: nothing to do
    """
    named = [(name, a) for name, a in (("x", x), ("y", y)) if _is_global(a)]
    if not named or jax.process_count() == 1:
        return
    # No memory of arrays checked before: a process that skipped the collective while another
    # entered it would leave that one waiting.
    gathered = _gather_counts([a for _, a in named])
    for i, (name, _) in enumerate(named):
        totals = gathered[:, i, 0]
        if np.any(totals != totals[0]):
            raise ValueError(
                SHARD_MISMATCH.format(
                    n_processes=len(totals), name=name, counts=_describe(gathered[:, i])
                )
            )
