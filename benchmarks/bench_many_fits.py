"""Many fits of varying size, as in a long notebook or a cross-validation loop.

Each row runs ``--fits`` fits (``--user-fits`` for the median loss) in this process, the
number of rows of each drawn from ``[--min-rows, --max-rows]``, and reports the time per fit,
the compilations it caused (and how many of them the persistent compilation cache answered) and
how much the process's resident memory grew (after one warm-up fit per row; the compilation
cache is a new, empty folder unless ``DL_WORKSHOP_CACHE_DIR`` is set):

* ``fit`` on the fast path (``linear_model`` + ``mseloss``);
* ``fit(..., fast_path=False)``: the general path, rows padded to shared buckets;
* ``fit(..., batch_size=16)``: minibatches, rows padded likewise;
* ``fit`` with a user-written mean squared error: padded like ``mseloss`` once its traced
  program shows it is a mean over rows (``dl_workshop.engine.jaxpr.rowmean``);
* ``fit`` with a user-written median of squared errors (``--user-fits`` fits): not a mean over
  rows, never padded, so every new number of rows compiles; memory stays bounded all the same;
* ``GradientDescentRegressor`` on random subsets of the diabetes data, and on ``--large-fits``
  problems of 5 000-50 000 rows (fitted on rows with their moments: one compiled program);
* references: a NumPy hand loop, scikit-learn's ``Ridge`` and ``LinearRegression`` on the same
  data.

Then ``GridSearchCV`` over 6 values of ``alpha`` x 3 folds of the diabetes data, with
``GradientDescentRegressor`` and with ``Ridge``: the first call (``n_jobs=2`` starts worker
processes, which import the libraries; ours also compile or load their loop) and a second call.

    python benchmarks/bench_many_fits.py           # 1 000 fits per row
    python benchmarks/bench_many_fits.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import device_name, rss_mb  # noqa: E402

from dl_workshop import fit, linear_model, mseloss  # noqa: E402

STEPS = 100
STEP_SIZE = 0.05
ALPHAS = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0]

_EVENTS: collections.Counter = collections.Counter()


def _count(name: str, *args, **kwargs) -> None:
    _EVENTS[name.rsplit("/", 1)[-1]] += 1


jax.monitoring.register_event_duration_secs_listener(_count)
jax.monitoring.register_event_listener(_count)


def user_loss(theta, model, x, y):
    """A mean squared error as a user writes it (not ``mseloss``)."""
    return jnp.mean((model(theta, x) - y) ** 2)


def median_loss(theta, model, x, y):
    """A loss that is not a mean over rows: the median squared error."""
    return jnp.median((model(theta, x) - y) ** 2)


def numpy_loop(x, y, n_steps):
    n, d = x.shape
    w, b = np.zeros(d), 0.0
    for _ in range(n_steps):
        r = x @ w + b - y
        w -= STEP_SIZE * 2 / n * (r @ x)
        b -= STEP_SIZE * 2 * r.mean()
    return w


def _problems(count: int, low: int, high: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    for n in rng.integers(low, high + 1, size=count):
        x = rng.standard_normal((n, d)).astype(np.float32)
        yield x, (x @ w + 0.5 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _row(name: str, one_fit, problems) -> None:
    problems = list(problems)
    one_fit(*problems[0])  # warm-up: the first bucket's compilation is not the point here
    _EVENTS.clear()
    before, start = rss_mb(), time.perf_counter()
    for x, y in problems:
        one_fit(x, y)
    seconds = (time.perf_counter() - start) / len(problems)
    compiles, hits = _EVENTS["backend_compile_duration"], _EVENTS["cache_hits"]
    print(
        f"{name:<46}{len(problems):>6}{len({len(x) for x, _ in problems}):>8}"
        f"{seconds * 1e3:>12.2f}{compiles:>10}{hits:>7}{rss_mb() - before:>12.1f}"
    )


def many_fits(args) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression, Ridge

    from dl_workshop.estimator import GradientDescentRegressor

    d = args.d
    theta = {"w": np.zeros(d, np.float32), "b": np.float32(0.0)}
    span = (args.min_rows, args.max_rows, d)
    print(
        f"{'fits of varying size':<46}{'fits':>6}{'sizes':>8}{'ms / fit':>12}{'compiles':>10}"
        f"{'hits':>7}{'RSS +MB':>12}"
    )

    def fit_with(**options):
        return lambda x, y: fit(theta, linear_model, mseloss, x, y, STEPS, STEP_SIZE,
                                progress=False, **options)

    _row("fit, fast path", fit_with(), _problems(args.fits, *span, seed=1))
    _row("fit, general path (fast_path=False)", fit_with(fast_path=False),
         _problems(args.fits, *span, seed=2))
    _row("fit, minibatch (batch_size=16)", fit_with(batch_size=16),
         _problems(args.fits, *span, seed=3))
    _row(
        "fit, user-written mean loss (padded)",
        lambda x, y: fit(theta, linear_model, user_loss, x, y, STEPS, STEP_SIZE, progress=False),
        _problems(args.fits, *span, seed=4),
    )
    _row(
        "fit, user-written median loss (never padded)",
        lambda x, y: fit(theta, linear_model, median_loss, x, y, STEPS, STEP_SIZE,
                         progress=False),
        _problems(args.user_fits, *span, seed=7),
    )
    _row("NumPy hand loop (reference)", lambda x, y: numpy_loop(x, y, STEPS),
         _problems(args.fits, *span, seed=5))
    xd, yd = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(6)
    subsets = [rng.choice(len(xd), size=rng.integers(100, len(xd) + 1), replace=False)
               for _ in range(args.fits)]
    diabetes = [(xd[rows], yd[rows]) for rows in subsets]
    _row("GradientDescentRegressor, diabetes subsets",
         lambda x, y: GradientDescentRegressor().fit(x, y), diabetes)
    _row("scikit-learn Ridge, diabetes subsets (reference)", lambda x, y: Ridge().fit(x, y),
         diabetes)
    large = list(_large_problems(args.large_fits, seed=8))
    _row("GradientDescentRegressor, 5 000-50 000 x 20", lambda x, y: GradientDescentRegressor()
         .fit(x, y), large)
    _row("scikit-learn LinearRegression, same (reference)",
         lambda x, y: LinearRegression().fit(x, y), large)


def _large_problems(count: int, seed: int):
    """Problems of 5 000-50 000 rows x 20 features in float64: the estimator fits them on rows
    with their moments (``estimator.compressed``), all with one compiled program."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(20)
    for n in rng.integers(5_000, 50_001, size=count):
        x = rng.standard_normal((n, 20)) * rng.uniform(0.1, 10.0, size=20) + 1.0
        yield x, x @ w + 0.5 + rng.standard_normal(n)


