"""Fast path for the linear model with squared loss: optimize on sufficient statistics.

For ``model = linear_model`` and ``loss = mseloss`` the loss is a quadratic function of
``theta = (w, b)`` whose coefficients are fixed by a few averages of the data, computed in one
pass (:func:`sufficient_statistics`); each gradient step then costs ``O(d² k)`` instead of
``O(n d k)``. :func:`~dl_workshop.fit` switches to this path by itself when it applies (opt out
with ``fast_path=False``).

The code lives in :mod:`dl_workshop.objectives.statistics` (the statistics, derived from the
one pass of :func:`~dl_workshop.moments.core.moments_of`) and
:mod:`dl_workshop.objectives.linear_mse` (the objective); this module keeps their public names
where they have always been importable.
"""

from dl_workshop.objectives.linear_mse import LinearMSEObjective, linear_mse_loss
from dl_workshop.objectives.statistics import LinearMSEStats, sufficient_statistics

__all__ = [
    "LinearMSEObjective",
    "LinearMSEStats",
    "linear_mse_loss",
    "sufficient_statistics",
]
