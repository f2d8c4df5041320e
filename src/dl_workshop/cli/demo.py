"""``dl-workshop demo``: the lesson end to end on its own data, with figures.

Fits ``y = w x + b`` to the lesson's 100 noisy points (``x = linspace(-5, 5, 100)``,
``w_true = 2``, ``b_true = 20``) with compiled gradient descent, prints learned vs least-squares
vs true parameters and the losses, and writes five PNG figures into the output folder (with
``--animate`` also ``descent.gif``, the path moving over the loss bowl beside the loss curve).

The steps are plain functions (:func:`fit_lesson`, :func:`least_squares`,
:func:`write_figures`) so that ``benchmarks/bench_demo.py`` can time each phase.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ANIMATION",
    "ANIMATION_FRAMES",
    "DEFAULT_OUT",
    "FIGURES",
    "fit_lesson",
    "least_squares",
    "register",
    "run",
    "write_animation",
]

#: Output folder (relative to the current directory) when ``--out`` is not given.
DEFAULT_OUT = "dl-workshop-demo"

#: The files the demo writes, in the order it writes them.
FIGURES = ("loss.png", "fit.png", "landscape.png", "matrix_form.png", "neural_diagram.png")

#: The animation ``--animate`` writes, and its number of frames (fewer if fewer path points).
ANIMATION = "descent.gif"
ANIMATION_FRAMES = 16

#: About this many points of the parameter path are recorded for the bowl figure.
PATH_POINTS = 200

_DPI = 120

#: What the demo says when gradient descent diverges: the one thing a demo user can change is
#: --step-size (the library's DivergenceError also suggests standardizing the features).
DIVERGED = (
    "gradient descent diverged at step {step} with --step-size {step_size:g}: use a smaller "
    "--step-size{example}"
)
DIVERGED_EXAMPLE = ", e.g. --step-size {suggested:.2g} (above {max_stable:.2g} it diverges here)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="fit the lesson's line (w_true=2, b_true=20), compare with least squares, "
        "write figures",
        description="Fit y = w x + b to the lesson's 100 noisy points (x = linspace(-5, 5, 100), "
        "w_true = 2, b_true = 20) with gradient descent; print learned vs least-squares vs true "
        "parameters and the mean squared error; write the loss curve, the fit, the loss bowl "
        "with the optimizer's path and the two diagrams of the model as PNG files.",
        epilog=f"Files written into --out: {', '.join(FIGURES)} (and {ANIMATION} with "
        "--animate).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        metavar="DIR",
        help=f"folder for the figures, created if needed (default ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--steps", type=int, default=3000, metavar="N", help="gradient steps (default 3000)"
    )
    parser.add_argument(
        "--step-size",
        type=float,
        default=0.01,
        metavar="S",
        help="gradient-descent step size (default 0.01; above about 0.11 it diverges)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="K",
        help="seed of the data noise and the start (default 0)",
    )
    parser.add_argument(
        "--animate",
        action="store_true",
        help=f"also write {ANIMATION}: the path moving over the loss bowl beside the loss curve "
        f"({ANIMATION_FRAMES} frames)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="never show a progress bar (by default one is shown on a terminal)",
    )
    parser.set_defaults(handler=run)


def fit_lesson(
    steps: int, step_size: float, seed: int, *, progress: bool = False
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Make the lesson's data and fit it; return ``(x, y, FitResult)`` with a recorded path.

    Args:
        steps: gradient steps, >= 1.
        step_size: gradient-descent step size, > 0.
        seed: seed of the noise in ``y`` and of the starting parameters.
        progress: show a progress bar.

    Returns:
        ``x`` and ``y`` (shape ``(100,)``) and the :class:`~dl_workshop.FitResult`, whose path
        holds about :data:`PATH_POINTS` points.

    Example:
        >>> x, y, result = fit_lesson(100, 0.01, 0)
        >>> int(result.path_steps[-1])
        100
    """
    from dl_workshop.fitting.optimization import fit
    from dl_workshop.lesson.data import b_true, make_y, w_true, x
    from dl_workshop.lesson.losses import mseloss
    from dl_workshop.lesson.model import initialize_linear_params, linear_model

    y = make_y(x, w_true, b_true, seed=seed)
    theta = initialize_linear_params(seed=seed)
    record_every = max(1, steps // PATH_POINTS) if isinstance(steps, int) else 1
    result = fit(
        theta,
        linear_model,
        mseloss,
        x,
        y,
        steps,
        step_size,
        progress=progress,
        record_every=record_every,
    )
    return np.asarray(x), y, result


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The closed-form least-squares ``(w, b)`` for ``y ≈ w x + b`` (``numpy.linalg.lstsq``).

    Example:
        >>> least_squares(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
        (2.0, 1.0)
    """
    design = np.column_stack([x, np.ones_like(x)])
    w, b = np.linalg.lstsq(design, y, rcond=None)[0]
    # Rounded to 12 decimals: the solver's last-bit noise (1.9999999999999996) is not information.
    return round(float(w), 12), round(float(b), 12)


def write_figures(out: Path, x: np.ndarray, y: np.ndarray, result: Any) -> list[Path]:
    """Write the demo's figures (:data:`FIGURES`) into ``out``; return their paths.

    Uses matplotlib's object API with the Agg canvas, never pyplot, so no global backend or
    figure state changes.
    """
    from matplotlib.figure import Figure

    from dl_workshop.teaching.diagrams import draw_matrix_form, draw_neural_diagram
    from dl_workshop.teaching.plots import plot_fit, plot_loss, plot_loss_landscape

    out.mkdir(parents=True, exist_ok=True)
    n = len(x)
    drawers = {
        "loss.png": ((6.4, 4.4), lambda ax: plot_loss(result, ax=ax, log_scale=True)),
        "fit.png": ((6.4, 4.4), lambda ax: plot_fit(result.theta, x, y, ax=ax)),
        "landscape.png": ((6.8, 5.0), lambda ax: plot_loss_landscape(x, y, path=result, ax=ax)),
        "matrix_form.png": (
            (5.6, 4.2),
            lambda ax: draw_matrix_form(result.theta, n_samples=n, annotate=True, ax=ax),
        ),
        "neural_diagram.png": ((7.2, 3.6), lambda ax: draw_neural_diagram(result.theta, ax=ax)),
    }
    written = []
    for name in FIGURES:
        size, draw = drawers[name]
        figure = Figure(figsize=size, layout="constrained")
        draw(figure.add_subplot())
        path = out / name
        figure.savefig(path, dpi=_DPI)
        written.append(path)
    return written


def write_animation(out: Path, x: np.ndarray, y: np.ndarray, result: Any) -> tuple[Path, int]:
    """Write :data:`ANIMATION` into ``out``; return its path and its number of frames.

    Example:
        >>> import tempfile
        >>> x, y, result = fit_lesson(300, 0.01, 0)
        >>> path, frames = write_animation(Path(tempfile.mkdtemp()), x, y, result)
        >>> path.name, frames
        ('descent.gif', 16)
    """
    from dl_workshop.teaching.plots import animate_descent

    out.mkdir(parents=True, exist_ok=True)
    path = animate_descent(result, out / ANIMATION, x=x, y=y, frames=ANIMATION_FRAMES)
    return path, min(ANIMATION_FRAMES, len(result.path_steps))


def _diverged_message(error: Any, step_size: float) -> str:
    """:data:`DIVERGED` for a :class:`~dl_workshop.DivergenceError`, with its stable step size.

    Example:
        >>> from dl_workshop import DivergenceError
        >>> error = DivergenceError("...", step=7, suggested_step_size=0.0543,
        ...                         max_stable_step_size=0.1086, result=None)
        >>> _diverged_message(error, 0.5).split(": ")[1]
        'use a smaller --step-size, e.g. --step-size 0.054 (above 0.11 it diverges here)'
    """
    suggested, max_stable = error.suggested_step_size, error.max_stable_step_size
    example = (
        ""
        if suggested is None or max_stable is None
        else DIVERGED_EXAMPLE.format(suggested=suggested, max_stable=max_stable)
    )
    return DIVERGED.format(step=error.step, step_size=step_size, example=example)


def run(args: argparse.Namespace) -> int:
    """Fit the lesson data, print the comparison table and write the figures."""
    from dl_workshop.engine.divergence import DivergenceError
    from dl_workshop.lesson.data import b_true, w_true

    if args.out.exists() and not args.out.is_dir():
        # Checked before fitting, so the user does not wait for an error that was certain.
        raise NotADirectoryError(f"--out must be a folder; {args.out} is a file")
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        x, y, result = fit_lesson(args.steps, args.step_size, args.seed, progress=progress)
    except DivergenceError as exc:
        raise FloatingPointError(_diverged_message(exc, args.step_size)) from exc
    except (ValueError, TypeError, FloatingPointError) as exc:
        # Speak the command line's language: the library names its arguments n_steps/step_size.
        exc.args = (str(exc).replace("n_steps", "--steps").replace("step_size", "--step-size"),)
        raise
    w_ls, b_ls = least_squares(x, y)
    w_fit, b_fit = float(result.theta["w"]), float(result.theta["b"])

    def loss_of(w: float, b: float) -> float:
        # NumPy, not dl_workshop.mse: three eager JAX calls would each compile (~0.1 s apiece).
        return float(np.mean((y - (w * x + b)) ** 2))

    rows = [
        ("w", w_fit, w_ls, w_true),
        ("b", b_fit, b_ls, b_true),
        ("mse", loss_of(w_fit, b_fit), loss_of(w_ls, b_ls), loss_of(w_true, b_true)),
    ]
    print(f"{'':<6}{'learned':>12}{'least squares':>16}{'true':>12}")
    for name, learned, exact, true in rows:
        print(f"{name:<6}{learned:>12.4f}{exact:>16.4f}{true:>12.4f}")
    print(
        f"gradient descent: {result.n_steps} steps of size {args.step_size:g} ({result.status}); "
        f"|learned - least squares| = {max(abs(w_fit - w_ls), abs(b_fit - b_ls)):.2g}"
    )
    written = write_figures(args.out, x, y, result)
    folder = args.out.resolve()
    print(f"wrote {len(written)} figures to {folder}{'/' if str(folder) != '/' else ''}:")
    for path in written:
        print(f"  {path.name}")
    if args.animate:
        path, frames = write_animation(args.out, x, y, result)
        print(f"  {path.name} ({frames} frames)")
    return 0
