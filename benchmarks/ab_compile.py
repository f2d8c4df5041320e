"""A/B of the compilation mechanisms: each one's user-facing figure with it and without it.

Every mechanism is turned off through the environment variable ``DL_WORKSHOP_WITHOUT`` (read
in one place, ``dl_workshop.compilation.without``); JAX's persistent compilation cache stays
on in every run. A and B take turns (A, B, A, B, ...) in fresh processes; each cold process has
its own new cache folder and the "2nd process" reuses the folder its cold process filled.
Figures are medians over ``--repeats`` turns:

* ``executables`` (compiled programs kept whole across processes,
  ``dl_workshop.compilation.executables``):
  the first fit in a 2nd process (``GradientDescentRegressor`` on the diabetes data; the
  lesson's ``model_optimization_loop``);
* ``small_options`` (XLA options for small CPU problems, ``dl_workshop.compilation.options``): the
  first call in a fresh (cold) process, and the warm call after it;
* ``loop_bound`` (at most ``MAX_COMPILED_LOOPS`` compiled loops kept, ``compilation.loops``): the
  resident memory a process gains over many fits of a user's loss on data of new sizes each
  time (never padded, so each fit compiles a loop), and the time per fit.

A mechanism stays when it saves at least 20 % of a figure (``with <= 0.8 * without``).

    python benchmarks/ab_compile.py            # 5 turns
    python benchmarks/ab_compile.py --quick    # smoke run (2 turns, fewer fits)

The library is this checkout's ``src`` (``AB_COMPILE_SRC``: another copy of it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
KEEP_SAVING = 0.20

SETUP = {
    "diabetes": (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import load_diabetes\n"
        "from dl_workshop.estimator import GradientDescentRegressor\n"
        "x, y = load_diabetes(return_X_y=True)\n",
        "GradientDescentRegressor().fit(x, y)",
    ),
    "lesson fast": (
        "from dl_workshop import linear_model, model_optimization_loop, mseloss\n"
        "from dl_workshop.lesson.data import b_true, make_y, w_true, x\n"
        "ys = make_y(x, w_true, b_true, seed=0)\n",
        "model_optimization_loop({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x, ys, 3000, "
        "0.001)",
    ),
    "lesson general": (
        "from dl_workshop import fit, linear_model, mseloss\n"
        "from dl_workshop.lesson.data import b_true, make_y, w_true, x\n"
        "ys = make_y(x, w_true, b_true, seed=0)\n",
        "fit({'w': 0.0, 'b': 0.0}, linear_model, mseloss, x, ys, 3000, 0.001, "
        "fast_path=False)",
    ),
}

FIRST_CALL = """
import statistics, time
import jax
{setup}
start = time.perf_counter()
jax.block_until_ready({call})
first = time.perf_counter() - start
warm = []
for _ in range(5):
    start = time.perf_counter()
    jax.block_until_ready({call})
    warm.append(time.perf_counter() - start)
print("AB", first, statistics.median(warm))
"""

MANY_FITS = """
import time
import jax.numpy as jnp
import numpy as np
from dl_workshop import fit, linear_model

def median_loss(theta, model, x, y):
    return jnp.median((model(theta, x) - y) ** 2)

def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

rng = np.random.default_rng(0)
def one(n):
    x = rng.normal(size=n); y = 2 * x + 1 + rng.normal(size=n)
    fit({{"w": 0.0, "b": 0.0}}, linear_model, median_loss, x, y, 100, 0.05, progress=False)

one(10)
before, start = rss_mb(), time.perf_counter()
for n in range(11, 11 + {fits}):
    one(n)
print("AB", rss_mb() - before, (time.perf_counter() - start) / {fits})
"""


def _process(script: str, without: str, cache_dir: str) -> list[float]:
    """The figures a fresh process prints after ``AB``, run with ``DL_WORKSHOP_WITHOUT``."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("AB_COMPILE_SRC", SRC),
           "DL_WORKSHOP_CACHE_DIR": cache_dir, "DL_WORKSHOP_WITHOUT": without}
    for name in ("DL_WORKSHOP_NO_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the fresh process failed:\n{done.stderr[-3000:]}")
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("AB ")][-1]
    return [float(v) for v in line.split()[1:]]


