"""A/B of the front doors' straight path (issue 23): this checkout against another copy.

Two figures per call, each in fresh processes that take turns (A, B, A, B, ...), medians over
``--repeats`` turns:

* ``cold``: the first call in a fresh process with a new, empty compilation cache folder;
* ``warm``: the median time of one call repeated in a process after its first call (the
  front door's own overhead: validation, choosing the objective, entering the engine).

The calls: ``fit`` with a user's loss (the walk of ``tests/test_walks.py``), the fast path
(``linear_model`` + ``mseloss``), the general path, minibatches, ``fit_objective`` and the
estimator, on the lesson's data (warm calls: 5 steps, so the loop costs little).

    python benchmarks/ab_walk.py                      # base: /work/wt/base/src, 5 turns
    python benchmarks/ab_walk.py --quick              # smoke run (2 turns)
    python benchmarks/ab_walk.py --before OTHER/src   # against another copy
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

SETUP = """
import time, warnings
import numpy as np, jax.numpy as jnp
from dl_workshop import GradientDescentRegressor, fit, fit_objective, linear_model, mseloss
# the old path (dl_workshop._moved): the A copy may predate the folders
from dl_workshop.data import b_true, make_y, w_true, x
ys = make_y(x, w_true, b_true, seed=0)
theta0 = {"w": 0.0, "b": 0.0}
rng = np.random.default_rng(0)
x3 = rng.normal(size=(5000, 3)); y3 = x3 @ np.array([1.0, -2.0, 0.5]) + 1.0
theta3 = {"w": np.zeros(3), "b": 0.0}
def user_loss(theta, model, x, y): return jnp.mean((model(theta, x) - y) ** 2)
def objective(params, t, data):
    import jax
    return jax.value_and_grad(lambda p: mseloss(p, linear_model, *data))(params)
def estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GradientDescentRegressor(max_iter=5).fit(x3, y3).coef_
"""

#: name -> the call, with ``N`` the number of steps.
CALLS = {
    "user loss": "fit(theta3, linear_model, user_loss, x3, y3, N, 0.1, progress=False).losses",
    "fast path": "fit(theta0, linear_model, mseloss, x, ys, N, 0.001, progress=False).losses",
    "general": "fit(theta0, linear_model, mseloss, x, ys, N, 0.001, fast_path=False, "
               "progress=False).losses",
    "minibatch": "fit(theta3, linear_model, mseloss, x3, y3, N, 0.01, batch_size=64, "
                 "progress=False).losses",
    "fit_objective": "fit_objective(objective, theta0, (x, ys), N, 0.001, progress=False).losses",
    "estimator": "estimator()",
}


def _program(call: str, warm: bool, n_warm: int) -> str:
    timed = call.replace("N", "5" if warm else "3000")
    lines = [SETUP, f"r = {timed}"]
    if warm:
        lines += [
            "times = []",
            f"for _ in range({n_warm}):",
            "    t = time.perf_counter()",
            f"    r = {timed}",
            "    times.append(time.perf_counter() - t)",
            "times.sort(); print(times[len(times) // 2])",
        ]
    else:
        lines = [SETUP, "t = time.perf_counter()", f"r = {timed}",
                 "print(time.perf_counter() - t)"]
    return "\n".join(lines)


def _run(src: str, program: str) -> float:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPATH=src, DL_WORKSHOP_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                             text=True, check=False)
    try:
        return float(out.stdout.split()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(out.stderr[-3000:]) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="/work/wt/base/src", help="the A copy's src")
    parser.add_argument("--after", default=SRC, help="the B copy's src (default: this one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 turns, fewer warm calls")
    parser.add_argument("--only", default="", help="comma-separated call names")
    args = parser.parse_args()
    repeats, n_warm = (2, 50) if args.quick else (args.repeats, 200)
    names = [n for n in CALLS if not args.only or n in args.only.split(",")]
    trees = {"before": args.before, "after": args.after}
    print(f"A/B of the front doors: before={args.before} after={args.after}; medians of "
          f"{repeats} alternating fresh processes (warm: median of {n_warm} calls each)")
    print(f"{'call':<14}{'figure':<6}{'before':>11}{'after':>11}{'after/before':>14}")
    for name in names:
        for warm in (False, True):
            times: dict[str, list[float]] = {"before": [], "after": []}
            program = _program(CALLS[name], warm, n_warm)
            for turn in range(repeats):
                for tree in ("before", "after") if turn % 2 == 0 else ("after", "before"):
                    times[tree].append(_run(trees[tree], program))
            b, a = (statistics.median(times[t]) for t in ("before", "after"))
            unit, scale = ("ms", 1e3) if warm else ("s", 1.0)
            print(f"{name:<14}{'warm' if warm else 'cold':<6}{b * scale:>9.3f}{unit:<2}"
                  f"{a * scale:>9.3f}{unit:<2}{a / b:>14.3f}", flush=True)


if __name__ == "__main__":
    main()
