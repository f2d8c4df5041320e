"""Wall time of ``dl-workshop demo`` (default settings), start-up included, and where it goes.

Two measurements, each in fresh Python processes (so every one pays start-up, imports and
compilation, as a user does):

* the whole command, ``python -m dl_workshop demo --no-progress --out TMP``, run ``--repeats``
  times;
* the same work split into phases in one instrumented process: Python start-up, ``import
  dl_workshop`` (JAX), the first fit (tracing + XLA compilation + 3 000 steps), a second
  identical fit (the steps alone; compilation = first - second), the least-squares solve,
  importing matplotlib, and drawing + writing each PNG.

Run: ``python benchmarks/bench_demo.py`` (``--repeats 5`` by default; ``--quick``: one run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

PHASES = r"""
import json, sys, time
from pathlib import Path
t = [time.perf_counter()]
import dl_workshop  # noqa: F401  (JAX, optax, NumPy)
t.append(time.perf_counter())
from dl_workshop.cli import demo
x, y, result = demo.fit_lesson(3000, 0.01, 0)
t.append(time.perf_counter())
x, y, result = demo.fit_lesson(3000, 0.01, 0)
t.append(time.perf_counter())
demo.least_squares(x, y)
t.append(time.perf_counter())
import matplotlib.figure  # noqa: F401
t.append(time.perf_counter())
figures = {}
from matplotlib.figure import Figure
from dl_workshop.teaching.diagrams import draw_matrix_form, draw_neural_diagram
from dl_workshop.teaching.plots import plot_fit, plot_loss, plot_loss_landscape
out = Path(sys.argv[1])
draws = {
    "loss.png": lambda ax: plot_loss(result, ax=ax, log_scale=True),
    "fit.png": lambda ax: plot_fit(result.theta, x, y, ax=ax),
    "landscape.png": lambda ax: plot_loss_landscape(x, y, path=result, ax=ax),
    "matrix_form.png": lambda ax: draw_matrix_form(result.theta, n_samples=100, annotate=True,
                                                   ax=ax),
    "neural_diagram.png": lambda ax: draw_neural_diagram(result.theta, ax=ax),
}
for name, draw in draws.items():
    start = time.perf_counter()
    figure = Figure(layout="constrained")
    draw(figure.add_subplot())
    drawn = time.perf_counter()
    figure.savefig(out / name, dpi=120)
    figures[name] = (drawn - start, time.perf_counter() - drawn)
t.append(time.perf_counter())
names = ["import dl_workshop (JAX, optax)", "fit, first call (compile + run)",
         "fit, second call (run only)", "least squares", "import matplotlib"]
print(json.dumps({"phases": dict(zip(names, [b - a for a, b in zip(t, t[1:])])),
                  "figures": figures, "figures_total": t[-1] - t[-2]}))
"""


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run: one run of each")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1

    startup, demo, runs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # Interleaved, so that load from other processes affects every measurement alike.
        for _ in range(args.repeats):
            startup.append(wall([sys.executable, "-c", "pass"]))
            demo.append(
                wall([sys.executable, "-m", "dl_workshop", "demo", "--no-progress", "--out", tmp])
            )
            output = subprocess.run(
                [sys.executable, "-c", PHASES, tmp], check=True, capture_output=True, text=True
            ).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))

    median_demo = statistics.median(demo)
    print(f"`dl-workshop demo` (default settings), {args.repeats} fresh processes each")
    print(
        f"whole command: median {median_demo:.2f} s wall "
        f"(min {min(demo):.2f}, max {max(demo):.2f}); budget 10 s"
    )
    print()
    print(f"{'phase (median of ' + str(args.repeats) + ' processes)':<52}{'s':>8}{'share':>9}")
    rows = [("Python start-up", statistics.median(startup))]
    for name in runs[0]["phases"]:
        rows.append((name, statistics.median(r["phases"][name] for r in runs)))
    second = dict(rows)["fit, second call (run only)"]
    first = dict(rows)["fit, first call (compile + run)"]
    figures_total = statistics.median(r["figures_total"] for r in runs)
    rows.append(("figures: draw + write 5 PNGs", figures_total))
    for name, seconds in rows:
        if name == "fit, second call (run only)":
            continue  # not part of the command; shown below as the split of the first call
        print(f"{name:<52}{seconds:>8.3f}{seconds / median_demo:>8.0%}")
    print(f"{'  of the first fit: compilation (first - second)':<52}{first - second:>8.3f}")
    print(f"{'  of the first fit: the 3 000 steps':<52}{second:>8.3f}")
    for name in runs[0]["figures"]:
        draw = statistics.median(r["figures"][name][0] for r in runs)
        save = statistics.median(r["figures"][name][1] for r in runs)
        print(f"{'  ' + name + ': draw / write':<52}{draw:>8.3f}{save:>8.3f}")
    accounted = sum(s for n, s in rows if n != "fit, second call (run only)")
    print(f"{'sum of phases (rest: argparse, printing)':<52}{accounted:>8.3f}")


if __name__ == "__main__":
    main()
