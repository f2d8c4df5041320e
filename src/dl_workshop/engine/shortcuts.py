"""The performance shortcuts of the loop, and the one switch that turns them off for an A/B.

Each shortcut justifies itself by ``benchmarks/ab_mechanisms.py``, which runs a figure a user
meets with and without it. ``DL_WORKSHOP_WITHOUT`` (a comma-separated list of the names in
:data:`SHORTCUTS`, and of the compilation mechanisms of :mod:`dl_workshop.compilation`) turns
them off in a process; results stay the same up to float rounding, only the time changes. It is
read in one place, :func:`dl_workshop.compilation.without`.
"""

from __future__ import annotations

from dl_workshop.compilation import WITHOUT_VARIABLE, without

#: The shortcuts by name, with what they buy.
SHORTCUTS = {
    "pad-mse": "rows of mseloss with a row-wise model padded to a bucket (no compilation per n)",
    "pad-loss": "rows of a user's mean-over-rows loss padded to a bucket (likewise)",
    "pad-minibatch": "rows of minibatch data padded to a bucket (likewise)",
    "fused-dots": "x^T r over >= 32 768 rows on the CPU as a fused multiply-and-sum",
}

#: The environment variable that lists shortcuts (and compilation mechanisms) to turn off.
AB_OFF_VARIABLE = WITHOUT_VARIABLE


def enabled(name: str) -> bool:
    """Whether shortcut ``name`` (a key of :data:`SHORTCUTS`) is on in this process.

    Example:
        >>> enabled("pad-mse")
        True
    """
    if name not in SHORTCUTS:
        raise ValueError(f"unknown shortcut {name!r}; known: {sorted(SHORTCUTS)}")
    return not without(name)
