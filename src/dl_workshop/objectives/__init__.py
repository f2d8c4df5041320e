"""Objectives: what the engine's loop minimizes, ``objective(params, t, data) -> (loss, grads)``.

Layer 3 of the package (see ``docs/architecture.md``):

- :mod:`~dl_workshop.objectives.full_batch`: ``value_and_grad`` of the user's loss on all rows;
- :mod:`~dl_workshop.objectives.minibatch`: step ``t``'s minibatch, picked inside the compiled
  loop in a reproducible shuffled order (shared with streaming);
- :mod:`~dl_workshop.objectives.statistics` and :mod:`~dl_workshop.objectives.linear_mse`: the
  fast path for ``linear_model`` + ``mseloss`` on sufficient statistics;
  :mod:`~dl_workshop.objectives.dask_stats`: those statistics from Dask data, from the
  per-partition R factors of :mod:`dl_workshop.moments.core` combined on the workers;
- :mod:`~dl_workshop.fitting.choose`: which of them a fit uses, decided in one place.
"""

from dl_workshop.objectives.linear_mse import LinearMSEObjective, linear_mse_loss
from dl_workshop.objectives.minibatch import MinibatchObjective, shuffle_positions, window_key
from dl_workshop.objectives.statistics import LinearMSEStats, sufficient_statistics

__all__ = [
    "LinearMSEObjective",
    "LinearMSEStats",
    "MinibatchObjective",
    "linear_mse_loss",
    "shuffle_positions",
    "sufficient_statistics",
    "window_key",
]
