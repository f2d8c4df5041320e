"""``dl-workshop fit --task classify``: a :class:`~dl_workshop.GradientDescentClassifier` on the
columns of a CSV or Parquet file, beside scikit-learn's ``LogisticRegression``.

The target column holds class labels of any kind (numbers or strings). The report lists the
fitted coefficients next to ``LogisticRegression``'s with the matching ``C = 1/alpha`` (no
penalty for ``--alpha 0``) run to its own rounding, and both fits' accuracy and penalized loss.
``cli.fit`` calls :func:`run_classify` with its own steps (fitting with the warnings printed,
saving), so that this module needs nothing from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_classify"]

NO_CHECKPOINT_MESSAGE = (
    "--task classify takes no --checkpoint or --resume (its fits end with Newton steps in "
    "seconds); drop them"
)
NO_SCHEDULER_MESSAGE = (
    "--task classify reads one file in memory; --scheduler is for --task regress (fit "
    "GradientDescentClassifier on Dask data from Python)"
)


def run_classify(args: argparse.Namespace, *, fit: Callable, save: Callable,
                 out: Path | None) -> int:
    """Fit the file's labels, print the comparison with ``LogisticRegression``, save.

    Args:
        args: ``dl-workshop fit``'s arguments (``--task classify``).
        fit: ``fit(model, features, target, args) -> (seconds, exit code or None)``.
        save: ``save(out, model)``: the model file and the loss plot.
        out: the ``--out`` folder, or ``None``.
    """
    from dl_workshop.lesson.data import read_table

    if args.checkpoint is not None or args.resume:
        raise ValueError(NO_CHECKPOINT_MESSAGE)
    if args.scheduler is not None:
        raise ValueError(NO_SCHEDULER_MESSAGE)
    features, labels = read_table(args.data, target=args.target, features=args.features,
                                  labels=True)
    model = _classifier(args)
    elapsed, code = fit(model, features, labels, args)
    if code is not None:
        return code
    reference = _reference(features.to_numpy(), labels.to_numpy(), args)
    _print_report(args, model, reference, features, labels.to_numpy(), elapsed)
    save(out, model)
    return 0


def _classifier(args: argparse.Namespace) -> Any:
    from dl_workshop.estimator import GradientDescentClassifier

    return GradientDescentClassifier(
        optimizer=args.optimizer, learning_rate=args.learning_rate, max_iter=args.max_iter,
        tol=args.tol, alpha=args.alpha, fit_intercept=not args.no_intercept,
        standardize=not args.no_standardize, dtype=args.dtype, random_state=args.seed,
    )


def _reference(x: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> Any:
    """``LogisticRegression`` with the matching ``C``, run to its own rounding."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own convergence notes: the report compares
        return LogisticRegression(
            C=np.inf if args.alpha == 0 else 1.0 / args.alpha, solver="newton-cholesky",
            tol=1e-12, max_iter=1000, fit_intercept=not args.no_intercept,
        ).fit(x, labels)


def penalized_loss(model: Any, x: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """``(Σ ℓ_i + alpha/2 ||coef||²) / n`` of a fitted classifier (any with ``coef_``).

    Example:
        >>> from types import SimpleNamespace
        >>> m = SimpleNamespace(coef_=np.zeros((1, 1)), intercept_=np.zeros(1),
        ...                     classes_=np.array([0, 1]))
        >>> round(penalized_loss(m, np.array([[1.0], [2.0]]), np.array([0, 1]), 1.0), 6)
        0.693147
    """
    from scipy.special import log_softmax

    z = x @ np.asarray(model.coef_).T + model.intercept_
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(z)), z])
    codes = np.searchsorted(model.classes_, labels)
    losses = -log_softmax(z, axis=1)[np.arange(len(labels)), codes]
    return float((losses.sum() + alpha / 2 * np.sum(np.asarray(model.coef_) ** 2)) / len(x))


def _print_report(args, model: Any, reference: Any, features: Any, labels: np.ndarray,
                  elapsed: float) -> None:
    names = [str(name) for name in features.columns]
    x = features.to_numpy()
    classes = [str(c) for c in model.classes_]
    print(
        f"fitted {len(x)} rows x {len(names)} feature(s), target {args.target!r}, "
        f"{len(classes)} classes {classes}: {args.optimizer}, {model.n_iter_} iterations, "
        f"{elapsed:.3f} s"
    )
    rows_of = ["" if len(classes) == 2 else f"{c}: " for c in classes]
    rows = []
    for i, prefix in enumerate(rows_of[-len(model.coef_):]):
        if not args.no_intercept:
            rows.append((f"{prefix}intercept", model.intercept_[i], reference.intercept_[i]))
        rows += [(f"{prefix}{name}", a, b)
                 for name, a, b in zip(names, model.coef_[i], reference.coef_[i], strict=True)]
    width = max(12, *(len(name) for name, _, _ in rows)) + 2
    print(f"{'parameter':<{width}}{'fitted':>22}{'LogisticRegression':>22}{'difference':>14}")
    for name, fitted, exact in rows:
        print(f"{name:<{width}}{fitted:>22.12g}{exact:>22.12g}{fitted - exact:>14.3g}")
    ours = penalized_loss(model, x, labels, args.alpha)
    theirs = penalized_loss(reference, x, labels, args.alpha)
    print(f"accuracy: {model.score(features, labels):.6f} (LogisticRegression "
          f"{reference.score(x, labels):.6f}); loss {ours:.12g} (LogisticRegression "
          f"{theirs:.12g})")
