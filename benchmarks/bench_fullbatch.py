"""Full-batch gradient descent on N x D float32 data, side by side in one process.

Rows (median of ``--repeats`` runs after a warm-up, so compilation is excluded; the rows that
are compared with each other take turns run by run, so that load from other processes affects
them alike: the three per-step loops, and the fast path with the floor and ``X^T X``):

* bandwidth floor: the time to read X once (the fastest of NumPy ``X @ v`` and a jitted sum);
* ``X^T X``: the Gram product (NumPy, float32), the one-off cost of the fast path's statistics;
* ``X^T r``, the transposed product in every gradient: NumPy, XLA's own product, and the
  multiply-and-sum ``engine.jaxpr.dots`` writes it as;
* NumPy hand loop and (when ``import torch`` works) a PyTorch CPU loop, per step;
* the general path, ``fit(..., fast_path=False)`` (``linear_model`` with ``mseloss``), per step;
* a user-written model and loss (``x @ w + b`` with its own mean squared error), per step;
* the fast path, ``fit`` with ``linear_model`` + ``mseloss`` (sufficient statistics),
  ``--fast-steps`` steps in total, on the data and on the data offset by 100 (whose blocks the
  fast path must shift before its float32 products);
* the lesson workload (100 points, 3 000 steps) vs the lesson's Python loop over ``jax.grad``.

Every loop records the loss at every step. Peak RSS is the process's peak after a row's first
(warm-up) run; the warm-up runs go in the order: loops (NumPy, general, user model, PyTorch), then
the floor, ``X^T X`` and the fast paths.

The loops' and the fast path's rows also show their first call in a fresh process (``cold``:
nothing compiled; ``2nd process``: with the first process's persistent compilation cache), the
data made before the clock starts, each the best of ``--first-repeats`` processes.

Run from the source tree: ``PYTHONPATH=src python benchmarks/bench_fullbatch.py`` (``--quick``:
a few-second smoke run; ``--n``, ``--d``, ``--steps`` to resize).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    device_name,
    first_calls,
    python_loop_reference,
    timed,
    timed_interleaved,
)

from dl_workshop import fit, linear_model, mseloss  # noqa: E402
from dl_workshop.lesson.data import make_y  # noqa: E402
from dl_workshop.lesson.data import x as lesson_x  # noqa: E402

STEP = 0.01


def numpy_loop(x, y, n_steps):
    n, d = x.shape
    w = np.zeros(d, np.float32)
    b = np.float32(0.0)
    losses = np.empty(n_steps, np.float32)
    for i in range(n_steps):
        r = x @ w + b - y
        losses[i] = r @ r / n
        w -= np.float32(STEP * 2 / n) * (r @ x)
        b -= np.float32(STEP * 2) * r.mean()
    return losses


def user_model(theta, x):
    """A model as a user writes it (the same computation as ``linear_model``)."""
    return x @ theta["w"] + theta["b"]


def user_loss(theta, model, x, y):
    """A mean squared error as a user writes it (not ``mseloss``)."""
    import jax.numpy as jnp

    return jnp.mean((model(theta, x) - y) ** 2)


def make_data(n, d):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = (x @ rng.standard_normal(d).astype(np.float32) + 0.5).astype(np.float32)
    y += 0.1 * rng.standard_normal(n, dtype=np.float32)
    return x, y


SETUP = """
import sys
sys.path.insert(0, {bench!r})
import jax
import numpy as np
from bench_fullbatch import STEP, make_data, numpy_loop, torch_loop, user_loss, user_model
from dl_workshop import fit, linear_model, mseloss
x, y = make_data({n}, {d})
x_dev, y_dev = jax.device_put(x), jax.device_put(y)
theta = {{"w": np.zeros({d}, np.float32), "b": np.float32(0.0)}}
"""

FIRST_CALLS = {
    "numpy": "numpy_loop(x, y, {steps})",
    "general": "fit(theta, linear_model, mseloss, x_dev, y_dev, {steps}, STEP, progress=False, "
    "fast_path=False)",
    "user": "fit(theta, user_model, user_loss, x_dev, y_dev, {steps}, STEP, progress=False)",
    "fast": "fit(theta, linear_model, mseloss, x, y, {fast_steps}, STEP, progress=False)",
}


def torch_loop(torch, x, y, n_steps):
    n, d = x.shape
    w = torch.zeros(d)
    b = torch.zeros(())
    losses = torch.empty(n_steps)
    with torch.no_grad():
        for i in range(n_steps):
            r = torch.addmv(b - y, x, w)
            losses[i] = r.dot(r) / n
            w -= (STEP * 2 / n) * (r @ x)
            b -= STEP * 2 * r.mean()
    return losses.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1 000 000)")
    parser.add_argument("--d", type=int, default=32, help="columns (default 32)")
    parser.add_argument("--steps", type=int, default=200, help="steps of the per-step loops")
    parser.add_argument("--fast-steps", type=int, default=3000, help="steps of the fast path")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument("--first-repeats", type=int, default=1, help="fresh processes per cell")
    args = parser.parse_args()
    if args.quick:
        args.n, args.steps, args.fast_steps, args.repeats = 20_000, 10, 300, 2
    n, d = args.n, args.d
    first = fresh_first_calls(args)
    x, y = make_data(n, d)
    x_dev, y_dev = jax.device_put(x), jax.device_put(y)
    theta = {"w": np.zeros(d, np.float32), "b": np.float32(0.0)}
    print(f"full batch: N={n} x D={d} float32 ({x.nbytes / 1e6:.0f} MB), device {device_name()}")

    def general():
        return fit(
            theta,
            linear_model,
            mseloss,
            x_dev,
            y_dev,
            args.steps,
            STEP,
            progress=False,
            fast_path=False,
        ).losses

    def user():
        return fit(theta, user_model, user_loss, x_dev, y_dev, args.steps, STEP,
                   progress=False).losses

    # The per-step loops, taking turns.
    loops = {"numpy": lambda: numpy_loop(x, y, args.steps), "general": general, "user": user}
    try:
        import torch

        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        loops["torch"] = lambda: torch_loop(torch, xt, yt, args.steps)
        torch_name = f"PyTorch {torch.__version__} CPU loop"
    except ImportError:
        print("(PyTorch not installed: `pip install torch==2.13.0` adds its row)")
    loop_timings = timed_interleaved(loops, args.repeats)
    t_np, np_losses, _ = loop_timings["numpy"]
    t_general, gen_losses, _ = loop_timings["general"]
    t_user, user_losses, _ = loop_timings["user"]
    t_torch = loop_timings["torch"][0] if "torch" in loop_timings else None

    def fast():
        # NumPy inputs, as a user's data usually are: the fast path reads them once with BLAS
        # and never copies them into JAX.
        return fit(theta, linear_model, mseloss, x, y, args.fast_steps, STEP, progress=False).losses

    # Columns far from centred: the fast path then shifts each block before its products.
    x_offset = x + np.float32(100.0)

    def fast_offset():
        return fit(
            theta, linear_model, mseloss, x_offset, y, args.fast_steps, 1e-6, progress=False
        ).losses

    # The fast path and what it is measured against, taking turns (each run is short).
    ones = np.ones(d, np.float32)
    jsum = jax.jit(lambda a: a.sum())
    # The transposed product of every gradient, as XLA runs it and as engine.jaxpr.dots writes it.
    xla_xtr = jax.jit(lambda r, a: r @ a)
    fused_xtr = jax.jit(lambda r, a: (a * r[:, None]).sum(0))
    timings = timed_interleaved(
        {
            "np read": lambda: x @ ones,
            "jax read": lambda: jsum(x_dev),
            "gram": lambda: x.T @ x,
            "np xtr": lambda: y @ x,
            "xla xtr": lambda: xla_xtr(y_dev, x_dev),
            "fused xtr": lambda: fused_xtr(y_dev, x_dev),
            "fast": fast,
            "fast offset": fast_offset,
        },
        max(args.repeats, 9),
    )
    floor = min(timings["np read"][0], timings["jax read"][0])
    t_gram = timings["gram"][0]
    t_fast, fast_losses, _ = timings["fast"]
    t_fast_offset = timings["fast offset"][0]

    rows = [  # (name, seconds, steps or None, peak RSS in MB after its first run, first calls)
        ("bandwidth floor: read X once", floor, None, timings["jax read"][2], None),
        ("X^T X (NumPy float32)", t_gram, None, timings["gram"][2], None),
        ("X^T r: NumPy", timings["np xtr"][0], None, timings["np xtr"][2], None),
        ("X^T r: XLA's product", timings["xla xtr"][0], None, timings["xla xtr"][2], None),
        ("X^T r: multiply-and-sum (engine.jaxpr.dots)", timings["fused xtr"][0], None,
         timings["fused xtr"][2], None),
        ("NumPy hand loop", t_np, args.steps, loop_timings["numpy"][2], first.get("numpy")),
    ]
    if t_torch is not None:
        rows.append(
            (torch_name, t_torch, args.steps, loop_timings["torch"][2], first.get("torch"))
        )
    rows += [
        ("fit, general path (fast_path=False)", t_general, args.steps,
         loop_timings["general"][2], first.get("general")),
        ("fit, user-written model and loss", t_user, args.steps, loop_timings["user"][2],
         first.get("user")),
        (f"fit, fast path ({args.fast_steps} steps)", t_fast, args.fast_steps,
         timings["fast"][2], first.get("fast")),
        (
            "fit, fast path, x + 100 (shifted blocks)",
            t_fast_offset,
            args.fast_steps,
            timings["fast offset"][2],
            None,
        ),
    ]
    # Same iterates, to float32 tolerance (on GPUs JAX's default float32 matmuls use TF32).
    gen_dev = np.max(np.abs(np.asarray(gen_losses) - np_losses) / np_losses)
    fast_dev = np.max(np.abs(np.asarray(fast_losses[: args.steps]) - np_losses) / np_losses)
    user_dev = np.max(np.abs(np.asarray(user_losses) - np_losses) / np_losses)
    print(f"max relative loss difference vs NumPy: general {gen_dev:.1e}, fast {fast_dev:.1e}")
    print(f"max relative loss difference vs NumPy, user-written model: {user_dev:.1e}")

    print(
        f"\n{'method':<42}{'total (s)':>11}{'per step (ms)':>15}{'peak RSS (MB)':>15}"
        f"{'first call (s): cold':>22}{'2nd process':>13}"
    )
    for name, seconds, steps, peak, calls in rows:
        per = f"{seconds / steps * 1e3:.3f}" if steps else ""
        firsts = f"{calls.cold:>22.3f}{calls.second:>13.3f}" if calls else ""
        print(f"{name:<42}{seconds:>11.4f}{per:>15}{peak:>15.0f}{firsts}")

    np_step = t_np / args.steps
    print("\nratios (higher is better for fit):")
    print(f"  general step vs NumPy step:            {np_step / (t_general / args.steps):6.2f}x")
    print(f"  user-written model step vs NumPy step: {np_step / (t_user / args.steps):6.2f}x")
    if t_torch is not None:
        torch_step = t_torch / args.steps
        print(
            f"  general step vs PyTorch step:          {torch_step * args.steps / t_general:6.2f}x"
        )
    print(
        f"  general step / bandwidth floor:        {t_general / args.steps / floor:6.2f} reads of X"
    )
    numpy_equiv = np_step * args.fast_steps
    print(f"  fast path vs NumPy loop, {args.fast_steps} steps:  {numpy_equiv / t_fast:8.1f}x")
    target = floor + t_gram
    print(f"  fast path / (read X + X^T X):          {t_fast / target:6.2f} (target < 2)")
    print(f"  same, x + 100 (shifted blocks):        {t_fast_offset / target:6.2f}")
    fast_first = first["fast"]
    print(
        f"  fast path first call / warm call:      cold {fast_first.cold / t_fast:.2f}, "
        f"2nd process {fast_first.second / t_fast:.2f} (target <= 3)"
    )

    # The lesson workload: 100 points, 3 000 steps.
    ys = make_y(lesson_x, seed=0)
    lesson_theta = {"w": 0.0, "b": 0.0}
    t_lesson, _ = timed(
        lambda: (
            fit(
                lesson_theta, linear_model, mseloss, lesson_x, ys, 3000, 0.001, progress=False
            ).losses
        ),
        max(args.repeats, 5),
    )
    ref_steps = 100 if args.quick else 300
    t_ref, _ = timed(
        lambda: python_loop_reference(dict(lesson_theta), lesson_x, ys, ref_steps, 0.001), 1
    )
    t_ref *= 3000 / ref_steps
    print(
        f"\nlesson workload (100 points, 3000 steps): fit {t_lesson * 1e3:.1f} ms, Python loop "
        f"over jax.grad {t_ref:.2f} s (timed on {ref_steps} steps, scaled): "
        f"{t_ref / t_lesson:.0f}x"
    )


def fresh_first_calls(args) -> dict:
    """First calls of the loops and the fast path in fresh processes (PyTorch when present)."""
    bench = os.path.dirname(os.path.abspath(__file__))
    setup = SETUP.format(bench=bench, n=args.n, d=args.d)
    calls = dict(FIRST_CALLS)
    try:
        import torch  # noqa: F401

        setup += "import torch\nxt, yt = torch.from_numpy(x), torch.from_numpy(y)\n"
        calls["torch"] = "torch_loop(torch, xt, yt, {steps})"
    except ImportError:
        pass
    return {
        name: first_calls(
            setup, call.format(steps=args.steps, fast_steps=args.fast_steps), args.first_repeats
        )
        for name, call in calls.items()
    }


if __name__ == "__main__":
    main()