def first_calls(repeats: int, configs: list[str]) -> dict:
    """``{(config, workload): {"cold": [...], "warm": [...], "2nd": [...]}}``, taking turns."""
    out: dict = {}
    for _ in range(repeats):
        for workload, (setup, call) in SETUP.items():
            script = FIRST_CALL.format(setup=setup, call=call)
            for config in configs:
                cell = out.setdefault((config, workload), {"cold": [], "warm": [], "2nd": []})
                with tempfile.TemporaryDirectory(prefix="ab-compile-") as folder:
                    cold, warm = _process(script, config, folder)
                    second, _ = _process(script, config, folder)
                cell["cold"].append(cold)
                cell["warm"].append(warm)
                cell["2nd"].append(second)
    return out


def many_fits(repeats: int, fits: int) -> dict:
    """``{config: {"rss": [...], "per fit": [...]}}`` for ``loop_bound`` on and off."""
    out: dict = {}
    for _ in range(repeats):
        for config in ("", "loop_bound"):
            with tempfile.TemporaryDirectory(prefix="ab-compile-") as folder:
                rss, per_fit = _process(MANY_FITS.format(fits=fits), config, folder)
            cell = out.setdefault(config, {"rss": [], "per fit": []})
            cell["rss"].append(rss)
            cell["per fit"].append(per_fit)
    return out


def _row(mechanism: str, figure: str, with_: list, without: list, unit: str) -> bool:
    a, b = statistics.median(with_), statistics.median(without)
    saving = 1 - a / b if b > 0 else 0.0
    keep = saving >= KEEP_SAVING
    print(f"{mechanism:<14}{figure:<38}{a:>10.4f}{b:>10.4f}{a / b if b else 0:>8.2f} {unit:<3}"
          f"{f'saves {round(100 * saving)} %':>12}")
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 turns, 40 fits")
    parser.add_argument("--repeats", type=int, default=None, help="turns (default 5)")
    parser.add_argument("--fits", type=int, default=None, help="fits per process (default 150)")
    parser.add_argument("--only", choices=["first", "memory"], help="one half of the A/B")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    fits = args.fits or (40 if args.quick else 150)
    print(f"medians of {repeats} alternating turns, fresh processes; with/without = ratio")
    print(f"{'mechanism':<14}{'figure':<38}{'with':>10}{'without':>10}{'ratio':>8}")
    verdict: dict = {}
    if args.only != "memory":
        calls = first_calls(repeats, ["", "executables", "small_options"])
        for workload in SETUP:
            for kind in ("2nd", "cold"):
                keep = _row("executables", f"{workload}: first call, {kind} (s)",
                            calls["", workload][kind], calls["executables", workload][kind], "s")
                verdict["executables"] = verdict.get("executables", False) or (
                    keep and kind == "2nd")
        for workload in SETUP:
            for kind in ("cold", "2nd", "warm"):
                keep = _row("small_options", f"{workload}: first call, {kind} (s)"
                            if kind != "warm" else f"{workload}: warm call (s)",
                            calls["", workload][kind], calls["small_options", workload][kind], "s")
                verdict["small_options"] = verdict.get("small_options", False) or keep
    if args.only != "first":
        memory = many_fits(repeats, fits)
        verdict["loop_bound"] = _row("loop_bound", f"RSS growth over {fits} fits (MB)",
                                     memory[""]["rss"], memory["loop_bound"]["rss"], "MB")
        _row("loop_bound", "time per fit (s)", memory[""]["per fit"],
             memory["loop_bound"]["per fit"], "s")
    print("keep (saves >= 20 % on a figure):",
          ", ".join(f"{k}={'keep' if v else 'remove'}" for k, v in verdict.items()))


if __name__ == "__main__":
    main()
