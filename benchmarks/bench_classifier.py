"""Logistic regression: GradientDescentClassifier vs scikit-learn, in memory and on Dask.

In memory (scikit-learn's breast cancer data, 200 000 x 50 with two classes, 100 000 x 50 with
10 classes): every method minimizes the same penalized loss, ``(Σ ℓ_i + alpha/2 ||coef||²) / n``
with ``alpha = 1`` (``LogisticRegression(C=1)``; ``SGDClassifier(alpha=1/n)``, whose penalty is
per sample); the reference ``J*`` is the lowest loss any method reached, and a method "reaches
the optimum" when ``(J - J*) / J* <= 1e-8``. Times are the best of ``--repeat`` warm runs; ratio
is method time / GradientDescentClassifier time. A second table gives each method's first fit
in a fresh process (``cold``: nothing compiled; ``2nd process``: with the first one's
persistent compilation cache) beside its warm time.

On Dask (1 000 000 x 20 in 8 partitions on a loopback LocalCluster, 2 worker processes of one
thread): GradientDescentClassifier (a survey pass that also gives the loss, gradient and Hessian
at the class priors, then damped Newton passes, the first of them also trying linear
discriminant analysis's point) against dask-ml's
``LogisticRegression`` solvers (``C=1e12``: dask-glm penalizes the intercept too, so both sides
run unpenalized; ours ``alpha=0``), with the passes over the data counted on every partition,
the time, and the loss gap to the best.

    python benchmarks/bench_classifier.py            # the sizes above
    python benchmarks/bench_classifier.py --quick    # smoke run: small sizes, one repeat
    python benchmarks/bench_classifier.py --dask-only --solvers newton,lbfgs   # the Dask table
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from scipy.special import log_softmax
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, SGDClassifier

from dl_workshop import GradientDescentClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import first_calls  # noqa: E402
from bench_estimator import timed  # noqa: E402

GAP = 1e-8
SOLVERS = ("newton", "lbfgs", "admm", "gradient_descent", "proximal_grad")

SETUP = """
import sys, warnings
sys.path.insert(0, {bench!r})
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from bench_classifier import synthetic
from dl_workshop import GradientDescentClassifier
x, y = {data}
warnings.simplefilter("ignore")
"""

FIRST_FITS = {
    "GradientDescentClassifier": "GradientDescentClassifier().fit(x, y)",
    "LogisticRegression(lbfgs, defaults)": "LogisticRegression().fit(x, y)",
}


def synthetic(n: int, d: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features on different scales; labels drawn from a softmax of a dense model."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    x = (rng.normal(size=(n, d)) @ mixing) * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d)
    w = rng.normal(size=(d, n_classes)) / (np.sqrt(d) * x.std(0)[:, None])
    logits = (x - x.mean(0)) @ w * 2.0
    p = np.exp(log_softmax(logits, axis=1))
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return x, np.minimum(y, n_classes - 1)


def penalized_loss(coef, intercept, x, y, classes, alpha) -> float:
    """``(Σ ℓ_i + alpha/2 ||coef||²) / n`` of coefficients ``(k, d)`` and intercepts ``(k,)``."""
    z = x @ np.asarray(coef).reshape(-1, x.shape[1]).T + np.ravel(intercept)
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(z)), z])
    codes = np.searchsorted(classes, y)
    losses = -log_softmax(z, axis=1)[np.arange(len(y)), codes]
    return float((losses.sum() + alpha / 2 * np.sum(np.asarray(coef) ** 2)) / len(y))


def run(name: str, x: np.ndarray, y: np.ndarray, repeat: int, sgd_epochs: int,
        lbfgs_iter: int = 10_000) -> dict:
    """The warm table of one problem; returns the warm times by method."""
    start = time.perf_counter()
    GradientDescentClassifier().fit(x, y)
    first = time.perf_counter() - start
    methods = {
        "GradientDescentClassifier": GradientDescentClassifier,
        "LogisticRegression(lbfgs)": lambda: LogisticRegression(max_iter=lbfgs_iter, tol=1e-10),
        "LogisticRegression(lbfgs, defaults)": LogisticRegression,
        f"SGDClassifier ({sgd_epochs} epochs)": lambda: SGDClassifier(
            loss="log_loss", alpha=1.0 / len(y), max_iter=sgd_epochs, tol=None, random_state=0),
    }
    results = {label: timed(make, x, y, repeat) for label, make in methods.items()}
    classes = np.unique(y)
    losses = {label: penalized_loss(m.coef_, m.intercept_, x, y, classes, 1.0)
              for label, (_, m) in results.items()}
    best = min(losses.values())
    print(f"\n{name}: {x.shape[0]} x {x.shape[1]}, {len(classes)} classes, J* {best:.12g}")
    print(f"  GradientDescentClassifier first fit (includes compilation): {first:.3f} s")
    print(f"  {'method':<40}{'time (s)':>10}{'ratio':>9}{'loss gap':>11}  reached 1e-8")
    ours = results["GradientDescentClassifier"][0]
    for label, (seconds, model) in results.items():
        gap = (losses[label] - best) / best
        iterations = np.max(getattr(model, "n_iter_", 0))
        reached = "yes" if gap <= GAP else "no"
        print(f"  {label:<40}{seconds:>10.4f}{seconds / ours:>9.2f}{gap:>11.1e}  {reached}"
              f"  ({iterations} iterations)")
    return {label: seconds for label, (seconds, _) in results.items()}


def first_fits(data: str, repeats: int, warm: dict) -> None:
    """Each method's first fit in fresh processes beside its warm time."""
    setup = SETUP.format(bench=os.path.dirname(os.path.abspath(__file__)), data=data)
    print(f"  {'first fit (s), fresh process':<40}{'cold':>10}{'2nd process':>13}{'warm':>10}")
    for label, call in FIRST_FITS.items():
        calls = first_calls(setup, call, repeats)
        print(f"  {label:<40}{calls.cold:>10.4f}{calls.second:>13.4f}{warm[label]:>10.4f}")


