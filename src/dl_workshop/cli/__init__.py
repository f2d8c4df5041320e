"""The ``dl-workshop`` command line: a thin shell over the library.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its parser and
sets ``handler``: a function taking the parsed arguments and returning an exit code. Library
errors (``ValueError``, ``TypeError``, ``OSError``, a missing optional dependency's ``ImportError``,
...) become one line on stderr and exit code 1;
usage errors exit with code 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dl_workshop import _compile_cache, _version
from dl_workshop.cli import demo, fit, grade

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = [demo, fit, grade]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (``dl-workshop: error: ...``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
        prog="dl-workshop",
        description="Gradient-based optimization of linear models with JAX: the lesson's demo, "
        "fitting your own data, predicting with a saved model, grading learners' notebooks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version.__version__}")
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache (also: DL_WORKSHOP_NO_COMPILE_CACHE=1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (also used by the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _compile_cache.enable_compile_cache(enabled=not args.no_compile_cache)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("dl-workshop: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, FloatingPointError, KeyError, ImportError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"dl-workshop {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
