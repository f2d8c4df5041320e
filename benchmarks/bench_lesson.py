"""The lesson workload (100 points, 3 000 gradient-descent steps), timed side by side.

Compares:

* the lesson's reference loop: a Python ``for`` loop calling ``jax.grad`` every step;
* a hand-written NumPy loop (what a user without JAX would write);
* ``model_optimization_loop`` (the fast path) and ``fit(..., fast_path=False)`` (the general
  path, any model and loss);
* ``model_optimization_loop`` with the learner's own model and loss (the general path, rows
  padded once the loss is read to be a mean), and its first call with a new number of rows.

Each row shows what users meet: the first call in a fresh process (``cold``: nothing compiled
yet; ``2nd process``: a new process that finds the first one's persistent compilation cache),
then the warm time (median of repeated calls in this process, compilation excluded). The
reference loop's first calls are timed on 300 steps and scaled (its warm time too with
``--quick``).

Run: ``python benchmarks/bench_lesson.py`` (add ``--quick`` for a smoke run: one fresh process
per column, the reference timed on 300 steps and scaled up).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    add_chart_option,
    first_calls,
    python_loop_reference,
    timed,
    write_chart,
)

from dl_workshop import fit, linear_model, model_optimization_loop, mseloss  # noqa: E402
from dl_workshop.lesson.data import b_true, make_y, w_true, x  # noqa: E402

N_STEPS = 3000
STEP_SIZE = 0.001
REF_FIRST_STEPS = 300  # the reference's first calls run this many steps, scaled to N_STEPS

SETUP = """
import sys
sys.path.insert(0, {bench!r})
import numpy as np
from bench_lesson import learner_model, learner_mseloss, numpy_loop, N_STEPS, STEP_SIZE
from _common import python_loop_reference
from dl_workshop import fit, linear_model, model_optimization_loop, mseloss
from dl_workshop.lesson.data import b_true, make_y, w_true, x
ys = make_y(x, w_true, b_true, seed=0)
theta0 = {{"w": 0.0, "b": 0.0}}
"""

CALLS = {
    "reference": "python_loop_reference(dict(theta0), x, ys, {steps}, STEP_SIZE)",
    "numpy": "numpy_loop(0.0, 0.0, x, ys, N_STEPS)",
    "fast": "model_optimization_loop(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE)",
    "general": "fit(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE, fast_path=False)",
    "learner": "model_optimization_loop(theta0, learner_model, learner_mseloss, x, ys, N_STEPS, "
    "STEP_SIZE)",
}


def learner_model(theta, x):
    """The lesson's model as a learner writes it in the notebook."""
    return theta["w"] * x + theta["b"]


def learner_mseloss(theta, model, x, y):
    """The lesson's loss as a learner writes it: padded and masked like ``mseloss``."""
    return jnp.mean((y - model(theta, x)) ** 2)


def numpy_loop(w, b, xs, ys, n_steps):
    losses = np.empty(n_steps)
    for i in range(n_steps):
        r = w * xs + b - ys
        losses[i] = np.mean(r * r)
        w -= STEP_SIZE * 2 * np.mean(r * xs)
        b -= STEP_SIZE * 2 * np.mean(r)
    return losses, w, b


def _first_calls(ref_steps: int, repeats: int) -> dict:
    setup = SETUP.format(bench=os.path.dirname(os.path.abspath(__file__)))
    calls = {name: call.format(steps=ref_steps) for name, call in CALLS.items()}
    return {name: first_calls(setup, call, repeats) for name, call in calls.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    parser.add_argument("--first-repeats", type=int, default=3, help="fresh processes per cell")
    add_chart_option(parser, "docs/images/bench_lesson.png")
    args = parser.parse_args()
    ys = make_y(x, w_true, b_true, seed=0)
    theta0 = {"w": 0.0, "b": 0.0}
    ref_steps = 300 if args.quick else N_STEPS
    scale = N_STEPS / ref_steps
    first = _first_calls(REF_FIRST_STEPS, 1 if args.quick else args.first_repeats)

    def lesson():
        return model_optimization_loop(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE)

    def general():
        return fit(theta0, linear_model, mseloss, x, ys, N_STEPS, STEP_SIZE, fast_path=False)

    def learner(points=x, targets=ys):
        return model_optimization_loop(theta0, learner_model, learner_mseloss, points, targets,
                                       N_STEPS, STEP_SIZE)

    second, (losses, _) = timed(lesson, repeats=7)
    t_learner, (learner_losses, _) = timed(learner, repeats=7)
    # A new number of rows (90 points) in the same process: the first call with that n.
    start = time.perf_counter()
    learner(x[:90], ys[:90])
    t_learner_new_n = time.perf_counter() - start
    t_general, general_result = timed(general, repeats=7)
    numpy_time, (np_losses, _, _) = timed(lambda: numpy_loop(0.0, 0.0, x, ys, N_STEPS), repeats=3)
    ref_time, (ref_losses, _) = timed(
        lambda: python_loop_reference(dict(theta0), x, ys, ref_steps, STEP_SIZE), repeats=1
    )
    ref_time *= scale
    np.testing.assert_allclose(losses[:ref_steps], ref_losses, rtol=1e-4)
    np.testing.assert_allclose(losses, np_losses, rtol=1e-4)
    np.testing.assert_allclose(general_result.losses, np_losses, rtol=1e-4)
    np.testing.assert_allclose(learner_losses, np_losses, rtol=1e-4)

    print(f"lesson workload: {len(x)} points, {N_STEPS} steps, device {jax.devices()[0]}")
    print(
        f"{'method':<44}{'first call (s): cold':>21}{'2nd process':>13}{'warm (s)':>10}"
        f"{'per step':>12}{'speed-up':>10}"
    )
    rows = [
        ("Python loop calling jax.grad (reference)", "reference", ref_time,
         N_STEPS / REF_FIRST_STEPS),
        ("NumPy hand-written loop", "numpy", numpy_time, 1.0),
        ("model_optimization_loop (fast path)", "fast", second, 1.0),
        ("fit, general path (fast_path=False)", "general", t_general, 1.0),
        ("model_optimization_loop, learner's own loss", "learner", t_learner, 1.0),
    ]
    chart = {"first call, fresh process": {}, "first call, 2nd process": {}, "warm": {}}
    for name, key, warm, factor in rows:
        cells = first[key]
        for series, value in zip(chart, (cells.cold * factor, cells.second * factor, warm),
                                 strict=True):
            chart[series][name] = value
        print(
            f"{name:<44}{cells.cold * factor:>21.4f}{cells.second * factor:>13.4f}{warm:>10.4f}"
            f"{warm / N_STEPS * 1e6:>10.1f}us{ref_time / warm:>9.0f}x"
        )
    # The row name the smoke test looks for: the warm call, compilation excluded.
    print(f"{'model_optimization_loop, second call':<44}{'':>21}{'':>13}{second:>10.4f}")
    print(f"learner's own loss, first call with a new number of rows (90 points): "
          f"{t_learner_new_n:.4f} s")
    fast, numpy_first = first["fast"], first["numpy"]
    print(
        f"model_optimization_loop's first call / the NumPy loop's (fresh processes): cold "
        f"{fast.cold / numpy_first.cold:.2f}, 2nd process {fast.second / numpy_first.second:.2f}"
    )
    if args.quick:
        print(f"(reference timed on {ref_steps} steps and scaled to {N_STEPS})")
    if args.chart:
        note = "quick run" if args.quick else f"best of {args.first_repeats} fresh processes"
        path = write_chart(args.chart, f"The lesson: {len(x)} points, {N_STEPS} steps", chart,
                           note=note)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
