"""Time to reach the least-squares solution: GradientDescentRegressor vs scikit-learn.

For each problem the reference loss ``L*`` is the mean squared error of ``numpy.linalg.lstsq``;
a method "reaches the solution" when its training MSE ``L`` has ``(L - L*) / L* <= 1e-8``.
Every method runs in this one process on the same data; times are the best of ``--repeat``
runs (warm: GradientDescentRegressor's first, compiling, run is reported separately). Ratios are
method time / GradientDescentRegressor time.

A second table shows what users meet first: each method's first ``fit`` in a fresh process
(``cold``: nothing compiled; ``2nd process``: a new process with the first one's persistent
compilation cache), imports and data made before the clock starts, beside its warm time.

    python benchmarks/bench_estimator.py            # diabetes and 200 000 x 50
    python benchmarks/bench_estimator.py --quick    # smoke run (small synthetic problem)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dl_workshop.estimator import GradientDescentRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_chart_option, first_calls, write_chart  # noqa: E402

GAP = 1e-8

SETUP = """
import sys, warnings
sys.path.insert(0, {bench!r})
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge
from bench_estimator import synthetic
from dl_workshop.estimator import GradientDescentRegressor
x, y = {data}
warnings.simplefilter("ignore")
"""

FIRST_FITS = {
    "GradientDescentRegressor": "GradientDescentRegressor().fit(x, y)",
    "LinearRegression": "LinearRegression().fit(x, y)",
    "Ridge(alpha=1e-10)": "Ridge(alpha=1e-10).fit(x, y)",
}


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features on different scales, a dense true model and Gaussian noise."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    x = (rng.normal(size=(n, d)) @ mixing) * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d)
    y = x @ rng.normal(size=d) + 3.0 + rng.normal(size=n)
    return x, y


def mse(model, x, y) -> float:
    return float(np.mean((y - model.predict(x)) ** 2))


def timed(make, x, y, repeat: int) -> tuple[float, object]:
    best, model = np.inf, None
    for _ in range(repeat):
        model = make()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        best = min(best, time.perf_counter() - start)
    return best, model


def first_fits(data: str, repeats: int, warm: dict) -> None:
    """Print each method's first fit in fresh processes beside its warm time."""
    setup = SETUP.format(bench=os.path.dirname(os.path.abspath(__file__)), data=data)
    print(f"  {'first fit (s), fresh process':<40}{'cold':>10}{'2nd process':>13}{'warm':>10}")
    for label, call in FIRST_FITS.items():
        calls = first_calls(setup, call, repeats)
        print(f"  {label:<40}{calls.cold:>10.4f}{calls.second:>13.4f}{warm[label]:>10.4f}")


def run(name: str, x: np.ndarray, y: np.ndarray, repeat: int, sgd_epochs: int) -> dict:
    design = np.column_stack([x, np.ones(len(x))])
    best_loss = float(np.mean((y - design @ np.linalg.lstsq(design, y, rcond=None)[0]) ** 2))
    start = time.perf_counter()
    GradientDescentRegressor().fit(x, y)
    first = time.perf_counter() - start
    methods = {
        "GradientDescentRegressor (lbfgs)": GradientDescentRegressor,
        "LinearRegression": LinearRegression,
        "Ridge(alpha=1e-10)": lambda: Ridge(alpha=1e-10),
        f"SGDRegressor ({sgd_epochs} epochs, scaled)": lambda: make_pipeline(
            StandardScaler(),
            SGDRegressor(
                alpha=0.0, tol=None, max_iter=sgd_epochs, learning_rate="invscaling", random_state=0
            ),
        ),
    }
    print(f"\n{name}: {x.shape[0]} x {x.shape[1]}, least-squares MSE {best_loss:.6g}")
    print(f"  GradientDescentRegressor first fit (includes compilation): {first:.3f} s")
    print(f"  {'method':<40}{'time (s)':>10}{'ratio':>9}{'loss gap':>11}  reached 1e-8")
    ours = None
    warm = {}
    for label, make in methods.items():
        seconds, model = timed(make, x, y, repeat)
        warm[label.split(" (")[0]] = seconds
        ours = ours or seconds
        gap = (mse(model, x, y) - best_loss) / best_loss
        iterations = getattr(model, "n_iter_", None)
        note = f"  ({iterations} iterations)" if iterations else ""
        reached = "yes" if gap <= GAP else "no"
        print(f"  {label:<40}{seconds:>10.4f}{seconds / ours:>9.2f}{gap:>11.1e}  {reached}{note}")
    return warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (best kept)")
    parser.add_argument("--first-repeats", type=int, default=3, help="fresh processes per cell")
    add_chart_option(parser, "docs/images/bench_estimator.png")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, float64")
    first_repeats = 1 if args.quick else args.first_repeats
    x, y = load_diabetes(return_X_y=True)
    warm = run("diabetes", x, y, repeat, sgd_epochs=1000)
    chart = {f"diabetes {x.shape[0]} x {x.shape[1]}": warm}
    first_fits("load_diabetes(return_X_y=True)", first_repeats, warm)
    n = 20_000 if args.quick else 200_000
    x, y = synthetic(n, 50)
    warm = run("synthetic", x, y, repeat, sgd_epochs=5 if args.quick else 20)
    chart[f"synthetic {n:,} x 50".replace(",", " ")] = warm
    if not args.quick:  # a smoke run times fresh processes on diabetes only
        first_fits(f"synthetic({n}, 50)", first_repeats, warm)
    if args.chart:
        note = f"warm fits, best of {repeat}" + (" (quick run)" if args.quick else "")
        path = write_chart(args.chart, "Time to fit (SGDRegressor does not reach least squares)",
                           chart, note=note)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
