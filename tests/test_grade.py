"""``dl-workshop grade``: a folder of generated learner notebooks, graded cell by cell.

One grading run (five kernels, one of them replaced after a crash) serves every test below:
kernels are slow to start.
"""

import contextlib
import copy
import csv
import io
from pathlib import Path

import nbformat
import pytest

from dl_workshop.cli import main
from dl_workshop.teaching.checks import solution

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON = "optimizing_linear_models"
COLUMNS = [
    "notebook",
    "lesson",
    "linear_model",
    "initialize_linear_params",
    "mseloss",
    "dmseloss",
    "model_optimization_loop",
    "linear_model_matrix",
    "score",
]
#: Seconds per cell: above the slowest cell of the notebooks below on a busy 2-core machine,
#: and what the endless loop costs.
TIMEOUT = "8"


def _trimmed_exercises() -> nbformat.NotebookNode:
    """The exercise notebook as given, without the lesson's slow figures and fits: its imports,
    the data, every exercise and the check after it."""
    notebook = nbformat.read(NOTEBOOKS / "optimizing-linear-models-exercises.ipynb", as_version=4)
    kept, after_exercise = [], False
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code":
            needed = "import jax\n" in cell.source or "make_y(x" in cell.source
            if needed or "exercise" in tags or after_exercise:
                kept.append(cell)
            after_exercise = "exercise" in tags
        else:
            kept.append(cell)
    notebook.cells = kept
    return notebook


def _filled(**answers: str) -> nbformat.NotebookNode:
    """The trimmed notebook with the reference solutions, except ``answers`` (name: source)."""
    notebook = copy.deepcopy(_trimmed_exercises())
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "exercise" in tags:
            name = tags[1][3:]
            cell.source = answers.get(name, solution(name))
    return notebook


def _write_class(folder: Path) -> list[Path]:
    folder.mkdir()
    notebooks = {
        "all_right.ipynb": _filled(),
        "some_wrong.ipynb": _filled(
            linear_model="def linear_model(theta, x):\n    return theta['w'] * x",
            mseloss="def mseloss(theta, model, x, y):\n"
            "    return jnp.sum((y - model(theta, x)) ** 2)",
            linear_model_matrix="from dl_workshop.answers import linear_model as "
            "linear_model_matrix",
        ),
        # A crash of the kernel, a syntax error and an endless loop, each in an exercise cell.
        "broken.ipynb": _filled(
            linear_model="import os\n\nos._exit(1)",
            dmseloss="dmseloss = grad(mseloss",
            model_optimization_loop=solution("model_optimization_loop")
            + "\n\nwhile True:\n    pass",
        ),
        "untouched.ipynb": _trimmed_exercises(),
    }
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / name)
    (folder / "not_json.ipynb").write_text("this is not a notebook {", encoding="utf-8")
    (folder / "again").mkdir()
    (folder / "again" / "not_json.ipynb").write_text("", encoding="utf-8")
    order = ["all_right", "some_wrong", "broken", "not_json", "untouched"]
    return [folder / f"{stem}.ipynb" for stem in order] + [folder / "again" / "not_json.ipynb"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    paths = _write_class(root / "class")
    out = root / "out"
    stderr, stdout = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        # The kernels share one compilation cache, as a class graded with the CLI does.
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(root / "jax-cache"))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            argv = ["--no-compile-cache", "grade", *map(str, paths), "--out", str(out)]
            code = main([*argv, "--timeout", TIMEOUT, "--seed", "1"])
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    return {
        "code": code,
        "rows": rows,
        "out": out,
        "paths": paths,
        "stderr": stderr.getvalue(),
        "stdout": stdout.getvalue(),
    }


def _feedback(graded, name):
    return (graded["out"] / "feedback" / name).read_text(encoding="utf-8")


def test_grading_completes_with_exit_code_0_and_a_progress_bar(graded):
    assert graded["code"] == 0
    assert "grading" in graded["stderr"] and "6/6" in graded["stderr"]
    assert "graded 6 notebook(s)" in graded["stdout"]


