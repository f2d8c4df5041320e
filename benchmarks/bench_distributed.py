"""Linear least squares on Dask data: our one-pass statistics vs dask-ml's solvers.

Everything runs on one loopback ``LocalCluster`` (2 worker processes, 1 thread each) on the same
data, generated and held (persisted) on the workers: ``n x d`` float64 rows in ``--blocks``
blocks, well-conditioned (independent standard normal columns) and ill-conditioned (mixed
columns with singular values from 1 to 1e-3 and offsets of 10; the condition number of the design
``[x, 1]`` is printed, 5.7e5 for the default size). For each method the table gives:

* passes: how many times each block of ``x`` was read (a ``map_blocks`` counter on every block);
* first / warm: wall time of the first call (workers import the code; ours also compiles its
  loop) and the best of ``--repeat`` later calls;
* coef error: ``|[w, b] - [w*, b*]| / |[w*, b*]|`` against Dask's QR least squares of the
  centred data (``dask.array.linalg.lstsq``, checked against ``numpy.linalg.lstsq`` in
  ``--quick``).

Ours is ``fit(theta, linear_model, mseloss, x, y, ...)`` (gradient descent with step 1/L on the
statistics, ``--steps`` steps), the exact solution of the same one-pass statistics
(``dask_statistics(x, y).w_star``, solved from the combined R factor) and
``GradientDescentRegressor().fit(x, y)`` on the Dask arrays (one pass, then L-BFGS on rows with
the data's moments). dask-ml's rows (``pip install dask-ml``, in the ``bench`` extra) use
``LinearRegression(solver=..., C=1e12)`` (C: its l2 penalty made negligible); without dask-ml
they are skipped with a note.

After the table, the client's memory: the growth of this process's resident set (RSS, sampled
every 10 ms; ``psutil``) during two ``GradientDescentRegressor.fit`` calls and, with dask-ml, two
``LinearRegression(solver="newton").fit`` calls on fresh data, next to the size of the data
(which stays on the workers).

    python benchmarks/bench_distributed.py            # 1 000 000 x 20 in 8 blocks
    python benchmarks/bench_distributed.py --quick    # smoke run: 20 000 x 5 in 4 blocks
    python benchmarks/bench_distributed.py --data ill --solvers newton lbfgs admm --repeat 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

SOLVERS = ("newton", "lbfgs", "admm", "gradient_descent", "proximal_grad")
QUICK_SOLVERS = ("newton",)


def _count(block, folder=None, block_id=None):
    """Leave one file per block read (from any worker), and return the block."""
    if block.size:
        Path(folder, f"{block_id[0]}-{uuid.uuid4().hex}").touch()
    return block


def _mix(block, mixing=None, offset=None):
    return block @ mixing + offset


def make_data(rng_seed, n, d, blocks, ill):
    """``(x, y, w_true)`` persisted on the workers."""
    import dask.array as da

    rng = da.random.default_rng(rng_seed)
    chunks = (-(-n // blocks), d)
    x = rng.standard_normal((n, d), chunks=chunks)
    if ill:
        local = np.random.default_rng(rng_seed)
        q, _ = np.linalg.qr(local.normal(size=(d, d)))
        mixing = np.diag(np.logspace(0, -3, d)) @ q
        x = x.map_blocks(_mix, mixing=mixing, offset=np.full(d, 10.0), dtype=float)
    from distributed import wait

    x = x.persist()
    wait(x)
    w_true = np.linspace(-1.0, 1.0, d)
    noise = rng.standard_normal(n, chunks=chunks[0])
    y = (x @ w_true + 0.5 + 0.1 * noise).persist()
    wait(y)
    return x, y, w_true


def counted(x, folder):
    return x.map_blocks(_count, folder=str(folder), dtype=x.dtype, meta=np.empty((0, x.shape[1])))


def passes(folder, n_blocks):
    names = [p.name.split("-")[0] for p in Path(folder).iterdir()]
    shutil.rmtree(folder)
    os.makedirs(folder)
    return len(names) / n_blocks


def reference(x, y):
    """Least squares ``[w*, b*]`` by Dask's tall-skinny QR of the centred problem.

    Centring first takes the offsets' share out of the condition number (the intercept
    decouples), so the reference is accurate to about eps times the condition number of the
    centred ``x``, below the error of any method that forms normal equations.
    """
    import dask.array as da

    mean_x, mean_y = da.compute(x.mean(axis=0), y.mean())
    w = da.linalg.lstsq((x - mean_x).rechunk({1: -1}), y - mean_y)[0].compute()
    return np.append(w, mean_y - mean_x @ w)


def error(w, b, ref):
    got = np.append(np.ravel(w), np.ravel(b)[:1])
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def timed_calls(fn, repeat):
    """(first-call time, best later time, last output)."""
    start = time.perf_counter()
    out = fn()
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return first, best, out


def ours(x, y, steps, repeat, folder, n_blocks, ref):
    """Rows for our two methods: fit (GD on the statistics) and the statistics' exact solve."""
    from dl_workshop import fit, linear_model, mseloss
    from dl_workshop.objectives.dask_stats import dask_statistics

    d = x.shape[1]
    xc = counted(x, folder)
    first, warm, stats = timed_calls(lambda: dask_statistics(xc, y, dtype="float64"), repeat)
    n_passes = passes(folder, n_blocks) / (repeat + 1)
    w_star = stats.w_star[:, 0]
    b_star = stats.mean_y[0] - stats.mean_x @ w_star
    rows = [("ours: one-pass statistics, exact solve", n_passes, first, warm, (w_star, b_star))]
    print_row(rows[-1], ref)
    # Step 1/L of the quadratic: L = 2 * largest eigenvalue of [[S + m mᵀ, m], [mᵀ, 1]], the
    # Gram matrix of the design [x, 1] over n (whose condition number is its square root's).
    m = stats.mean_x
    hessian = np.block([[stats.cov + np.outer(m, m), m[:, None]], [m[None, :], np.ones((1, 1))]])
    eigenvalues = np.linalg.eigvalsh(hessian)
    condition = np.sqrt(eigenvalues[-1] / eigenvalues[0])
    print(f"(condition number of the design [x, 1]: {condition:.1e})")
    step = 1.0 / (2.0 * eigenvalues[-1])
    theta = {"w": np.zeros(d), "b": 0.0}

    def run_fit():
        return fit(theta, linear_model, mseloss, xc, y, steps, step, dtype="float64",
                   progress=False)

    first, warm, result = timed_calls(run_fit, repeat)
    n_passes = passes(folder, n_blocks) / (repeat + 1)
    rows.append((f"ours: fit, GD {steps} steps (1/L)", n_passes, first, warm,
                 (result.theta["w"], result.theta["b"])))
    print_row(rows[-1], ref)
    for name, options in ESTIMATOR_ROWS:
        first, warm, model = timed_calls(lambda options=options: estimator_fit(xc, y, **options),
                                         repeat)
        n_passes = passes(folder, n_blocks) / (repeat + 1)
        rows.append((name, n_passes, first, warm, (model.coef_, model.intercept_)))
        print_row(rows[-1], ref)
    return rows


