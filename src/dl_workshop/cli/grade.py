"""``dl-workshop grade``: grade a class's lesson notebooks (a thin shell over
:func:`dl_workshop.teaching.checks.grade.grade_notebooks`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

#: Seconds each cell may run when --timeout is not given.
DEFAULT_TIMEOUT = 60.0

#: The exit code of a run stopped with Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``grade`` subcommand."""
    parser = subparsers.add_parser(
        "grade",
        help="run learners' lesson notebooks and grade every exercise (for instructors)",
        description="Execute each notebook headless in its own kernel, inside a bubblewrap "
        "sandbox (a private scratch folder, no network, limits on memory, CPU, time, output "
        "and processes), then judge each exercise in this process on what the learner's "
        "functions return for inputs drawn here. DIR/grades.csv gets a row per notebook as "
        "soon as it is graded (its lesson, pass, fail, missing or error per exercise, the "
        "score); DIR/feedback/<notebook>.md has each checker's message. Needs the 'grade' "
        "extra (pip install 'dl-workshop[grade]') and bwrap.",
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
        help=f"seconds each cell (and each checked call) may run (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of the checkers' inputs (default: drawn)"
    )
    _limit_options(parser)
    parser.set_defaults(handler=run)


def _limit_options(parser: argparse.ArgumentParser) -> None:
    from dl_workshop.teaching.checks.sandbox import Limits

    defaults = Limits()
    parser.add_argument(
        "--notebook-timeout",
        type=float,
        default=defaults.wall_seconds,
        metavar="S",
        help="seconds a whole notebook may take, cells and checks "
        f"(default {defaults.wall_seconds:g})",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=defaults.memory_bytes // 2**20,
        metavar="MIB",
        help=f"memory (data size) of each process of a notebook, in MiB "
        f"(default {defaults.memory_bytes // 2**20})",
    )
    parser.add_argument(
        "--cpu-time",
        type=float,
        default=defaults.cpu_seconds,
        metavar="S",
        help=f"CPU seconds of each process of a notebook (default {defaults.cpu_seconds})",
    )
    parser.add_argument(
        "--max-output",
        type=int,
        default=defaults.output_bytes,
        metavar="BYTES",
        help="bytes of a notebook's output kept, the rest dropped with a note "
        f"(default {defaults.output_bytes})",
    )
    parser.add_argument(
        "--max-processes",
        type=int,
        default=defaults.processes,
        metavar="N",
        help=f"processes a notebook may hold at once (default {defaults.processes})",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the notebooks without the sandbox, with your rights and no limits on memory, "
        "CPU or processes (only where bwrap cannot run, and only for notebooks you trust)",
    )


def run(args: Any) -> int:
    """Grade the notebooks; print where the results went. Exit code 0 once grading completed,
    1 for a bad option or a missing sandbox, 130 when interrupted (finished rows kept)."""
    from dl_workshop.teaching.checks import hints_grade
    from dl_workshop.teaching.checks.grade import SandboxUnavailableError, grade_notebooks
    from dl_workshop.teaching.checks.sandbox import Limits

    start = time.perf_counter()
    finished: list[Any] = []
    try:
        limits = Limits(
            memory_bytes=args.memory * 2**20,
            cpu_seconds=args.cpu_time,
            wall_seconds=args.notebook_timeout,
            output_bytes=args.max_output,
            processes=args.max_processes,
        )
        grades = grade_notebooks(
            args.notebooks,
            args.out,
            timeout=args.timeout,
            seed=args.seed,
            sandboxed=not args.no_sandbox,
            limits=limits,
            finished=finished,
        )
    except (ModuleNotFoundError, ValueError, SandboxUnavailableError) as error:
        # A missing extra or sandbox, a bad option: one line, no traceback.
        print(f"dl-workshop grade: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        csv = args.out / "grades.csv"
        print(hints_grade.INTERRUPTED.format(n=len(finished), csv=csv), file=sys.stderr)
        return INTERRUPTED
    summary = hints_grade.SUMMARY.format(
        n=len(grades),
        seconds=time.perf_counter() - start,
        csv=args.out / "grades.csv",
        folder=args.out / "feedback",
    )
    print(summary)
    if args.no_sandbox:
        print(hints_grade.NO_SANDBOX_WARNING)
    return 0
