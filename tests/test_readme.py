"""The README is for users: short, its set-up commands near the top and working, CI running its
test command verbatim, its examples runnable, its links alive, and no history in it (that is
CHANGELOG.md's job)."""

import re
import shlex
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINES = README.splitlines()

#: The two set-up commands users copy, verbatim.
DEMO_COMMAND = "pip install . && dl-workshop demo"
TEST_COMMAND = 'pip install -e ".[test]" && pytest'
VENV_COMMAND = "python3 -m venv .venv && source .venv/bin/activate"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_readme_is_short():
    assert len(LINES) <= 200, f"README.md has {len(LINES)} lines; the site holds the details"


def test_the_set_up_commands_are_verbatim_in_the_first_40_lines():
    top = LINES[:40]
    for command in (VENV_COMMAND, DEMO_COMMAND, TEST_COMMAND):
        assert command in top, f"{command!r} is not a line of the README's first 40"
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = python.removeprefix(">=")
    assert f"Python {version} or newer" in "\n".join(top)


def test_ci_runs_the_readmes_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in ci


@pytest.mark.parametrize("word", ["round", "rounds", "session", "sessions", "what's new"])
def test_no_history_or_internal_narrative(word):
    found = [n + 1 for n, line in enumerate(LINES) if re.search(rf"\b{word}\b", line, re.I)]
    assert not found, f"{word!r} on README line(s) {found}: history goes to CHANGELOG.md"


def test_relative_links_point_at_files_that_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    for link in local:
        assert (ROOT / link).exists(), link


def test_the_learners_example_reaches_least_squares(capsys):
    block = next(b for b in _blocks("python") if "initialize_linear_params" in b)
    namespace = {}
    exec(compile(block, "README.md (learners)", "exec"), namespace)
    x, y, theta = namespace["x"], namespace["y"], namespace["result"].theta
    (w, b), *_ = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)
    np.testing.assert_allclose([float(theta["w"]), float(theta["b"])], [w, b], atol=1e-3)
    assert namespace["result"].status in capsys.readouterr().out


def test_the_instructors_example_names_the_mistake():
    from dl_workshop.teaching.checks import ExerciseError

    block = next(b for b in _blocks("python") if "check_mseloss" in b)
    with pytest.raises(ExerciseError, match="you sum the squared errors instead of averaging"):
        exec(compile(block, "README.md (instructors)", "exec"), {})


def test_the_practitioners_example_equals_linear_regression(capsys):
    from sklearn.linear_model import LinearRegression

    block = next(b for b in _blocks("python") if "GradientDescentRegressor" in b)
    namespace = {}
    exec(compile(block, "README.md (practitioners)", "exec"), namespace)
    reference = LinearRegression().fit(namespace["X"], namespace["y"])
    np.testing.assert_allclose(namespace["model"].coef_, reference.coef_, rtol=1e-8)
    capsys.readouterr()


def test_the_practitioners_commands_work(tmp_path, monkeypatch, capsys):
    from dl_workshop.cli import main

    commands = [
        line.strip() for block in _blocks("bash") for line in block.splitlines()
        if line.startswith(("dl-workshop fit", "dl-workshop predict"))
    ]
    assert [c.split()[1] for c in commands] == ["fit", "predict"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 4.0 + 0.01 * rng.normal(size=60)
    header = "a,b,c,y\n"
    (tmp_path / "data.csv").write_text(header + "".join(
        f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(x, y, strict=True)))
    (tmp_path / "new.csv").write_text("a,b,c\n1,0,0\n0,0,0\n")
    monkeypatch.chdir(tmp_path)
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    predictions = np.loadtxt(tmp_path / "predictions.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(predictions, [5.5, 4.0], atol=0.02)
    capsys.readouterr()