def _count(block, folder=None, block_id=None):
    """Leave one file per partition read (from any worker), and return the block."""
    if block.size:
        Path(folder, f"{block_id[0]}-{uuid.uuid4().hex}").touch()
    return block


def _passes(folder: str, n_blocks: int) -> float:
    names = list(Path(folder).iterdir())
    shutil.rmtree(folder)
    os.makedirs(folder)
    return len(names) / n_blocks


def dask_table(n: int, d: int, blocks: int, solvers: tuple, repeat: int) -> None:
    """Ours and dask-ml's solvers on one LocalCluster: passes, time, loss gap."""
    import dask.array as da
    import distributed

    x, y = synthetic(n, d, 2, seed=1)
    x = (x - x.mean(0)) / x.std(0)  # dask-glm runs on the data as given: a fair start for it
    folder = tempfile.mkdtemp(prefix="bench-classifier-")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    rows = []
    try:
        with distributed.Client(cluster):
            dx = da.from_array(x, chunks=(-(-n // blocks), d)).persist()
            dy = da.from_array(y, chunks=(-(-n // blocks),)).persist()
            counted = dx.map_blocks(_count, folder=folder, dtype=dx.dtype,
                                    meta=np.empty((0, d)))
            methods = [("ours: GradientDescentClassifier",
                        lambda: GradientDescentClassifier(alpha=0.0))]
            try:
                from dask_ml.linear_model import LogisticRegression as DaskLogistic

                methods += [(f"dask-ml {s}", lambda s=s: DaskLogistic(solver=s, C=1e12))
                            for s in solvers]
            except ImportError:
                print("(dask-ml is not installed: pip install dask-ml; its rows are skipped)")
            for label, make in methods:
                start = time.perf_counter()
                first_model = make().fit(counted, dy)
                first = time.perf_counter() - start
                n_passes = _passes(folder, blocks)
                warm, model = timed(make, counted, dy, repeat)
                _passes(folder, blocks)
                rows.append((label, n_passes, first, warm, model or first_model))
    finally:
        cluster.close(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)
    _print_dask_rows(rows, x, y, blocks)


def _print_dask_rows(rows, x, y, blocks: int) -> None:
    losses = [penalized_loss(np.ravel(m.coef_), np.ravel(m.intercept_)[:1], x, y,
                             np.array([0, 1]), 0.0) for *_, m in rows]
    best = min(losses)
    print(f"\nDask: {x.shape[0]} x {x.shape[1]} in {blocks} partitions, J* {best:.12g}")
    print(f"  {'method':<36}{'passes':>8}{'first s':>10}{'warm s':>10}{'ratio':>8}{'gap':>11}")
    ours = rows[0][3]
    for (label, n_passes, first, warm, _), loss in zip(rows, losses, strict=True):
        print(f"  {label:<36}{n_passes:>8.1f}{first:>10.3f}{warm:>10.3f}{warm / ours:>8.2f}"
              f"{(loss - best) / best:>11.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per method (best kept)")
    parser.add_argument("--first-repeats", type=int, default=3, help="fresh processes per cell")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask table")
    parser.add_argument("--dask-only", action="store_true", help="only the Dask table")
    parser.add_argument("--solvers", default=None,
                        help="dask-ml solvers, comma-separated (default: all five)")
    args = parser.parse_args()
    if args.dask_only:
        _dask_main(args)
        return
    repeat = 1 if args.quick else args.repeat
    first_repeats = 1 if args.quick else args.first_repeats
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, float64")
    lbfgs_iter = 500 if args.quick else 10_000
    x, y = load_breast_cancer(return_X_y=True)
    warm = run("breast cancer", x, y, repeat, sgd_epochs=100, lbfgs_iter=lbfgs_iter)
    first_fits("load_breast_cancer(return_X_y=True)", first_repeats, warm)
    sizes = ((5_000, 20, 2), (5_000, 20, 4)) if args.quick else ((200_000, 50, 2),
                                                                (100_000, 50, 10))
    for n, d, k in sizes:
        x, y = synthetic(n, d, k)
        warm = run(f"synthetic, {k} classes", x, y, repeat, sgd_epochs=5 if args.quick else 20,
                   lbfgs_iter=lbfgs_iter)
        if not args.quick:
            first_fits(f"synthetic({n}, {d}, {k})", first_repeats, warm)
    if not args.no_dask:
        _dask_main(args)


def _dask_main(args: argparse.Namespace) -> None:
    n, blocks = (20_000, 4) if args.quick else (1_000_000, 8)
    solvers = ("newton", "lbfgs") if args.quick else SOLVERS
    if args.solvers:
        solvers = tuple(args.solvers.split(","))
    dask_table(n, 20, blocks, solvers, 1 if args.quick else args.repeat)


if __name__ == "__main__":
    main()
