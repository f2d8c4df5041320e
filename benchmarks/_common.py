"""Helpers shared by the benchmark scripts: timing, first calls in fresh processes, peak memory,
the device in use, and a bar chart of the results (``--chart PNG``) for the documentation."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import jax
import numpy as np

__all__ = [
    "FirstCalls",
    "add_chart_option",
    "device_name",
    "first_calls",
    "peak_rss_mb",
    "python_loop_reference",
    "rss_mb",
    "timed",
    "timed_interleaved",
    "write_chart",
]

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


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


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux's /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


_FIRST_CALL = """
import time as _time
{setup}
_start = _time.perf_counter()
{call}
print("FIRST_CALL_SECONDS", _time.perf_counter() - _start)
"""


def _fresh_process_seconds(setup: str, call: str, cache_dir: str) -> float:
    """Seconds of ``call``'s first run in a new Python process, after ``setup`` (untimed)."""
    script = _FIRST_CALL.format(setup=textwrap.dedent(setup), call=textwrap.dedent(call))
    # The library of this checkout, unless the caller chose one (PYTHONPATH).
    path = os.environ.get("PYTHONPATH") or SRC
    env = {**os.environ, "PYTHONPATH": path, "DL_WORKSHOP_CACHE_DIR": cache_dir}
    env.pop("DL_WORKSHOP_NO_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"the fresh process failed:\n{done.stderr[-3000:]}")
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("FIRST_CALL_SECONDS")][-1]
    return float(line.split()[1])


class FirstCalls:
    """A method's first call in fresh processes: ``cold`` (empty compilation cache) and
    ``second`` (a second process, with the first one's persistent compilation cache)."""

    def __init__(self, cold: float, second: float) -> None:
        self.cold, self.second = cold, second


def first_calls(setup: str, call: str, repeats: int = 1) -> FirstCalls:
    """Time ``call``'s first run in fresh processes: best of ``repeats`` cold processes (each
    with an empty compilation cache) and of ``repeats`` second processes (after a first one
    filled the cache). ``setup`` (imports, data) is not timed.
    """
    cold, second = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-jax-cache-") as folder:
            cold.append(_fresh_process_seconds(setup, call, folder))
            second.append(_fresh_process_seconds(setup, call, folder))
    return FirstCalls(min(cold), min(second))


def add_chart_option(parser, name: str) -> None:
    """Add ``--chart PNG`` to a benchmark's ``argparse`` parser (``name``: the chart's usual
    file, e.g. ``docs/images/bench_lesson.png``, where the Performance page shows it)."""
    parser.add_argument(
        "--chart",
        metavar="PNG",
        help=f"also draw the results as a bar chart into this PNG file (the docs use {name})",
    )


def write_chart(path, title: str, series: dict, *, unit: str = "s", note: str = ""):
    """Draw ``series`` as grouped horizontal bars on a log scale into the PNG file ``path``.

    Args:
        path: the PNG file to write (its folder is created).
        title: the chart's title; the device and ``note`` go under it.
        series: ``{series name: {row label: value}}``, e.g. ``{"warm": {"NumPy loop": 0.03}}``;
            every series shares the row labels of the first, and a missing or non-positive
            value leaves its bar out.
        unit: the values' unit, for the axis and the bar labels.
        note: a line under the title (e.g. how the figures were measured).

    Returns:
        The path written.
    """
    from pathlib import Path

    from matplotlib.figure import Figure

    rows = list(next(iter(series.values())))
    height = 0.8 / len(series)
    figure = Figure(figsize=(8.0, 1.2 + 0.45 * len(rows) * max(1, len(series) * 0.6)),
                    layout="constrained")
    ax = figure.add_subplot()
    for i, (name, values) in enumerate(series.items()):
        positions = [r + (i - (len(series) - 1) / 2) * height for r in range(len(rows))]
        shown = [(p, values.get(row)) for p, row in zip(positions, rows, strict=True)]
        shown = [(p, v) for p, v in shown if v is not None and v > 0]
        bars = ax.barh([p for p, _ in shown], [v for _, v in shown], height=height, label=name)
        ax.bar_label(bars, labels=[f"{v:.3g} {unit}" for _, v in shown], padding=2, fontsize=8)
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"{unit} (log scale)")
    ax.set_title(f"{title}\n{device_name()}{'; ' + note if note else ''}", fontsize=10)
    if len(series) > 1:  # under the axes, where it hides no bar
        figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                      ncols=len(series), fontsize=8)
    ax.margins(x=0.25)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
