"""``dl-workshop demo``: the lesson end to end on its own data."""

from __future__ import annotations

import argparse

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="fit the lesson's line (w_true=2, b_true=20) and compare with least squares",
        description="Fit y = w x + b to the lesson's 100 noisy points with gradient descent, "
        "print learned vs true parameters and the closed-form least-squares answer.",
    )
    parser.add_argument("--steps", type=int, default=3000, help="gradient steps (default 3000)")
    parser.add_argument(
        "--step-size", type=float, default=0.01, help="gradient-descent step size (default 0.01)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data noise and init")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fit the lesson data and print a table of learned vs true parameters."""
    from dl_workshop import fit, initialize_linear_params, linear_model, mseloss
    from dl_workshop.data import b_true, make_y, w_true, x

    y = make_y(x, w_true, b_true, seed=args.seed)
    theta = initialize_linear_params(seed=args.seed)
    result = fit(
        theta,
        linear_model,
        mseloss,
        x,
        y,
        args.steps,
        args.step_size,
        progress=False if args.no_progress else None,
    )
    design = np.column_stack([x, np.ones_like(x)])
    w_ls, b_ls = np.linalg.lstsq(design, y, rcond=None)[0]
    print(f"{'parameter':<10}{'learned':>12}{'least squares':>15}{'true':>10}")
    for name, learned, exact, true in (
        ("w", result.theta["w"], w_ls, w_true),
        ("b", result.theta["b"], b_ls, b_true),
    ):
        print(f"{name:<10}{float(learned):>12.4f}{exact:>15.4f}{true:>10.4f}")
    print(f"final mse after {result.n_steps} steps: {result.losses[-1]:.6f}")
    return 0
