"""The command line's help and global options: every option's default is in ``--help``, and
options that mean the same to every subcommand go before or after its name."""

import argparse
import re

import pytest

from dl_workshop.cli import build_parser, main


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help_blocks(text: str) -> dict[str, str]:
    """``{option string: its help text}`` from argparse's ``--help`` output."""
    blocks, current = {}, None
    for line in text.splitlines():
        match = re.match(r"^  (-{1,2}[\w-]+)", line)
        if match:
            current = match[1]
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {option: " ".join(block.split()) for option, block in blocks.items()}


def _shown(default: object) -> list[str]:
    texts = [str(default)]
    if isinstance(default, float):
        texts.append(f"{default:g}")
    return texts


SUBCOMMANDS = sorted(_subcommands())


def test_every_subcommand_is_checked():
    assert {"demo", "fit", "predict", "grade"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_shows_the_default_of_every_option_that_has_one(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    blocks = _help_blocks(capsys.readouterr().out)
    checked = 0
    for action in _subcommands()[command]._actions:
        if not action.option_strings or any(
            action.default is nothing for nothing in (None, False, argparse.SUPPRESS)
        ):
            continue
        option = action.option_strings[-1]
        help_text = blocks[option]
        assert "default" in help_text, f"{command} {option}: {help_text}"
        # argparse may wrap a long default at a hyphen: compare without spaces.
        squeezed = help_text.replace(" ", "")
        assert any(text.replace(" ", "") in squeezed for text in _shown(action.default)), (
            f"{command} {option} has default {action.default!r}; its help says: {help_text}"
        )
        checked += 1
    # Options with defaults were found and read.
    assert checked >= {"demo": 4, "fit": 8, "grade": 1}.get(command, 0)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_global_options_go_before_or_after_the_subcommand(command):
    parser = build_parser()
    needed = {"demo": [], "fit": ["d.csv", "--target", "y"], "predict": ["m.npz", "d.csv"],
              "grade": ["a.ipynb", "--out", "g"]}.get(command, [])
    after = parser.parse_args([command, *needed, "--no-compile-cache"])
    before = parser.parse_args(["--no-compile-cache", command, *needed])
    neither = parser.parse_args([command, *needed])
    assert after.no_compile_cache is True
    assert before.no_compile_cache is True
    assert neither.no_compile_cache is False


def test_global_options_are_in_every_subcommands_help(capsys):
    for command in SUBCOMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--no-compile-cache" in capsys.readouterr().out, command