def test_grades_csv_has_a_row_per_notebook_with_exact_cells(graded):
    rows = graded["rows"]
    assert rows[0] == COLUMNS
    paths = [str(path) for path in graded["paths"]]
    assert rows[1:] == [
        [paths[0], LESSON, "pass", "pass", "pass", "pass", "pass", "pass", "6"],
        # linear_model forgets b, mseloss sums, dmseloss is grad of that mseloss, and the
        # matrix model is the package's own, imported.
        [paths[1], LESSON, "fail", "pass", "fail", "fail", "pass", "missing", "2"],
        # Crashed kernel, syntax error, endless loop; the rest still graded.
        [paths[2], LESSON, "error", "pass", "pass", "error", "error", "pass", "3"],
        [paths[3], "", "error", "error", "error", "error", "error", "error", "0"],
        [paths[4], LESSON, "missing", "missing", "missing", "missing", "missing", "missing", "0"],
        [paths[5], "", "error", "error", "error", "error", "error", "error", "0"],
    ]


def test_each_notebook_gets_a_feedback_file_named_after_its_stem(graded):
    names = sorted(path.name for path in (graded["out"] / "feedback").iterdir())
    assert names == [
        "all_right.md",
        "broken.md",
        "not_json-2.md",
        "not_json.md",
        "some_wrong.md",
        "untouched.md",
    ]


def test_feedback_has_the_checkers_messages(graded):
    text = _feedback(graded, "some_wrong.md")
    assert text.startswith("# Feedback: some_wrong.ipynb\n\nScore: 2 of 6 exercises pass")
    assert "## linear_model: fail" in text
    assert "you forgot to add the bias b" in text
    assert "you sum the squared errors instead of averaging them" in text
    assert "seed=1\n```" in text  # the replayable seed of the checker's message
    assert "## linear_model_matrix: missing" in text
    assert "the package's own answer (imported from dl_workshop)" in text
    assert "\u2713 the optimization loop" in _feedback(graded, "all_right.md")


def test_feedback_names_the_cell_that_could_not_run(graded):
    text = _feedback(graded, "broken.md")
    assert "SyntaxError" in text
    assert "crashed the kernel" in text
    assert "did not finish within 8 s" in text
    assert "## Notes" in text and "the notebook was run again without it" in text
    assert "could not be read as a notebook" in _feedback(graded, "not_json.md")
    assert "still the stub as given" in _feedback(graded, "untouched.md")


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nbclient" else real(name)
    )
    code = main(["--no-compile-cache", "grade", "x.ipynb", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "nbclient is missing" in err and "pip install 'dl-workshop[grade]'" in err


def test_a_timeout_below_one_second_is_refused(capsys, tmp_path):
    argv = ["--no-compile-cache", "grade", "x.ipynb", "--out", str(tmp_path)]
    code = main([*argv, "--timeout", "0"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "timeout must be a finite number of seconds from 1 to 86400; got 0.0" in err


def test_one_run_grades_the_three_lessons_solutions_each_on_its_own_exercises(tmp_path):
    """Issue 22 item 4: a class of several lessons in one run; every exercise passes and each
    row names its lesson (the other lessons' cells stay empty)."""
    from dl_workshop.teaching.checks import registry
    from dl_workshop.teaching.checks.grade import grade_notebooks

    stems = ["optimizing-linear-models", "logistic-regression", "gradient-based-optimization"]
    paths = [NOTEBOOKS / f"{stem}-solutions.ipynb" for stem in stems]
    grades = grade_notebooks(paths, tmp_path, timeout=120, seed=5, progress=False)
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    lessons = ["optimizing_linear_models", "logistic_regression", "gradient_optimization"]
    names = [entry.name for entry in registry.exercises() if entry.lesson in lessons]
    assert rows[0] == ["notebook", "lesson", *names, "score"]
    for row, path, lesson, grade in zip(rows[1:], paths, lessons, grades, strict=True):
        own = {entry.name for entry in registry.exercises(lesson)}
        expected = ["pass" if name in own else "" for name in names]
        assert row == [str(path), lesson, *expected, str(len(own))], grade.messages
