"""A/B of the loop's performance shortcuts: each figure with and without the shortcut.

Every shortcut stays only where it buys at least 20 % on a figure a user meets. Each cell runs in
a fresh process (with a fresh compilation cache), the two arms alternating (A, B, A, B, ...),
and the table shows medians of ``--repeats`` processes. "Without" turns the shortcut off with
``DL_WORKSHOP_WITHOUT`` (read in ``dl_workshop.engine.shortcuts`` only), except for the custom
JVP that ``linear_model`` no longer has: its "with" arm is a model with that JVP (defined here,
as it was in the package) and its "without" arm ``linear_model``.

Figures:

* many fits: ``--fits`` fits of sizes drawn from [50, 5 000] x 4 float32, 100 steps each, after
  one warm-up fit: ms per fit (general path, a user-written MSE, minibatches of 16);
* second process: a fit's first call (1 000 rows) in a process whose predecessor fitted 993
  rows (other n, the same bucket) or 1 000 rows (same n) with the same compilation cache (ms);
* warm step: ``fit(..., fast_path=False)`` on ``--n`` x 32 float32 on the CPU, ms per step.

    PYTHONPATH=src python benchmarks/ab_mechanisms.py           # the full A/B (minutes)
    PYTHONPATH=src python benchmarks/ab_mechanisms.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

STEPS = 100
STEP_SIZE = 0.05


def user_model(theta, x):
    """A model as a user writes it."""
    return x @ theta["w"] + theta["b"]


def user_loss(theta, model, x, y):
    """A mean squared error as a user writes it (not ``mseloss``)."""
    import jax.numpy as jnp

    return jnp.mean((model(theta, x) - y) ** 2)


def _jvp_model():
    """``x @ w + b`` with the custom JVP ``linear_model`` had: its ``w`` tangent a
    multiply-and-sum, so that the gradient's ``xᵀ r`` is one too."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def matvec(x, w):
        return jnp.matmul(x, w, precision="highest")

    @matvec.defjvp
    def _(primals, tangents):
        x, w = primals
        x_dot, w_dot = tangents
        return matvec(x, w), jnp.sum(x * w_dot, axis=1) + jnp.matmul(x_dot, w)

    return lambda theta, x: matvec(x, theta["w"]) + theta["b"]


def _problems(count, d, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    for n in rng.integers(50, 5001, size=count):
        x = rng.standard_normal((n, d)).astype(np.float32)
        yield x, (x @ w + 0.5 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _fitter(kind):
    from dl_workshop import fit, linear_model, mseloss

    d = 4
    theta = {"w": np.zeros(d, np.float32), "b": np.float32(0.0)}
    options = {
        "mse": (linear_model, mseloss, {"fast_path": False}),
        "loss": (linear_model, user_loss, {}),
        "minibatch": (linear_model, mseloss, {"batch_size": 16}),
    }
    model, loss, extra = options[kind]
    return lambda x, y: fit(theta, model, loss, x, y, STEPS, STEP_SIZE, progress=False, **extra)


def many_fits(kind, fits):
    """ms per fit over ``fits`` fits of varying size, after one warm-up fit."""
    one_fit = _fitter(kind)
    problems = list(_problems(fits + 1, 4, seed=1))
    one_fit(*problems[0])
    start = time.perf_counter()
    for x, y in problems[1:]:
        one_fit(x, y)
    return (time.perf_counter() - start) / fits * 1e3


def first_call(kind, n):
    """ms of this process's first fit of ``n`` rows."""
    one_fit = _fitter(kind)
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x.sum(1) + 0.5).astype(np.float32)
    start = time.perf_counter()
    one_fit(x, y)
    return (time.perf_counter() - start) * 1e3


def warm_step(model_name, n, steps):
    """ms per step of ``fit(..., fast_path=False)`` on ``n`` x 32 float32 (median of 3)."""
    import jax

    from dl_workshop import fit, linear_model, mseloss

    model, loss = {
        "user": (user_model, user_loss),
        "linear": (linear_model, mseloss),
        "jvp": (_jvp_model(), mseloss),
    }[model_name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 32), dtype=np.float32)
    y = (x @ rng.standard_normal(32).astype(np.float32) + 0.5).astype(np.float32)
    x, y = jax.device_put(x), jax.device_put(y)
    theta = {"w": np.zeros(32, np.float32), "b": np.float32(0.0)}

    def run():
        return fit(theta, model, loss, x, y, steps, 0.01, progress=False, fast_path=False)

    run()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) / steps * 1e3)
    return float(np.median(times))


