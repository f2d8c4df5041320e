"""The one-pass moments, timed: the fast path's statistics against one ``X^T X``, and the
exact (TSQR) moments of data in memory, optionally A/B against another source tree.

Rows (median of ``--repeats`` warm runs, the rows taking turns run by run):

* ``X^T X``: NumPy's float32 Gram product, the floor of the fast path's pass;
* ``statistics``: :func:`~dl_workshop.objectives.statistics.sufficient_statistics` of float32
  ``N x D`` data (the fast path of ``fit``), and its ratio to ``X^T X``;
* ``moments_of``: the float64 TSQR moments of ``200 000 x 51`` data in memory (what the
  estimator reads large data into);
* ``fit first`` / ``fit warm``: ``fit`` of ``linear_model`` + ``mseloss`` on the lesson's data
  (the fast path, 3 000 steps): the first call in the process (a fresh, empty compilation
  cache with ``--ab``), then the median of warm calls.

``--ab OTHER_SRC`` runs this script in fresh processes, alternately on ``OTHER_SRC`` and this
tree's ``src`` (``--rounds`` each), and prints the medians of both and their ratios.

Run: ``PYTHONPATH=src python benchmarks/bench_moments.py [--quick] [--ab /path/to/other/src]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, d: int, repeats: int) -> dict[str, float]:
    """Median seconds of each row in this process (warm: one untimed call first)."""
    # the old paths (dl_workshop._moved): with --ab the other tree may predate the folders
    from dl_workshop.data import make_y
    from dl_workshop.data import x as lesson_x
    from dl_workshop.objectives.tsqr import moments_of

    from dl_workshop import fit, linear_model, mseloss
    from dl_workshop.objectives.statistics import sufficient_statistics

    lesson_y = make_y(lesson_x, seed=0)

    def fit_lesson():
        theta = {"w": 0.0, "b": 0.0}
        fit(theta, linear_model, mseloss, lesson_x, lesson_y, 3000, 0.001, progress=False)

    start = time.perf_counter()
    fit_lesson()
    first = time.perf_counter() - start
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32) + 3.0
    y = (x @ rng.normal(size=d) + rng.normal(size=n)).astype(np.float32)
    xt = rng.normal(size=(n // 5, 50))
    yt = xt @ rng.normal(size=50)
    rows = {
        "xtx": lambda: x.T @ x,
        "statistics": lambda: sufficient_statistics(x, y, dtype="float32"),
        "moments_of": lambda: moments_of(xt, yt),
        "fit_warm": fit_lesson,
    }
    for fn in rows.values():
        fn()
    out = {name: [] for name in rows}
    for _ in range(repeats):  # rows take turns, so load affects them alike
        for name, fn in rows.items():
            out[name].append(_median_time(fn, 1))
    result = {name: statistics.median(times) for name, times in out.items()}
    result["ratio"] = result["statistics"] / result["xtx"]
    result["fit_first"] = first
    return result


def _table(results: dict[str, dict[str, float]]) -> str:
    names = ["xtx", "statistics", "ratio", "moments_of", "fit_first", "fit_warm"]
    lines = [f"{'row':<12}" + "".join(f"{label:>14}" for label in results)]
    for name in names:
        unit = "" if name == "ratio" else " s"
        cells = "".join(f"{r[name]:>12.4f}{unit:<2}" for r in results.values())
        lines.append(f"{name:<12}{cells}")
    return "\n".join(lines)


def _ab(other: str, args: argparse.Namespace) -> None:
    trees = {"other": other, "this": str(SRC)}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    for _ in range(args.rounds):
        for label, src in trees.items():
            cache = tempfile.mkdtemp(prefix="bench_moments_cache_")  # a cold first fit
            env = {**os.environ, "PYTHONPATH": src, "DL_WORKSHOP_CACHE_DIR": cache}
            command = [sys.executable, __file__, "--n", str(args.n), "--d", str(args.d),
                       "--repeats", str(args.repeats), "--json"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
            shutil.rmtree(cache, ignore_errors=True)
    medians = {
        label: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        for label, rs in runs.items()
    }
    print(f"A/B, {args.rounds} fresh processes each, alternating; {args.n} x {args.d} float32")
    print(_table(medians))
    for key in ("statistics", "ratio", "moments_of", "fit_first", "fit_warm"):
        print(f"this / other, {key}: {medians['this'][key] / medians['other'][key]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1 000 000)")
    parser.add_argument("--d", type=int, default=32, help="columns (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument("--rounds", type=int, default=5, help="processes per tree with --ab")
    parser.add_argument("--ab", metavar="OTHER_SRC", help="A/B against another source tree")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats, args.rounds = 50_000, 2, 1
    if args.ab:
        _ab(args.ab, args)
        return
    result = measure(args.n, args.d, args.repeats)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.n} x {args.d} float32, median of {args.repeats}")
        print(_table({"this": result}))


if __name__ == "__main__":
    main()
