"""Grading a class's notebooks: ``grades.csv`` and one feedback file per notebook.

:func:`grade_notebooks` executes each learner notebook headless in its own kernel
(:mod:`~dl_workshop.checks.notebook_run`), runs the checkers on the learner's answers in that
kernel, and gives each exercise one status:

* ``pass``: its checker accepts the answer;
* ``fail``: its checker rejects it (the feedback file has the checker's message);
* ``missing``: the exercise cell is still the stub as given, the name is not defined, or it is
  the package's own answer imported instead;
* ``error``: the exercise cell could not run (syntax error, exception, time-out, a crashed or
  hung kernel), or the file is not a notebook.

Exercise cells are found by their ``ex-<name>`` tags. A notebook that is not JSON, loops
forever or crashes its kernel gets its row and its feedback file like any other. Because
:class:`~dl_workshop.checks.ExerciseError` is an ``AssertionError``, the same checkers also
work as nbgrader or otter-grader test cells. The learner's code runs with the grader's rights:
grade notebooks in an account (or container) that holds nothing else of value.
"""

from __future__ import annotations

import csv
import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from dl_workshop.checks import hints_grade, registry, solution_sources
from dl_workshop.checks.grade_kernel import ERROR, FAIL, MISSING, PASS
from dl_workshop.checks.inputs import _replay_seed

__all__ = ["NotebookGrade", "grade_notebooks"]

#: What the grader needs besides the package (the ``grade`` extra).
_NEEDS = ("nbclient", "nbformat", "ipykernel")


class NotebookGrade(NamedTuple):
    """One notebook's grades."""

    notebook: str  # the path as given
    feedback: str  # the feedback file's name
    statuses: dict[str, str]  # exercise -> "pass", "fail", "missing" or "error"
    messages: dict[str, str]  # exercise -> what the checker (or the grader) said
    notes: list[str]  # what the run had to work around
    seconds: float  # time spent on this notebook

    @property
    def score(self) -> int:
        """How many exercises pass."""
        return sum(status == PASS for status in self.statuses.values())


def grade_notebooks(
    notebooks: Sequence[str | Path],
    out: str | Path,
    *,
    timeout: float = 60.0,
    seed: int | None = None,
    progress: bool = True,
) -> list[NotebookGrade]:
    """Grade ``notebooks``; write ``out/grades.csv`` and ``out/feedback/<stem>.md``.

    Args:
        notebooks: the learners' ``.ipynb`` files.
        out: the folder for the results (created if needed).
        timeout: seconds each cell may run, and each call of the learner's code in the checks.
        seed: the seed of the checkers' inputs, the same for every notebook (default: drawn
            once; each feedback file names it).
        progress: show a progress bar over the notebooks (on stderr).

    Returns:
        One :class:`NotebookGrade` per notebook, in order.

    Raises:
        ModuleNotFoundError: if nbclient, nbformat or ipykernel is not installed.
        ValueError: if ``timeout`` is below 1 s.

    Example:
        >>> import tempfile
        >>> from dl_workshop.checks.grade import grade_notebooks
        >>> out = tempfile.mkdtemp()
        >>> grades = grade_notebooks(["not-there.ipynb"], out, progress=False)
        >>> grades[0].statuses["linear_model"], grades[0].score
        ('error', 0)
    """
    _require_packages()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 1:
        raise ValueError(hints_grade.BAD_TIMEOUT.format(timeout=timeout))
    seed = _replay_seed(seed)
    paths = [Path(path) for path in notebooks]
    read = [_read(path) for path in paths]
    names = _exercise_names(read)
    feedback_names = _feedback_names(paths)
    grades = []
    jobs = list(zip(paths, read, feedback_names, strict=True))
    for path, notebook, feedback in _progress(jobs, progress):
        grades.append(_grade_one(path, notebook, names, feedback, float(timeout), seed))
    _write(Path(out), names, grades, seed)
    return grades


def _require_packages() -> None:
    for package in _NEEDS:
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(hints_grade.NEEDS_EXTRA.format(missing=package))


