"""``dl-workshop fit`` and ``dl-workshop predict``: the estimator on a CSV or Parquet file.

``fit`` trains a :class:`~dl_workshop.estimator.GradientDescentRegressor`, prints its
coefficients next to the closed-form least-squares (or ridge) solution, and with ``--out DIR``
saves the model (``model.npz``, no pickle) and the loss curve (``loss_curve.png``).
With ``--scheduler ADDRESS`` (or ``local``) it reads the files of a glob pattern with Dask and
fits on the workers' one-pass statistics (:mod:`~dl_workshop.estimator.dask_data`); the
closed-form solution and R² come from the same statistics. ``predict`` loads such a model and
predicts for the rows of a file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["register"]

#: File names written into ``--out DIR``.
MODEL_FILE = "model.npz"
LOSS_PLOT_FILE = "loss_curve.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` and ``predict`` subcommands."""
    fit_parser = subparsers.add_parser(
        "fit",
        help="fit a linear model to a CSV/Parquet file and compare with least squares",
        description="Fit y = X w + b to the columns of a CSV or Parquet file with "
        "GradientDescentRegressor; print the coefficients next to the closed-form solution, "
        "R², iterations and time; with --out, save the model and the loss curve. With "
        "--scheduler, DATA may be a glob pattern of files (quote it: 'data/*.parquet') or a "
        "folder of Parquet files, read with Dask on the scheduler's workers in one pass; "
        "without --scheduler a glob pattern is refused.",
    )
    fit_parser.add_argument(
        "data",
        metavar="DATA",
        help="a .csv, .tsv or .parquet file; with --scheduler also a glob pattern of them",
    )
    fit_parser.add_argument("--target", required=True, metavar="COL", help="target column")
    fit_parser.add_argument(
        "--task",
        default="regress",
        choices=["regress", "classify"],
        help="regress (GradientDescentRegressor, default) or classify (GradientDescentClassifier:"
        " logistic regression on the target's labels, compared with LogisticRegression)",
    )
    fit_parser.add_argument(
        "--features",
        nargs="+",
        metavar="COL",
        help="feature columns (default: every column but the target)",
    )
    fit_parser.add_argument(
        "--optimizer",
        default="lbfgs",
        choices=["lbfgs", "gd", "momentum", "adam"],
        help="optimizer (default lbfgs)",
    )
    fit_parser.add_argument(
        "--learning-rate",
        default="auto",
        type=_learning_rate,
        help="step size, or 'auto' (default auto: 1/L from the curvature; line search for "
        "lbfgs)",
    )
    fit_parser.add_argument(
        "--max-iter", type=int, default=1000, help="maximum iterations (default 1000)"
    )
    fit_parser.add_argument(
        "--tol", type=float, default=1e-12, help="relative loss decrease to stop at (default 1e-12)"
    )
    fit_parser.add_argument("--alpha", type=float, default=0.0, help="L2 penalty (default 0)")
    fit_parser.add_argument("--no-intercept", action="store_true", help="fit without an intercept")
    fit_parser.add_argument(
        "--no-standardize", action="store_true", help="optimize on the raw features"
    )
    fit_parser.add_argument(
        "--dtype",
        default="float64",
        choices=["float64", "float32"],
        help="precision (default float64)",
    )
    fit_parser.add_argument(
        "--out", metavar="DIR", help=f"folder for {MODEL_FILE} and {LOSS_PLOT_FILE} (created)"
    )
    fit_parser.add_argument(
        "--seed", type=int, default=0, help="seed of the curvature estimate (default 0)"
    )
    _add_checkpoint_arguments(fit_parser)
    _add_dask_arguments(fit_parser)
    fit_parser.set_defaults(handler=run_fit)
    _register_predict(subparsers)


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    predict_parser = subparsers.add_parser(
        "predict",
        help="predict with a model saved by 'dl-workshop fit --out'",
        description="Load a model saved by 'dl-workshop fit --out DIR' (DIR/model.npz) and "
        "predict for every row of a CSV or Parquet file.",
    )
    predict_parser.add_argument("model", metavar="MODEL", help="the saved model (.npz)")
    predict_parser.add_argument("data", metavar="DATA", help="a .csv, .tsv or .parquet file")
    predict_parser.add_argument(
        "--out",
        metavar="FILE",
        help="write the predictions to this .csv or .parquet file instead of printing them",
    )
    predict_parser.set_defaults(handler=run_predict)


