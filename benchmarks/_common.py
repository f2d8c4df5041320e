"""Helpers shared by the benchmark scripts: timing, peak memory, the device in use."""

from __future__ import annotations

import resource
import statistics
import sys
import time

import jax

__all__ = ["device_name", "peak_rss_mb", "timed"]


def timed(fn, repeats: int = 5, warmup: int = 1):
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs, and its output."""
    out = None
    for _ in range(warmup):
        out = fn()
        jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        jax.block_until_ready(out)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (psutil is not needed)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def device_name() -> str:
    device = jax.devices()[0]
    return f"{device.platform}:{getattr(device, 'device_kind', device)} x{len(jax.devices())}"
