"""The performance shortcuts of the loop, and the one switch that turns them off for an A/B.

Each shortcut justifies itself by ``benchmarks/ab_mechanisms.py``, which runs a figure a user
meets with and without it. ``DL_WORKSHOP_AB_OFF`` (a comma-separated list of the names in
:data:`SHORTCUTS`) turns shortcuts off in a process; results stay the same up to float rounding,
only the time changes. Nothing else reads that variable.
"""

from __future__ import annotations

import os

#: The shortcuts by name, with what they buy.
SHORTCUTS = {
    "pad-mse": "rows of mseloss with a row-wise model padded to a bucket (no compilation per n)",
    "pad-loss": "rows of a user's mean-over-rows loss padded to a bucket (likewise)",
    "pad-minibatch": "rows of minibatch data padded to a bucket (likewise)",
    "fused-dots": "x^T r over >= 32 768 rows on the CPU as a fused multiply-and-sum",
}

#: The environment variable that lists shortcuts to turn off.
AB_OFF_VARIABLE = "DL_WORKSHOP_AB_OFF"


def enabled(name: str) -> bool:
    """Whether shortcut ``name`` (a key of :data:`SHORTCUTS`) is on in this process.

    Example:
        >>> enabled("pad-mse")
        True
    """
    if name not in SHORTCUTS:
        raise ValueError(f"unknown shortcut {name!r}; known: {sorted(SHORTCUTS)}")
    off = os.environ.get(AB_OFF_VARIABLE, "")
    return name not in {part.strip() for part in off.split(",")}