def _fit_option_flags() -> dict[str, Any]:
    """``fit``'s options that have a flag (``Option.flag`` in ``settings.OPTIONS``), by name."""
    from dl_workshop.fitting.settings import OPTIONS

    return {name: option for name, option in OPTIONS.items() if option.flag is not None}


def _add_checkpoint_arguments(fit_parser: argparse.ArgumentParser) -> None:
    """``fit``'s options for checkpoints: the flags declared with the options themselves."""
    for name, option in _fit_option_flags().items():
        flag = option.flag
        if option.default is False:
            fit_parser.add_argument(flag.flag, dest=name, action="store_true", help=flag.help)
        else:
            fit_parser.add_argument(
                flag.flag, dest=name, type=flag.type, metavar=flag.metavar, help=flag.help
            )


def _add_dask_arguments(fit_parser: argparse.ArgumentParser) -> None:
    """``fit``'s options for reading the data with Dask."""
    fit_parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="read DATA with Dask and fit on the workers: a scheduler address "
        "(tcp://host:8786), or 'local' for a LocalCluster on 127.0.0.1 (closed on exit)",
    )
    fit_parser.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="worker processes of --scheduler local (default 2, one thread each)",
    )
    fit_parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the scheduler at ADDRESS (default 10)",
    )


def _learning_rate(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number; got {text!r}") from None


#: Characters that make DATA a glob pattern.
GLOB_CHARACTERS = "*?["
GLOB_NEEDS_SCHEDULER = (
    "{data!r} is a glob pattern; reading several files needs --scheduler local (a LocalCluster "
    "on this machine) or --scheduler ADDRESS"
)


def run_fit(args: argparse.Namespace) -> int:
    """Fit the file's data, print the comparison table and save the model and plot."""
    from dl_workshop.lesson.data import read_table

    if args.resume and args.checkpoint is None:
        print("dl-workshop fit: error: --resume needs --checkpoint PATH", file=sys.stderr)
        return 2
    if args.task == "classify":
        from dl_workshop.cli.classify import run_classify

        return run_classify(args, fit=_fit, save=_save, out=_prepare_out_dir(args.out))
    if args.scheduler is not None:
        return _run_fit_dask(args)
    if any(c in args.data for c in GLOB_CHARACTERS) and not Path(args.data).exists():
        raise ValueError(GLOB_NEEDS_SCHEDULER.format(data=args.data))
    features, target = read_table(args.data, target=args.target, features=args.features)
    out = _prepare_out_dir(args.out)
    model = _model(args)
    elapsed, code = _fit(model, features, target, args)
    if code is not None:
        return code
    reference = _closed_form(
        features.to_numpy(), target.to_numpy(), args.alpha, fit_intercept=not args.no_intercept
    )
    y = target.to_numpy()
    r2_fit = _r2(y, model.predict(features))
    r2_ref = _r2(y, features.to_numpy() @ reference[0] + reference[1])
    names = [str(name) for name in features.columns]
    _print_report(args, model, reference, names, len(y), (r2_fit, r2_ref), elapsed)
    _save(out, model)
    return 0


def _run_fit_dask(args: argparse.Namespace) -> int:
    """``run_fit`` on Dask: the files read by the workers in one pass; the reference and R²
    from the same statistics."""
    from dl_workshop.cli.scheduler import dask_client, require_dask
    from dl_workshop.estimator.dask_data import summary_of
    from dl_workshop.lesson.data import read_dask_table

    if args.workers < 1:
        raise ValueError(f"--workers must be an integer >= 1; got {args.workers}")
    require_dask()
    # The files' metadata (a sample of a CSV) is read here, as Dask always does: missing files
    # or columns are reported before a cluster starts.
    features, target = read_dask_table(args.data, target=args.target, features=args.features)
    out = _prepare_out_dir(args.out)
    with dask_client(args.scheduler, timeout=args.connect_timeout, workers=args.workers):
        model = _model(args)
        elapsed, code = _fit(model, features, target, args)
    if code is not None:
        return code
    summary = summary_of(model)
    names = [str(name) for name in features.columns]
    reference = (summary.coef, summary.intercept)
    _print_report(args, model, reference, names, summary.n_rows, (summary.r2, summary.r2_reference),
                  elapsed)
    _save(out, model)
    return 0


def _model(args: argparse.Namespace) -> Any:
    from dl_workshop.estimator import GradientDescentRegressor

    return GradientDescentRegressor(
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        tol=args.tol,
        alpha=args.alpha,
        fit_intercept=not args.no_intercept,
        standardize=not args.no_standardize,
        dtype=args.dtype,
        random_state=args.seed,
        **{name: getattr(args, name) for name in _fit_option_flags()},
    )


def _fit(model: Any, features: Any, target: Any, args: argparse.Namespace):
    """``(seconds, None)`` after fitting with the warnings printed one line each, or
    ``(seconds, 130)`` when Ctrl-C interrupted the loop."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(features, target)
    elapsed = time.perf_counter() - start
    if any(str(w.message).startswith("interrupted by the user") for w in caught):
        # Ctrl-C inside the loop: fit returned what it had (and saved the checkpoint).
        done = f"interrupted after {model.n_iter_} of {args.max_iter} iterations"
        if args.checkpoint is None:
            print(
                f"dl-workshop fit: {done}; nothing saved (use --checkpoint PATH)", file=sys.stderr
            )
        else:
            print(
                f"dl-workshop fit: {done}; checkpoint saved to {args.checkpoint} (run the same "
                "command with --resume to continue)",
                file=sys.stderr,
            )
        return elapsed, 130
    for warning in caught:
        text = str(warning.message).strip().splitlines()[0]
        print(f"dl-workshop fit: warning: {text}", file=sys.stderr)
    return elapsed, None


def _save(out: Path | None, model: Any) -> None:
    if out is None:
        return
    from dl_workshop.estimator import save_model

    save_model(out / MODEL_FILE, model)
    _save_loss_plot(model.loss_curve_, out / LOSS_PLOT_FILE, type(model).__name__)
    print(f"saved {out / MODEL_FILE} and {out / LOSS_PLOT_FILE}")


def run_predict(args: argparse.Namespace) -> int:
    """Predict for every row of a file with a saved model; print or write the predictions."""
    import pandas as pd

    from dl_workshop.estimator import load_model
    from dl_workshop.lesson.data import read_table

    model = load_model(args.model)
    names = getattr(model, "feature_names_in_", None)
    features, _ = read_table(
        args.data, features=None if names is None else [str(name) for name in names]
    )
    if names is None:
        # A model fitted on bare arrays: take the columns in order, as they are.
        features = features.to_numpy()
    predictions = np.asarray(model.predict(features))
    columns = (
        ["prediction"]
        if predictions.ndim == 1
        else [f"prediction_{i}" for i in range(predictions.shape[1])]
    )
    frame = pd.DataFrame(predictions.reshape(len(predictions), -1), columns=columns)
    if hasattr(model, "predict_proba"):  # a classifier: each class's probability beside it
        probabilities = model.predict_proba(features)
        for i, label in enumerate(model.classes_):
            frame[f"probability_{label}"] = probabilities[:, i]
    if args.out is None:
        try:
            frame.to_csv(sys.stdout, index=False)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (e.g. `| head`) closed the pipe: not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    path = Path(args.out)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} for --out does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix in (".csv", ".txt"):
        frame.to_csv(path, index=False)
    else:
        raise ValueError(f"--out must end in .csv or .parquet; got {str(path)!r}")
    print(f"wrote {len(frame)} predictions to {path}")
    return 0


def _prepare_out_dir(out: str | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"--out {str(path)!r} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _closed_form(x: np.ndarray, y: np.ndarray, alpha: float, *, fit_intercept: bool):
    """``(coef, intercept)`` of least squares (``numpy.linalg.lstsq``) or ridge, directly."""
    if alpha > 0:
        from sklearn.linear_model import Ridge

        ridge = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(x, y)
        return np.asarray(ridge.coef_), float(ridge.intercept_)
    design = np.column_stack([x, np.ones(len(x))]) if fit_intercept else x
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    return (solution[:-1], float(solution[-1])) if fit_intercept else (solution, 0.0)


#: The difference column of a parameter that the data do not determine (collinear columns,
#: a constant column next to the intercept, fewer rows than parameters): any value fits.
NOT_UNIQUE = "not unique"
#: R² of a constant target (its total sum of squares is zero).
R2_UNDEFINED = "undefined (constant target)"


def _r2(y: np.ndarray, prediction: np.ndarray) -> float | None:
    """R², or ``None`` for a constant target."""
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - prediction) ** 2))
    return 1.0 - residual / total if total > 0 else None


def _not_unique(model: Any, n_features: int, fit_intercept: bool) -> list[bool]:
    """Per table row (intercept first): whether the data leave that parameter free."""
    if model.rank_ is None or model.rank_ >= n_features:
        return [False] * (n_features + fit_intercept)
    from dl_workshop.estimator.conditioning import undetermined_parameters

    mask, intercept = undetermined_parameters(model)
    return ([intercept] if fit_intercept else []) + [bool(m) for m in mask]


def _print_report(args, model: Any, reference, names: list[str], n_rows: int, r2s,
                  elapsed: float) -> None:
    coef_ref, intercept_ref = reference
    r2_fit, r2_ref = r2s
    label = "ridge (closed form)" if args.alpha > 0 else "least squares"
    rows = list(zip(names, model.coef_, coef_ref, strict=True))
    if not args.no_intercept:
        rows.insert(0, ("intercept", model.intercept_, intercept_ref))
    free = _not_unique(model, len(names), not args.no_intercept)
    width = max(12, *(len(name) for name, _, _ in rows)) + 2
    status = "converged" if model.n_iter_ < args.max_iter else "max_iter reached"
    print(
        f"fitted {n_rows} rows x {len(names)} feature(s), target {args.target!r}: "
        f"{args.optimizer}, {model.n_iter_} iterations ({status}), {elapsed:.3f} s"
    )
    print(f"{'parameter':<{width}}{'fitted':>22}{label:>22}{'difference':>14}")
    for (name, fitted, exact), undetermined in zip(rows, free, strict=True):
        difference = NOT_UNIQUE if undetermined else f"{fitted - exact:.3g}"
        print(f"{name:<{width}}{fitted:>22.12g}{exact:>22.12g}{difference:>14}")
    # A constant target leaves both undefined (the same y); say so once.
    r2 = R2_UNDEFINED if r2_fit is None else f"{r2_fit:.10f} (closed form {r2_ref:.10f})"
    print(f"R²: {r2}; final loss {model.loss_curve_[-1]:.6g}")
    if getattr(model, "accuracy_", None) is not None:  # float64 fits: refined, digits estimated
        print(f"accuracy: about {model.accuracy_:.1f} correct significant digits (accuracy_)")


def _save_loss_plot(losses: np.ndarray, path: Path,
                    estimator: str = "GradientDescentRegressor") -> None:
    # A bare Figure renders with Agg and leaves pyplot's global backend alone.
    from matplotlib.figure import Figure

    from dl_workshop.teaching.plots import plot_loss

    losses = np.asarray(losses, dtype=np.float64)
    figure = Figure(figsize=(6, 4))
    ax = plot_loss(losses, ax=figure.subplots(), log_scale=bool(np.all(losses > 0)))
    ax.set_title(f"{estimator}: loss per iteration")
    figure.savefig(path, dpi=100, bbox_inches="tight")
