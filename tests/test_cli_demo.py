"""``dl-workshop demo``: in-process and as a subprocess; results, files and error handling."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dl_workshop.cli import main
from dl_workshop.cli.demo import ANIMATION, ANIMATION_FRAMES, DEFAULT_OUT, FIGURES
from dl_workshop.lesson.data import make_y, x

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_figures(folder: Path) -> None:
    for name in FIGURES:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name  # an empty canvas is ~2 kB


def table(stdout: str) -> dict[str, list[float]]:
    rows = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"(w|b|mse)\s+(\S+)\s+(\S+)\s+(\S+)", line.strip())
        if match:
            rows[match[1]] = [float(v) for v in match.groups()[1:]]
    return rows


def test_demo_in_process_fits_prints_table_and_writes_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no --out: the default folder in the current directory
    assert main(["demo", "--no-progress", "--seed", "2"]) == 0
    stdout = capsys.readouterr().out
    rows = table(stdout)
    # Reference: NumPy's least squares on the same data (seed 2).
    y = make_y(x, 2.0, 20.0, seed=2)
    w_ref, b_ref = np.polyfit(x, y, 1)
    learned_w, exact_w, true_w = rows["w"]
    learned_b, exact_b, true_b = rows["b"]
    assert (true_w, true_b) == (2.0, 20.0)
    assert exact_w == pytest.approx(w_ref, abs=1e-4) and exact_b == pytest.approx(b_ref, abs=1e-4)
    assert learned_w == pytest.approx(w_ref, abs=2e-3)
    assert learned_b == pytest.approx(b_ref, abs=2e-3)
    mse_ref = np.mean((y - (w_ref * x + b_ref)) ** 2)
    assert rows["mse"][0] == pytest.approx(mse_ref, abs=1e-3)
    assert rows["mse"][1] == pytest.approx(mse_ref, abs=1e-4)
    assert rows["mse"][2] >= rows["mse"][1]  # the true line fits the noisy sample less well
    assert "3000 steps" in stdout
    assert f"wrote 5 figures to {tmp_path / DEFAULT_OUT}" in stdout
    assert_figures(tmp_path / DEFAULT_OUT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--steps", "many"], "argument --steps: invalid int value: 'many'"),
        (["demo", "--step-size"], "argument --step-size: expected one argument"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_option_is_one_line_and_exit_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "0"], "--steps must be an integer >= 1; got 0"),
        (["--step-size", "-1"], "--step-size must be a finite number > 0"),
        (["--step-size", "0.5"], "diverged at step"),
        (["--seed", "-3"], "seed must be an integer >= 0"),
    ],
)
def test_library_errors_are_one_line_and_exit_code_1(options, message, tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "never"), "--no-progress", *options])
    assert code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("dl-workshop demo: error: ") and message in err
    assert not (tmp_path / "never").exists()


def test_divergence_suggests_a_smaller_step_size_in_the_commands_words(tmp_path, capsys):
    # The demo's user can change --step-size only; the library's message (kept in the
    # DivergenceError) also suggests standardizing the features.
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--step-size", "0.5"]) == 1
    err = capsys.readouterr().err
    match = re.search(r"use a smaller --step-size, e\.g\. --step-size (\S+) \(above (\S+) it", err)
    assert match, err
    suggested, max_stable = float(match[1]), float(match[2])
    # The lesson's loss is quadratic: L = 2 (mean(x²) + 1 ± ...); 1/L and 2/L bracket 0.11,
    # where --help says it starts to diverge.
    assert suggested < 0.11 < max_stable * 1.1 and suggested < 0.5
    assert "standardize" not in err and "step_size" not in err
    # A step size it suggests works.
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--step-size",
                 match[1], "--steps", "200"]) == 0


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert main(["demo", "--out", str(blocker), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"--out must be a folder; {blocker} is a file" in err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out DIR", "--steps N", "--step-size S", "--seed K", "--no-progress"):
        assert option in text
    assert all(name in text for name in FIGURES)
    assert "--animate" in text and ANIMATION in text


def test_animate_writes_the_descent_gif_too(tmp_path, capsys):
    from PIL import Image

    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--animate"]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote 5 figures to {tmp_path}" in stdout
    assert f"  {ANIMATION} ({ANIMATION_FRAMES} frames)" in stdout
    assert_figures(tmp_path)
    with Image.open(tmp_path / ANIMATION) as gif:
        assert gif.format == "GIF" and gif.n_frames == ANIMATION_FRAMES >= 10


def test_without_animate_no_gif_is_written(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--steps", "300"]) == 0
    assert not (tmp_path / ANIMATION).exists()
    assert ANIMATION not in capsys.readouterr().out


def run_module(*args, cwd):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "dl_workshop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_subprocess_demo_writes_figures(tmp_path):
    # --no-compile-cache after the subcommand, as users write it.
    done = run_module("demo", "--out", "pictures", "--no-progress", "--no-compile-cache",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_figures(tmp_path / "pictures")
    assert set(table(done.stdout)) == {"w", "b", "mse"}
    assert "Traceback" not in done.stderr


def test_subprocess_errors_have_no_traceback(tmp_path):
    bad_option = run_module("demo", "--stepz", "3", cwd=tmp_path)
    assert bad_option.returncode == 2
    assert len(bad_option.stderr.strip().splitlines()) == 1
    assert "unrecognized arguments: --stepz" in bad_option.stderr
    library = run_module("demo", "--steps", "0", "--no-progress", cwd=tmp_path)
    assert library.returncode == 1
    assert (
        library.stderr.strip() == "dl-workshop demo: error: --steps must be an integer >= 1; got 0"
    )
