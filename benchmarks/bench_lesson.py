"""The lesson workload (100 points, 3 000 gradient-descent steps), timed side by side.

Compares, in one process:

* the lesson's reference loop: a Python ``for`` loop calling ``jax.grad`` every step;
* a hand-written NumPy loop (what a user without JAX would write);
* ``model_optimization_loop``, first call (tracing + compilation included) and second call.

Run: ``python benchmarks/bench_lesson.py`` (add ``--quick`` for a smoke run that times the slow
Python-loop reference on fewer steps and scales it up).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import python_loop_reference, timed  # noqa: E402

from dl_workshop import linear_model, model_optimization_loop, mseloss  # noqa: E402
from dl_workshop.data import b_true, make_y, w_true, x  # noqa: E402

N_STEPS = 3000
STEP_SIZE = 0.001


def numpy_loop(w, b, xs, ys, n_steps):
    losses = np.empty(n_steps)
    for i in range(n_steps):
        r = w * xs + b - ys
        losses[i] = np.mean(r * r)
        w -= STEP_SIZE * 2 * np.mean(r * xs)
        b -= STEP_SIZE * 2 * np.mean(r)
    return losses, w, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the reference on 300 steps")
    args = parser.parse_args()
    ys = make_y(x, w_true, b_true, seed=0)
    theta0 = {"w": 0.0, "b": 0.0}

    first, (losses, _) = timed(
        # No warm-up: the first call's compilation is what this row measures.
        lambda: model_optimization_loop(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE),
        repeats=1,
        warmup=0,
    )
    second, _ = timed(
        lambda: model_optimization_loop(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE),
        repeats=7,
    )
    numpy_time, (np_losses, _, _) = timed(lambda: numpy_loop(0.0, 0.0, x, ys, N_STEPS), repeats=3)
    ref_steps = 300 if args.quick else N_STEPS
    ref_time, (ref_losses, _) = timed(
        lambda: python_loop_reference(dict(theta0), x, ys, ref_steps, STEP_SIZE),
        repeats=1,
        warmup=0,
    )
    ref_time *= N_STEPS / ref_steps
    np.testing.assert_allclose(losses[:ref_steps], ref_losses, rtol=1e-4)
    np.testing.assert_allclose(losses, np_losses, rtol=1e-4)

    print(f"lesson workload: {len(x)} points, {N_STEPS} steps, device {jax.devices()[0]}")
    print(f"{'method':<44}{'time (s)':>10}{'per step':>12}{'speed-up':>10}")
    rows = [
        ("Python loop calling jax.grad (reference)", ref_time),
        ("NumPy hand-written loop", numpy_time),
        ("model_optimization_loop, first call", first),
        ("model_optimization_loop, second call", second),
    ]
    for name, seconds in rows:
        print(
            f"{name:<44}{seconds:>10.4f}{seconds / N_STEPS * 1e6:>10.1f}us"
            f"{ref_time / seconds:>9.0f}x"
        )
    if args.quick:
        print(f"(reference timed on {ref_steps} steps and scaled to {N_STEPS})")


if __name__ == "__main__":
    main()
