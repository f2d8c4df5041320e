"""The ``dl-workshop`` command line: a thin shell over the library.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its parser and
sets ``handler``: a function taking the parsed arguments and returning an exit code. Options
that mean the same everywhere (``--no-compile-cache``) go before or after the subcommand. Library
errors (``ValueError``, ``TypeError``, ``OSError``, a missing optional dependency's ``ImportError``,
...) become one line on stderr and exit code 1;
usage errors exit with code 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dl_workshop import _version
from dl_workshop.cli import demo, fit, grade
from dl_workshop.compilation import cache as _compile_cache

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = [demo, fit, grade]


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default: ``(default: X)`` is appended to an option
    whose help does not say its default already (flags, and options without one, are left)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS))
            or "default" in text
        ):
            return action.help
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (``dl-workshop: error: ...``) and exit code 2,
    and every option's default is in ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: Help of the options that every subcommand takes as well, before or after its name.
NO_COMPILE_CACHE_HELP = (
    "do not use JAX's persistent compilation cache (also: DL_WORKSHOP_NO_COMPILE_CACHE=1)"
)


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """The options that mean the same to every subcommand. A subcommand's copy has
    ``default=SUPPRESS``, so that leaving it out there keeps what was given before the name."""
    parser.add_argument(
        "--no-compile-cache", action="store_true", default=default, help=NO_COMPILE_CACHE_HELP
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
        prog="dl-workshop",
        description="Gradient-based optimization of linear models with JAX: the lesson's demo, "
        "fitting your own data, predicting with a saved model, grading learners' notebooks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version.__version__}")
    _add_global_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for command in COMMANDS:
        command.register(subparsers)
    for subparser in subparsers.choices.values():
        _add_global_options(subparser, default=argparse.SUPPRESS)
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
