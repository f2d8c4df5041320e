"""Row buckets: a few shared numbers of rows, so that a new number of rows reuses compiled code.

Compiled code is specialized to the shapes of its inputs; a loop compiled for 100 rows cannot
run on 101. Data whose rows may be padded is padded to :func:`bucket_rows` rows: the next power
of two up to ``POWER_OF_TWO_ROWS`` rows (small problems, whose steps cost little next to
compiling them: every ``n`` from 65 to 4 096 shares one of six buckets), and beyond that ``n``
rounded up to four significant binary digits (at most 1/8 of the rows are padding). The padding
rows are copies of the first row (:func:`pad_rows`): finite wherever the model is finite on the
data, and exactly zero after the shift by the first row that the fast path's statistics use.
Whoever pads also makes the padding count for nothing (a row mask, or batches drawn from the
first ``n`` rows only); this module only chooses the shapes.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

#: The smallest bucket: every problem with at most this many rows shares it.
MIN_BUCKET_ROWS = 16

#: Up to this many rows, buckets are powers of two.
POWER_OF_TWO_ROWS = 4096

#: Data larger than this (bytes, all padded arrays together) is not padded: its copy would cost
#: more than the compilation it saves, and few fits of such data vary in size.
MAX_PADDED_BYTES = 1 << 26


def bucket_rows(n: int) -> int:
    """The bucket of ``n`` rows: a power of two up to ``POWER_OF_TWO_ROWS``, then ``n`` rounded up
    to four significant binary digits.

    Args:
        n: number of rows, >= 1.

    Returns:
        The number of rows to pad to (at least ``MIN_BUCKET_ROWS``; below ``n * 9 / 8`` beyond
        ``POWER_OF_TWO_ROWS``).

    Example:
        >>> [bucket_rows(n) for n in (1, 100, 442, 4096, 4097, 10_000, 1_000_000)]
        [16, 128, 512, 4096, 4608, 10240, 1048576]
    """
    if n <= POWER_OF_TWO_ROWS:
        return max(MIN_BUCKET_ROWS, 1 << max(0, n - 1).bit_length())
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def on_host_cpu(array: Any) -> bool:
    """Whether ``array`` is a NumPy array, or a JAX array on one CPU device (readable in place).

    NumPy arrays count only when JAX computes on the CPU (where the compiled loop reads them).
    """
    if isinstance(array, jax.Array):
        devices = array.sharding.device_set
        return len(devices) == 1 and next(iter(devices)).platform == "cpu"
    return isinstance(array, (np.ndarray, np.generic)) and jax.default_backend() == "cpu"


def nbytes(*arrays: Any) -> int:
    """The bytes of ``arrays`` together."""
    return sum(np.dtype(a.dtype).itemsize * int(np.size(a)) for a in arrays)


def paddable(*arrays: Any) -> bool:
    """Whether ``arrays`` (sharing their number of rows) are small host data worth padding.

    NumPy arrays, and JAX arrays on one CPU device (read in place), up to ``MAX_PADDED_BYTES``.
    Arrays on accelerators or split over devices stay as they are: padding them would take a
    compiled program of its own for every number of rows.
    """
    host = all(isinstance(a, np.ndarray) or on_host_cpu(a) for a in arrays)
    return host and nbytes(*arrays) <= MAX_PADDED_BYTES


def pad_rows(array: Any, rows: int) -> np.ndarray:
    """``array`` (NumPy, or a CPU JAX array) with copies of its first row appended up to ``rows``.

    Example:
        >>> pad_rows(np.array([1.0, 2.0, 3.0]), 5).tolist()
        [1.0, 2.0, 3.0, 1.0, 1.0]
    """
    host = np.asarray(array)
    extra = rows - host.shape[0]
    if extra <= 0:
        return host
    filler = np.broadcast_to(host[:1], (extra, *host.shape[1:]))
    return np.concatenate([host, filler])
