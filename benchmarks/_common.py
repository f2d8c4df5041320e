"""Helpers shared by the benchmark scripts: timing, peak memory, the device in use."""

from __future__ import annotations

import resource
import statistics
import sys
import time

import jax
import numpy as np

__all__ = ["device_name", "peak_rss_mb", "python_loop_reference", "timed", "timed_interleaved"]


def python_loop_reference(theta, xs, ys, n_steps, step_size):
    """The lesson's original answer: one Python-level dispatch of ``jax.grad`` per step.

    Returns the loss before every step and the final parameters.
    """
    from dl_workshop import linear_model, mseloss

    dloss = jax.grad(mseloss)
    losses = []
    for _ in range(n_steps):
        losses.append(float(mseloss(theta, linear_model, xs, ys)))
        grads = dloss(theta, linear_model, xs, ys)
        theta = {k: theta[k] - step_size * grads[k] for k in theta}
    return np.array(losses), theta


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


def timed_interleaved(fns: dict, repeats: int = 5, warmup: int = 1) -> dict:
    """Median wall time, last output and peak RSS (MB) of each ``fns[name]()``, taking turns.

    Taking turns (a, b, c, a, b, c, ...) exposes every function to the same load from other
    processes, so the ratios between them are fairer than with one block of runs each. The
    warm-up runs go one function after the other, and the process's peak RSS after each one's
    first run is its peak.
    """
    outputs, peaks = {}, {}
    for name, fn in fns.items():
        for _ in range(warmup):
            outputs[name] = jax.block_until_ready(fn())
        peaks[name] = peak_rss_mb()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            outputs[name] = jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), outputs[name], peaks[name]) for name in fns}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (psutil is not needed)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def device_name() -> str:
    device = jax.devices()[0]
    return f"{device.platform}:{getattr(device, 'device_kind', device)} x{len(jax.devices())}"