def _read(path: Path) -> Any:
    """The notebook, or the exception that reading it raised (never raised here)."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # not a file, not JSON, not a notebook: graded as such
        return error


def _exercise_names(read: list[Any]) -> list[str]:
    """The columns: the exercises of every lesson whose ``ex-`` tags a notebook carries
    (every registered exercise when no notebook could be read), in registry order."""
    notebooks = [notebook for notebook in read if not isinstance(notebook, Exception)]
    tagged = {name for notebook in notebooks for name in _tagged_cells(notebook)}
    lessons = {entry.lesson for entry in registry.exercises() if entry.name in tagged}
    chosen = [entry.name for entry in registry.exercises() if entry.lesson in lessons]
    return chosen or [entry.name for entry in registry.exercises()]


def _tagged_cells(notebook: Any) -> dict[str, int]:
    """``{exercise: index of the last code cell tagged ex-<exercise>}``."""
    cells = {}
    for index, cell in enumerate(notebook.cells):
        for tag in cell.get("metadata", {}).get("tags", []):
            if cell.cell_type == "code" and tag.startswith("ex-"):
                cells[tag[3:]] = index
    return cells


def _feedback_names(paths: list[Path]) -> list[str]:
    """``<stem>.md`` for each notebook; ``<stem>-2.md``, ... when stems repeat."""
    names, seen = [], {}
    for path in paths:
        count = seen[path.stem] = seen.get(path.stem, 0) + 1
        names.append(f"{path.stem}.md" if count == 1 else f"{path.stem}-{count}.md")
    return names


def _progress(items: list, show: bool) -> Any:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="grading", unit="notebook")


def _grade_one(
    path: Path, notebook: Any, names: list[str], feedback: str, timeout: float, seed: int
) -> NotebookGrade:
    start = time.perf_counter()
    if isinstance(notebook, Exception):
        message = hints_grade.NOT_A_NOTEBOOK.format(error=_first_line(notebook))
        statuses, messages, notes = dict.fromkeys(names, ERROR), dict.fromkeys(names, message), []
    else:
        from dl_workshop.checks.notebook_run import run_notebook

        run = run_notebook(notebook, names, timeout=timeout, cwd=path.parent, seed=seed)
        statuses, messages = _statuses(notebook, names, run)
        notes = list(run.notes)
    seconds = time.perf_counter() - start
    return NotebookGrade(str(path), feedback, statuses, messages, notes, seconds)


def _statuses(notebook: Any, names: list[str], run: Any) -> tuple[dict, dict]:
    """Each exercise's status and message, from its cell's run and its check's report."""
    from dl_workshop.checks.notebook_run import LOST, OK, TIMEOUT

    cells = _tagged_cells(notebook)
    statuses, messages = {}, {}
    for name in names:
        index = cells.get(name)
        cell_run = run.cells.get(index) if index is not None else None
        report = run.reports.get(name)
        if cell_run is not None and cell_run.status != OK:
            status = ERROR
            if cell_run.status == TIMEOUT:
                message = cell_run.detail
            elif cell_run.status == LOST:
                message = hints_grade.CELL_LOST.format(cell=index + 1, lost=cell_run.detail)
            else:
                message = hints_grade.CELL_ERROR.format(cell=index + 1, error=cell_run.detail)
        elif report is None:
            status = ERROR
            message = hints_grade.NOT_CHECKED.format(reason=run.checks_problem or "")
        else:
            status, message = report["status"], report["message"]
            if status == FAIL and index is not None and _is_stub(notebook.cells[index], name):
                status, message = MISSING, hints_grade.LEFT_AS_GIVEN.format(message=message)
        statuses[name], messages[name] = status, message
    return statuses, messages


def _is_stub(cell: Any, name: str) -> bool:
    """The cell is the exercise's stub as given (trailing spaces aside)."""
    stub = solution_sources.STUBS.get(name)
    return stub is not None and _normalized(cell.source) == _normalized(stub)


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _write(out: Path, names: list[str], grades: list[NotebookGrade], seed: int) -> None:
    feedback = out / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["notebook", *names, "score"])
        for grade in grades:
            writer.writerow([grade.notebook, *(grade.statuses[n] for n in names), grade.score])
    for grade in grades:
        (feedback / grade.feedback).write_text(_feedback(grade, names, seed), encoding="utf-8")


def _feedback(grade: NotebookGrade, names: list[str], seed: int) -> str:
    """The feedback file: the score, then each exercise's status and message."""
    parts = [
        hints_grade.FEEDBACK_TITLE.format(notebook=Path(grade.notebook).name),
        hints_grade.FEEDBACK_SCORE.format(score=grade.score, total=len(names), seed=seed),
    ]
    for name in names:
        parts.append(hints_grade.FEEDBACK_EXERCISE.format(name=name, status=grade.statuses[name]))
        parts.append(f"```text\n{grade.messages[name]}\n```")
    if grade.notes:
        parts.append(hints_grade.FEEDBACK_NOTES)
        parts.append("\n".join(f"- {note}" for note in grade.notes))
    return "\n\n".join(parts) + "\n"
