"""The lesson notebooks: generated from one source, and they run top to bottom in a real kernel."""

import importlib.util
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

from dl_workshop.teaching.checks.notebook_run import RepollingClient  # noqa: E402

pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECKS = (
    "check_linear_model",
    "check_initialize_linear_params",
    "check_mseloss",
    "check_dmseloss",
    "check_optimization_loop",
)


def _builder():
    spec = importlib.util.spec_from_file_location(
        "build_exercises", NOTEBOOKS / "build_exercises.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder():
    return _builder()


def _read(version: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"optimizing-linear-models-{version}.ipynb", as_version=4)


def _execute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = RepollingClient(  # nbclient's client, without its widget-cell stalls
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return notebook


def _stream_text(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def _exercise_names(notebook, tag):
    return [
        cell.metadata["tags"][1][3:]
        for cell in notebook.cells
        if tag in cell.metadata.get("tags", [])
    ]


@pytest.mark.parametrize("version", ["exercises", "solutions"])
def test_committed_notebooks_are_what_the_generator_builds(builder, version):
    path, _ = builder.VERSIONS[version]
    assert path.read_text(encoding="utf-8") == builder.render(builder.build(version)), (
        f"{path.name} is stale: run python notebooks/build_exercises.py"
    )
    assert builder.main(["--check"]) == 0


def test_generator_rejects_an_unknown_version(builder):
    with pytest.raises(ValueError, match=r"version must be one of \['exercises', 'solutions'\]"):
        builder.build("answers")


def test_every_exercise_has_a_stub_a_solution_and_a_check():
    exercises, solutions = _read("exercises"), _read("solutions")
    names = _exercise_names(exercises, "exercise")
    assert names == _exercise_names(solutions, "solution")
    assert {"linear_model", "initialize_linear_params", "mseloss", "dmseloss"} <= set(names)
    assert "model_optimization_loop" in names
    for index, cell in enumerate(exercises.cells):
        if "exercise" in cell.metadata.get("tags", []):
            following = exercises.cells[index + 1]
            assert following.cell_type == "code"
            assert re.match(r"check_\w+\(", following.source), following.source
    sources = "\n".join(cell.source for cell in exercises.cells)
    assert all(f"{check}(" in sources for check in CHECKS)
    # The lesson's old overwriting imports are gone: the learner's own answers are what runs.
    assert "dl_workshop.answers" not in sources
    assert "dl_workshop.answers" not in "\n".join(cell.source for cell in solutions.cells)


def _filled_in(exercises, solutions):
    answers = {
        cell.metadata["tags"][1]: cell.source
        for cell in solutions.cells
        if "solution" in cell.metadata.get("tags", [])
    }
    filled = nbformat.from_dict(exercises)
    for cell in filled.cells:
        tags = cell.metadata.get("tags", [])
        if "exercise" in tags:
            cell.source = answers[tags[1]]
    return filled


def test_exercise_notebook_with_the_solutions_filled_in_is_the_solutions_notebook():
    """So executing the solutions notebook (below) also executes the filled-in exercises."""
    filled = _filled_in(_read("exercises"), _read("solutions"))
    solutions = _read("solutions")
    assert [(c.cell_type, c.source) for c in filled.cells] == [
        (c.cell_type, c.source) for c in solutions.cells
    ]


def test_filled_in_exercise_notebook_runs_top_to_bottom_and_every_check_passes():
    """The exercise notebook with the solutions filled in (cell for cell the solutions notebook,
    as the test above shows) runs in a real kernel without a cell error."""
    notebook = _execute(_filled_in(_read("exercises"), _read("solutions")))
    text = _stream_text(notebook)
    assert text.count("\u2713 ") == 6, text  # five exercises and the matrix-form model
    fitted = re.search(r"fitted:\s+w = ([-\d.]+), b = ([-\d.]+)", text)
    exact = re.search(r"least squares: w = ([-\d.]+), b = ([-\d.]+)", text)
    assert fitted and exact
    # 150 steps of the learner's loop reach numpy.linalg.lstsq's answer to printed precision.
    assert abs(float(fitted[1]) - float(exact[1])) <= 0.002
    assert abs(float(fitted[2]) - float(exact[2])) <= 0.002
    assert "suggested step size" in text


def test_solutions_notebook_runs_top_to_bottom():
    """The solutions notebook itself, as committed, runs in a real kernel without a cell error."""
    text = _stream_text(_execute(_read("solutions")))
    assert text.count("\u2713 ") == 6, text
    assert re.search(r"fitted:\s+w = ([-\d.]+), b = ([-\d.]+)", text)


def test_unfilled_exercise_notebook_stops_at_the_first_check_with_its_hint():
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        _execute(_read("exercises"))
    assert info.value.ename == "ExerciseError"
    assert "linear_model is not right yet" in info.value.evalue
    assert "returns None: replace `pass`" in info.value.evalue


# --- The chapter's other lessons: built from their sources, and each runs within a minute. ---

#: notebook stem -> (number of checks that pass, texts the run prints, the first failure's texts)
CHAPTER = {
    "gradient-based-optimization": (
        4,
        ("after 1000 steps: w = -1.5000", "with grad(f): w = -1.5000", "compiled: w = -1.5000"),
        ("f is not right yet", "your function returns None"),
    ),
    "logistic-regression": (
        4,
        ("fitted:    w = ", "boundary at x = ", "written out with jnp.log: inf"),
        ("logistic is not right yet", "your function returns None"),
    ),
}

#: Longest a lesson notebook may take to run, kernel start included (seconds).
CHAPTER_TIME_LIMIT_S = 60


def _read_lesson(stem: str, version: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{stem}-{version}.ipynb", as_version=4)


@pytest.mark.parametrize("version", ["exercises", "solutions"])
@pytest.mark.parametrize("stem", CHAPTER)
def test_chapter_notebooks_are_what_the_generator_builds(builder, stem, version):
    source = {s: n for n, s in builder.LESSONS.items()}[stem]
    path, _ = builder.versions(stem)[version]
    built = builder.render(builder.build(version, NOTEBOOKS / "source" / f"{source}.py"))
    assert path.read_text(encoding="utf-8") == built, f"{path.name} is stale"


@pytest.mark.parametrize("stem", CHAPTER)
def test_chapter_exercises_have_a_stub_a_solution_and_a_check(stem):
    exercises, solutions = _read_lesson(stem, "exercises"), _read_lesson(stem, "solutions")
    names = _exercise_names(exercises, "exercise")
    assert len(names) == CHAPTER[stem][0]
    assert names == _exercise_names(solutions, "solution")
    for index, cell in enumerate(exercises.cells):
        if "exercise" in cell.metadata.get("tags", []):
            following = exercises.cells[index + 1]
            assert re.match(rf"check_{names.pop(0)}\(", following.source), following.source
    sources = "\n".join(cell.source for cell in solutions.cells)
    assert "dl_workshop.teaching.widgets" in sources and "dl_workshop.answers" not in sources


@pytest.mark.parametrize("stem", CHAPTER)
def test_chapter_filled_in_exercise_notebook_runs_top_to_bottom_within_a_minute(stem):
    """Filled in, the exercise notebook is cell for cell the solutions notebook, so this runs
    both; every check passes and the lesson's results are printed."""
    n_checks, printed, _ = CHAPTER[stem]
    filled = _filled_in(_read_lesson(stem, "exercises"), _read_lesson(stem, "solutions"))
    solutions = _read_lesson(stem, "solutions")
    assert [c.source for c in filled.cells] == [c.source for c in solutions.cells]
    start = time.perf_counter()
    text = _stream_text(_execute(filled))
    elapsed = time.perf_counter() - start
    assert text.count("\u2713 ") == n_checks, text
    for expected in printed:
        assert expected in text, text
    assert elapsed < CHAPTER_TIME_LIMIT_S, f"{stem} took {elapsed:.1f} s"


@pytest.mark.parametrize("stem", CHAPTER)
def test_chapter_unfilled_exercise_notebook_stops_at_the_first_check(stem):
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        _execute(_read_lesson(stem, "exercises"))
    assert info.value.ename == "ExerciseError"
    for expected in CHAPTER[stem][2]:
        assert expected in info.value.evalue