def grid_search(n_jobs: int) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from dl_workshop.estimator import GradientDescentRegressor

    x, y = load_diabetes(return_X_y=True)
    print(f"\nGridSearchCV: {len(ALPHAS)} alphas x 3 folds of diabetes, n_jobs={n_jobs}")
    print(f"  {'estimator':<30}{'first call (s)':>16}{'second call (s)':>17}")
    for name, make in (("Ridge", Ridge), ("GradientDescentRegressor", GradientDescentRegressor)):
        times = []
        for _ in range(2):
            start = time.perf_counter()
            GridSearchCV(make(), {"alpha": ALPHAS}, cv=3, n_jobs=n_jobs).fit(x, y)
            times.append(time.perf_counter() - start)
        print(f"  {name:<30}{times[0]:>16.3f}{times[1]:>17.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    parser.add_argument("--fits", type=int, default=1000, help="fits per row")
    parser.add_argument("--user-fits", type=int, default=100, help="fits of the user's loss")
    parser.add_argument("--large-fits", type=int, default=50, help="fits of 5 000-50 000 rows")
    parser.add_argument("--min-rows", type=int, default=50)
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--d", type=int, default=4, help="columns")
    args = parser.parse_args()
    if args.quick:
        args.fits, args.user_fits, args.large_fits = 40, 8, 4
    # A compilation cache of this run's own (its worker processes inherit it), so that the
    # compilations counted are this run's, not answered by earlier runs.
    cache = tempfile.TemporaryDirectory(prefix="bench-many-fits-jax-cache-")
    os.environ.setdefault("DL_WORKSHOP_CACHE_DIR", cache.name)
    print(f"many fits: {STEPS} steps each, rows in [{args.min_rows}, {args.max_rows}] x "
          f"{args.d} float32, device {device_name()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the short fits
        many_fits(args)
        grid_search(1)
        if not args.quick:
            grid_search(2)


if __name__ == "__main__":
    main()
