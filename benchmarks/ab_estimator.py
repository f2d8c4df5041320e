"""A/B timing of ``GradientDescentRegressor.fit`` between two source trees, taking turns.

Each round runs, for each tree in turn (the order alternates from one round to the next, so
that a drift in the machine's load favours neither), fresh Python processes with that tree's
``src`` on ``PYTHONPATH``:

* a warm process: a few fits to compile and warm up, then the median of ``--fits`` timed fits
  on diabetes (442 x 10) and on the synthetic 200 000 x 50 problem of ``bench_estimator.py``;
* the first fit on diabetes in a fresh process with an empty compilation cache (``cold``), and
  in a second process that finds the first one's cache (``2nd process``).

The table gives each tree's median over the rounds and the median of the per-round ratios
(B / A), which is what to read on a busy machine: both trees met the same load in a round.

    python benchmarks/ab_estimator.py --before ../before24/src           # 7 rounds
    python benchmarks/ab_estimator.py --before ../before24/src --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

WARM = """
import json, sys, time, warnings
sys.path.insert(0, {here!r})
import numpy as np
from sklearn.datasets import load_diabetes
from bench_estimator import synthetic
from dl_workshop.estimator import GradientDescentRegressor
warnings.simplefilter("ignore")
problems = {{"diabetes warm": load_diabetes(return_X_y=True),
             "200k x 50 warm": synthetic({rows}, 50)}}
out = {{}}
for name, (x, y) in problems.items():
    fits = {fits} if name.startswith("diabetes") else max(3, {fits} // 6)
    for _ in range(3):
        GradientDescentRegressor().fit(x, y)
    times = []
    for _ in range(fits):
        start = time.perf_counter()
        GradientDescentRegressor().fit(x, y)
        times.append(time.perf_counter() - start)
    out[name] = float(np.median(times))
print("AB_RESULT", json.dumps(out))
"""

FIRST = """
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import load_diabetes
from dl_workshop.estimator import GradientDescentRegressor
warnings.simplefilter("ignore")
x, y = load_diabetes(return_X_y=True)
start = time.perf_counter()
GradientDescentRegressor().fit(x, y)
print("AB_RESULT", json.dumps({{{name!r}: time.perf_counter() - start}}))
"""

ROWS = ("diabetes warm", "diabetes first fit, cold", "diabetes first fit, 2nd process",
        "200k x 50 warm")


def _run(script: str, src: str, cache_dir: str) -> dict:
    """The ``AB_RESULT`` of ``script`` in a fresh process with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": src, "DL_WORKSHOP_CACHE_DIR": cache_dir}
    env.pop("DL_WORKSHOP_NO_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the process with {src} failed:\n{done.stderr[-3000:]}")
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("AB_RESULT")][-1]
    return json.loads(line.split(" ", 1)[1])


def one_round(src: str, warm_cache: str, rows: int, fits: int) -> dict:
    """One tree's figures: a warm process, then a cold and a second first-fit process."""
    out = _run(WARM.format(here=HERE, rows=rows, fits=fits), src, warm_cache)
    with tempfile.TemporaryDirectory(prefix="ab-cache-") as folder:
        out.update(_run(FIRST.format(name=ROWS[1]), src, folder))
        out.update(_run(FIRST.format(name=ROWS[2]), src, folder))
    return out


def table(results: dict[str, list[dict]], labels: tuple[str, str]) -> str:
    """Medians over the rounds and the median per-round ratio, one line per figure."""
    a, b = (results[label] for label in labels)
    lines = [f"{'figure (s)':<34}{labels[0]:>12}{labels[1]:>12}{'B / A':>9}  (rounds)"]
    for row in ROWS:
        ratios = [rb[row] / ra[row] for ra, rb in zip(a, b, strict=True)]
        lines.append(f"{row:<34}{statistics.median(r[row] for r in a):>12.4f}"
                     f"{statistics.median(r[row] for r in b):>12.4f}"
                     f"{statistics.median(ratios):>9.3f}  ({len(ratios)})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="tree A's src folder")
    parser.add_argument("--after", default=SRC, help="tree B's src folder (default: this one)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (each: A and B)")
    parser.add_argument("--fits", type=int, default=30, help="timed warm fits on diabetes")
    parser.add_argument("--quick", action="store_true", help="one round, 20 000 x 50, 6 fits")
    args = parser.parse_args()
    rounds, rows, fits = (1, 20_000, 6) if args.quick else (args.rounds, 200_000, args.fits)
    labels = ("A", "B")
    trees = dict(zip(labels, (os.path.abspath(args.before), os.path.abspath(args.after)),
                     strict=True))
    print(f"A = {trees['A']}\nB = {trees['B']}\n{rounds} round(s), taking turns")
    results: dict[str, list[dict]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory(prefix="ab-warm-") as warm:
        for i in range(rounds):
            for label in labels if i % 2 == 0 else labels[::-1]:
                cache = os.path.join(warm, label)
                os.makedirs(cache, exist_ok=True)
                results[label].append(one_round(trees[label], cache, rows, fits))
            print(f"  round {i + 1}: " + ", ".join(
                f"{label} {results[label][-1][ROWS[0]] * 1e3:.2f} ms" for label in labels),
                flush=True)
    print(table(results, labels))


if __name__ == "__main__":
    main()