def _trial(spec, off, cache):
    """Run ``spec`` (figure name and arguments) in a fresh process; its number."""
    env = dict(os.environ, DL_WORKSHOP_CACHE_DIR=cache, DL_WORKSHOP_WITHOUT=off)
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--trial", json.dumps(spec)],
        env=env, capture_output=True, text=True, check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _cell(spec, off, predecessor_rows):
    with tempfile.TemporaryDirectory(prefix="ab-mechanisms-") as cache:
        if predecessor_rows:  # a predecessor process fits, with the same compilation cache
            _trial(["first_call", spec[1], predecessor_rows], off, cache)
        return _trial(spec, off, cache)


def _rows(args):
    """(mechanism, figure, spec with, off with, spec without, off without, predecessor rows)."""
    n, steps, small = args.n, args.steps, args.small_n
    rows = [
        ("pad-mse", "many fits, general path, ms/fit", ["many_fits", "mse", args.fits]),
        ("pad-mse", "2nd process, other n, first call, ms", ["first_call", "mse", 1000]),
        ("pad-mse", "2nd process, same n, first call, ms", ["first_call", "mse", 1000]),
        ("pad-loss", "many fits, user MSE, ms/fit", ["many_fits", "loss", args.fits]),
        ("pad-loss", "2nd process, other n, first call, ms", ["first_call", "loss", 1000]),
        ("pad-loss", "2nd process, same n, first call, ms", ["first_call", "loss", 1000]),
        ("pad-minibatch", "many fits, batch 16, ms/fit", ["many_fits", "minibatch", args.fits]),
        ("fused-dots", f"warm step, user model {n}x32, ms", ["warm_step", "user", n, steps]),
        ("fused-dots", f"warm step, linear_model {n}x32, ms", ["warm_step", "linear", n, steps]),
    ]

    def predecessor(figure, spec):  # rows of the predecessor process's fit, or 0 for none
        return 0 if spec[0] != "first_call" else spec[2] if "same n" in figure else spec[2] - 7

    table = [(m, f, s, "", s, m, predecessor(f, s)) for m, f, s in rows]
    for rows_n in (n, small):
        table.append((
            "linear_model custom JVP", f"warm step {rows_n}x32, ms",
            ["warm_step", "jvp", rows_n, steps], "", ["warm_step", "linear", rows_n, steps], "",
            0,
        ))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--repeats", type=int, default=5, help="processes per arm (median)")
    parser.add_argument("--fits", type=int, default=100, help="fits of the many-fits figures")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows of the warm steps")
    parser.add_argument("--small-n", type=int, default=16_384, help="rows below the dots' floor")
    parser.add_argument("--steps", type=int, default=50, help="steps of a warm-step fit")
    parser.add_argument("--only", default="", help="run only rows of this mechanism")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        name, *rest = json.loads(args.trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(globals()[name](*rest))
        return
    if args.quick:
        args.repeats, args.fits, args.n, args.steps = 2, 10, 100_000, 10
    print(f"A/B of the shortcuts: medians of {args.repeats} fresh processes per arm, alternating")
    print("a shortcut stays when it pays (without / with >= 1.2) on one of its figures")
    print(f"{'mechanism':<25}{'figure':<40}{'with':>9}{'without':>9}{'ratio':>7}  verdict")
    for mechanism, figure, spec_a, off_a, spec_b, off_b, second in _rows(args):
        if args.only and args.only != mechanism:
            continue
        with_, without = [], []
        for _ in range(args.repeats):
            with_.append(_cell(spec_a, off_a, second))
            without.append(_cell(spec_b, off_b, second))
        a, b = float(np.median(with_)), float(np.median(without))
        decision = "pays" if b >= 1.2 * a else "costs" if a >= 1.2 * b else "no gain"
        print(f"{mechanism:<25}{figure:<40}{a:>9.2f}{b:>9.2f}{b / a:>7.2f}  {decision}",
              flush=True)


if __name__ == "__main__":
    main()
