"""``dl-workshop grade``: grade a class's lesson notebooks (a thin shell over
:func:`dl_workshop.checks.grade.grade_notebooks`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

#: Seconds each cell may run when --timeout is not given.
DEFAULT_TIMEOUT = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``grade`` subcommand."""
    parser = subparsers.add_parser(
        "grade",
        help="run learners' lesson notebooks and grade every exercise (for instructors)",
        description="Execute each notebook headless in its own kernel (errors allowed, each "
        "cell under a time limit), run the exercise checkers on the learner's answers in that "
        "kernel, and write DIR/grades.csv (a row per notebook: pass, fail, missing or error "
        "per exercise, and the score) and DIR/feedback/<notebook>.md with each checker's "
        "message. Needs the 'grade' extra: pip install 'dl-workshop[grade]'.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help=".ipynb files")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder for the results (created)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds each cell may run (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of the checkers' inputs (default: drawn)"
    )
    parser.set_defaults(handler=run)


def run(args: Any) -> int:
    """Grade the notebooks; print where the results went. Exit code 0 once grading completed."""
    from dl_workshop.checks import hints_grade
    from dl_workshop.checks.grade import grade_notebooks

    start = time.perf_counter()
    try:
        grades = grade_notebooks(args.notebooks, args.out, timeout=args.timeout, seed=args.seed)
    except ModuleNotFoundError as error:
        # The 'grade' extra is missing: one line naming it, no traceback.
        print(f"dl-workshop grade: error: {error}", file=sys.stderr)
        return 1
    print(
        hints_grade.SUMMARY.format(
            n=len(grades),
            seconds=time.perf_counter() - start,
            csv=args.out / "grades.csv",
            folder=args.out / "feedback",
        )
    )
    return 0
