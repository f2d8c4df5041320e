"""The old home of :mod:`dl_workshop.objectives.moments`, kept as a name for its callers."""

from dl_workshop.objectives.moments import (
    CHOLESKY_QR_LIMIT,
    Moments,
    block_r,
    combine_moments,
    empty_moments,
    moments_of,
)

__all__ = [
    "CHOLESKY_QR_LIMIT", "Moments", "block_r", "combine_moments", "empty_moments", "moments_of",
]