#: The estimator's rows: its defaults stop by the loss test (relative decrease below tol=1e-12
#: for 5 iterations), which on the ill-conditioned data stops L-BFGS where the loss is 6e-11
#: (relative) above its minimum, in memory as on Dask; 3000 iterations reach least squares.
ESTIMATOR_ROWS = (
    ("ours: GradientDescentRegressor.fit", {}),
    ("ours: GDRegressor(tol=None, max_iter=3000)", {"tol": None, "max_iter": 3000}),
)


def estimator_fit(x, y, **options):
    from dl_workshop.estimator import GradientDescentRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=None: no convergence test, no warning to give
        return GradientDescentRegressor(**options).fit(x, y)


def dask_ml_newton(x, y):
    from dask_ml.linear_model import LinearRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LinearRegression(solver="newton", C=1e12, fit_intercept=True).fit(x, y)


def rss_growth(fn):
    """``(peak growth, growth at the end)`` of this process's RSS in MB while ``fn()`` runs."""
    import threading

    import psutil

    process = psutil.Process()
    start = peak = process.memory_info().rss
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join(timeout=5)
    end = process.memory_info().rss
    return (max(peak, end) - start) / 2**20, (end - start) / 2**20


def client_memory(x, y):
    """Print the client's RSS growth for our estimator's fit and dask-ml newton's."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        print("client memory skipped: psutil is not installed")
        return
    size = (x.nbytes + y.nbytes) / 2**20
    methods = [("GradientDescentRegressor.fit", estimator_fit)]
    try:
        import dask_ml  # noqa: F401

        methods.append(("dask-ml newton", dask_ml_newton))
    except ImportError:
        pass
    for name, fn in methods:
        # The first call in this process also imports (and ours compiles): that grows the
        # process once; the second is what each further fit costs.
        for call in ("first", "second"):
            peak, end = rss_growth(lambda fn=fn: fn(x, y))
            print(f"client RSS growth, {name}, {call} call: peak +{peak:.0f} MB, +{end:.0f} MB "
                  f"after, for {size:.0f} MB of data", flush=True)


def dask_ml_rows(x, y, solvers, repeat, folder, n_blocks, ref):
    try:
        from dask_ml.linear_model import LinearRegression
    except ImportError:
        return None
    rows = []
    xc = counted(x, folder)
    for solver in solvers:

        def run(solver=solver):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LinearRegression(solver=solver, C=1e12, fit_intercept=True)
                return model.fit(xc, y)

        first, warm, model = timed_calls(run, repeat)
        n_passes = passes(folder, n_blocks) / (repeat + 1)
        rows.append((f"dask-ml {solver}", n_passes, first, warm,
                     (model.coef_, model.intercept_)))
        print_row(rows[-1], ref)
    return rows


HEADER = f"{'method':<42}{'passes':>8}{'first s':>10}{'warm s':>10}{'coef error':>12}"


def print_row(row, ref):
    name, n_passes, first, warm, (w, b) = row
    print(f"{name:<42}{n_passes:>8.1f}{first:>10.3f}{warm:>10.3f}{error(w, b, ref):>12.2e}",
          flush=True)


def ratios(rows):
    """Time ratios dask-ml / ours (our fit, warm and first call) and the passes."""
    ours_fit = rows[1]
    others = [r for r in rows if r[0].startswith("dask-ml")]
    if not others:
        return
    fastest = min(others, key=lambda r: r[3])
    ratio = fastest[3] / ours_fit[3]
    print(f"ratio, fastest dask-ml ({fastest[0]}) / ours fit (warm): {ratio:.1f}x")
    # Each family's first call pays the workers' imports (ours: JAX; dask-ml: dask-glm, numba).
    print(f"first calls: ours {rows[0][2]:.2f} s + fit {ours_fit[2]:.2f} s, "
          f"{others[0][0]} {others[0][2]:.2f} s")
    for other in others:
        print(f"ratio, {other[0]} / ours fit (warm): {other[3] / ours_fit[3]:.1f}x; passes "
              f"{other[1]:.0f} vs {ours_fit[1]:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on small data")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--data", nargs="+", choices=("well", "ill"), default=["well", "ill"])
    args = parser.parse_args()
    solvers = args.solvers
    if args.quick:
        args.rows, args.d, args.blocks, args.repeat, solvers = 20_000, 5, 4, 1, QUICK_SOLVERS
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from distributed import Client, LocalCluster

    folder = tempfile.mkdtemp(prefix="dlw-dask-")
    cluster = LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, env={"JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1"},
    )
    try:
        with Client(cluster):
            print(f"LocalCluster: 2 workers x 1 thread on 127.0.0.1; {args.rows} x {args.d} "
                  f"float64 in {args.blocks} blocks")
            for ill in [c == "ill" for c in args.data]:
                # Different seeds: no Dask key is shared between the two data sets.
                x, y, _ = make_data(int(ill), args.rows, args.d, args.blocks, ill)
                ref = reference(x, y)
                print(f"\n{'ill-conditioned' if ill else 'well-conditioned'}")
                if args.quick:
                    design = np.column_stack([np.asarray(x), np.ones(args.rows)])
                    exact = np.linalg.lstsq(design, np.asarray(y), rcond=None)[0]
                    print(f"(dask lstsq vs numpy lstsq: {error(exact[:-1], exact[-1:], ref):.1e})")
                client_memory(x, y)  # first: the first data set's first call is the first
                print(HEADER)
                rows = ours(x, y, args.steps, args.repeat, folder, args.blocks, ref)
                others = dask_ml_rows(x, y, solvers, args.repeat, folder, args.blocks, ref)
                if others is None:
                    print("dask-ml rows skipped: dask-ml is not installed (pip install dask-ml)")
                ratios(rows + (others or []))
    finally:
        cluster.close(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
