"""The lesson notebooks: generated from one source, and they run top to bottom in a real kernel."""

import importlib.util
import os
import re
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
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
    client = nbclient.NotebookClient(
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
