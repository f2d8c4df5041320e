"""Grading a class's notebooks: ``grades.csv`` and one feedback file per notebook.

:func:`grade_notebooks` executes each learner notebook headless in its own kernel, inside a
bubblewrap sandbox (:mod:`~dl_workshop.teaching.checks.sandbox`: a private scratch folder holding
only
that notebook, no network, limits on memory, CPU, time, output and processes; everything it
started is killed at the end). Then it runs the exercise checkers **in the grader's own
process**, with each of the learner's functions replaced by a proxy whose calls go into the
kernel as plain data (:mod:`~dl_workshop.teaching.checks.remote`): the checks' inputs are drawn here
from a secret seed, and only the numbers the learner's functions return on them count. Nothing
a notebook prints, patches or defines reaches the verdict. Each exercise of the notebook's
lesson (from its ``ex-<name>`` tags, or ``metadata.dl_workshop.lesson``) gets one status:

* ``pass``: its checker accepts the answer;
* ``fail``: its checker rejects it (the feedback file has the checker's message), or the answer
  calls the package's reference answer instead of computing its own (best effort);
* ``missing``: the exercise cell is still the stub as given, the name is not defined, or it is
  the package's own answer imported instead;
* ``error``: the exercise cell could not run (syntax error, exception, time-out, a crashed or
  hung kernel), or the file is not a notebook.

``grades.csv`` gains each notebook's row as soon as it is graded
(:mod:`~dl_workshop.teaching.checks.
grade_report`). Because :class:`~dl_workshop.teaching.checks.ExerciseError` is an
``AssertionError``,
the same checkers also work as nbgrader or otter-grader test cells.
"""

from __future__ import annotations

import importlib.util
import math
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from dl_workshop.teaching.checks import hints_grade, registry, solution_sources
from dl_workshop.teaching.checks.grade_kernel import ERROR, FAIL, MISSING, PASS
from dl_workshop.teaching.checks.grade_report import Results, feedback_names
from dl_workshop.teaching.checks.inputs import _replay_seed

__all__ = ["NotebookGrade", "SandboxUnavailableError", "grade_notebooks"]

#: What the grader needs besides the package (the ``grade`` extra).
_NEEDS = ("nbclient", "nbformat", "ipykernel")

#: Sane ranges of the options (seconds, bytes, processes).
MAX_SECONDS = 86_400.0
MIN_MEMORY = 256 * 2**20
MAX_COUNT = 2**40


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot be made here (and ``sandboxed=False`` was not asked for)."""


class NotebookGrade(NamedTuple):
    """One notebook's grades."""

    notebook: str  # the path as given
    feedback: str  # the feedback file's name
    lesson: str | None  # the lesson its exercises belong to (None: unknown)
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
    sandboxed: bool = True,
    limits: Any = None,
    finished: list[NotebookGrade] | None = None,
) -> list[NotebookGrade]:
    """Grade ``notebooks``; write ``out/grades.csv`` and ``out/feedback/<stem>.md``.

    Args:
        notebooks: the learners' ``.ipynb`` files, of one lesson or several.
        out: the folder for the results (created if needed); ``grades.csv`` is rewritten
            (atomically) after each notebook.
        timeout: seconds each cell may run, and each call of the learner's code in the checks.
        seed: the seed of the checkers' inputs, the same for every notebook (default: drawn
            secretly, once; each feedback file names it).
        progress: show a progress bar over the notebooks (on stderr).
        sandboxed: run each kernel in the sandbox (``False``: with the grader's rights).
        limits: a :class:`~dl_workshop.teaching.checks.sandbox.Limits` (default: its defaults).
        finished: a list that gets each grade as soon as its row is written (what is left
            when the run is interrupted).

    Returns:
        One :class:`NotebookGrade` per notebook, in order.

    Raises:
        ModuleNotFoundError: if nbclient, nbformat or ipykernel is not installed.
        ValueError: if ``timeout`` or a limit is not finite or outside its range.
        SandboxUnavailableError: if the sandbox cannot be made here and ``sandboxed`` is true.
        KeyboardInterrupt: after killing the current notebook's sandbox; the rows of the
            notebooks graded before are in ``grades.csv``.

    Example:
        >>> import tempfile
        >>> from dl_workshop.teaching.checks.grade import grade_notebooks
        >>> out = tempfile.mkdtemp()
        >>> grades = grade_notebooks(["not-there.ipynb"], out, progress=False, sandboxed=False)
        >>> grades[0].statuses["linear_model"], grades[0].score
        ('error', 0)
    """
    _require_packages()
    from dl_workshop.teaching.checks.sandbox import Limits, unavailable

    timeout = check_seconds("timeout", timeout, 1.0)
    limits = check_limits(Limits() if limits is None else limits)
    if sandboxed and (reason := unavailable()) is not None:
        raise SandboxUnavailableError(hints_grade.NO_SANDBOX.format(reason=reason))
    seed = secrets.randbelow(2**31) if seed is None else _replay_seed(seed)
    paths = [Path(path) for path in notebooks]
    read = [_read(path) for path in paths]
    lessons = [_lesson(notebook) for notebook in read]
    names = _columns(lessons)
    warning = "" if sandboxed else hints_grade.NO_SANDBOX_WARNING
    results = Results(Path(out), names, seed, warning)
    grades = [] if finished is None else finished
    jobs = list(zip(paths, read, lessons, feedback_names(paths), strict=True))
    for path, notebook, lesson, feedback in _progress(jobs, progress):
        job = _Job(path, notebook, lesson, feedback, names, timeout, seed, limits, sandboxed)
        grade = _grade_one(job)
        grades.append(grade)
        results.add(grade)
    return grades


def _require_packages() -> None:
    for package in _NEEDS:
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(hints_grade.NEEDS_EXTRA.format(missing=package))


#: Largest notebook file read (bytes).
_MAX_NOTEBOOK_BYTES = 64 * 2**20


def check_seconds(name: str, value: Any, low: float, high: float = MAX_SECONDS) -> float:
    """``value`` as a float of seconds in ``[low, high]``.

    Raises:
        ValueError: naming the option, for anything else (booleans, NaN, infinities).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(hints_grade.BAD_SECONDS.format(name=name, low=low, high=high, value=value))
    return float(value)


def check_count(name: str, value: Any, low: int, high: int = MAX_COUNT) -> int:
    """``value`` as an int in ``[low, high]``.

    Raises:
        ValueError: naming the option, for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(hints_grade.BAD_COUNT.format(name=name, low=low, high=high, value=value))
    return int(value)


def check_limits(limits: Any) -> Any:
    """The limits, each checked (one-line ``ValueError`` naming the option otherwise)."""
    return limits._replace(
        memory_bytes=check_count("memory", limits.memory_bytes, MIN_MEMORY),
        cpu_seconds=math.ceil(check_seconds("cpu-time", limits.cpu_seconds, 1.0)),
        wall_seconds=check_seconds("notebook-timeout", limits.wall_seconds, 1.0),
        output_bytes=check_count("max-output", limits.output_bytes, 0),
        processes=check_count("max-processes", limits.processes, 2, 100_000),
        file_bytes=check_count("file size", limits.file_bytes, 2**20),
    )


def _require_packages() -> None:
    for package in _NEEDS:
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(hints_grade.NEEDS_EXTRA.format(missing=package))


def _read(path: Path) -> Any:
    """The notebook, valid against the notebook schema, or the exception that reading or
    validating it raised (never raised here)."""
    import nbformat

    try:
        if not path.is_file():
            raise FileNotFoundError(f"not a file: {path}")
        if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
            raise ValueError(f"larger than {_MAX_NOTEBOOK_BYTES} bytes")
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        _tagged_cells(notebook)  # every field the grader reads has its type
        return notebook
    except Exception as error:  # not a file, not JSON, not a notebook: graded as such
        return error


def _tagged_cells(notebook: Any) -> dict[str, int]:
    """``{exercise: index of the last code cell tagged ex-<exercise>}``.

    Raises:
        TypeError: for a cell or a tag of the wrong type.
    """
    cells = {}
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if not isinstance(tags, list) or not isinstance(cell.get("source"), str):
            raise TypeError(f"cell {index + 1}: tags must be a list and source a string")
        for tag in tags:
            if not isinstance(tag, str):
                raise TypeError(f"cell {index + 1}: a tag that is not a string: {tag!r}")
            if cell.cell_type == "code" and tag.startswith("ex-"):
                cells[tag[3:]] = index
    return cells


def _lesson(notebook: Any) -> str | None:
    """The notebook's lesson: ``metadata.dl_workshop.lesson``, else the lesson most of its
    ``ex-`` tags belong to (``None`` for a file that is not a notebook, or has neither)."""
    if isinstance(notebook, Exception):
        return None
    known = {entry.lesson for entry in registry.exercises()}
    declared = notebook.metadata.get("dl_workshop", {})
    lesson = declared.get("lesson") if isinstance(declared, dict) else None
    if isinstance(lesson, str) and lesson in known:
        return lesson
    names = {entry.name: entry.lesson for entry in registry.exercises()}
    counts = Counter(names[name] for name in _tagged_cells(notebook) if name in names)
    order = list(dict.fromkeys(names.values()))
    return max(counts, key=lambda name: (counts[name], -order.index(name))) if counts else None


def _columns(lessons: list[str | None]) -> list[str]:
    """The exercise columns: those of every lesson present, in registry order (every
    registered exercise when no notebook has a lesson)."""
    present = set(lessons)
    chosen = [entry.name for entry in registry.exercises() if entry.lesson in present]
    return chosen or [entry.name for entry in registry.exercises()]


def _progress(items: list, show: bool) -> Any:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="grading", unit="notebook")


class _Job(NamedTuple):
    path: Path
    notebook: Any
    lesson: str | None
    feedback: str
    columns: list[str]
    timeout: float
    seed: int
    limits: Any
    sandboxed: bool

    @property
    def names(self) -> list[str]:
        """The exercises graded: the lesson's (every column when the lesson is unknown)."""
        if self.lesson is None:
            return list(self.columns)
        return [entry.name for entry in registry.exercises(self.lesson)]


def _grade_one(job: _Job) -> NotebookGrade:
    start = time.perf_counter()
    names = job.names
    if isinstance(job.notebook, Exception):
        message = hints_grade.NOT_A_NOTEBOOK.format(error=_first_line(job.notebook))
        statuses, messages, notes = dict.fromkeys(names, ERROR), dict.fromkeys(names, message), []
    else:
        run = _run(job, names)
        statuses, messages = _statuses(job.notebook, names, run)
        notes = list(run.notes)
    seconds = time.perf_counter() - start
    return NotebookGrade(
        str(job.path), job.feedback, job.lesson, statuses, messages, notes, seconds
    )


def _run(job: _Job, names: list[str]) -> Any:
    """Run the notebook in a private scratch folder (removed after), then probe its answers."""
    import nbformat

    from dl_workshop.teaching.checks.grade_judge import probe_answers
    from dl_workshop.teaching.checks.notebook_run import KernelSpec, run_notebook

    scratch = Path(tempfile.mkdtemp(prefix="dl-workshop-grade-"))
    try:
        work, run = scratch / "work", scratch / "run"
        work.mkdir()
        run.mkdir()
        nbformat.write(job.notebook, work / "notebook.ipynb")
        kernel = KernelSpec(work, run, job.limits, job.sandboxed)

        def probe(execute: Any) -> Any:
            return probe_answers(execute, names, seed=job.seed, limit=job.timeout)

        return run_notebook(job.notebook, timeout=job.timeout, kernel=kernel, probe=probe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _statuses(notebook: Any, names: list[str], run: Any) -> tuple[dict, dict]:
    """Each exercise's status and message, from its cell's run and its probe's verdict."""
    from dl_workshop.teaching.checks.notebook_run import LOST, OK, TIMEOUT

    cells = _tagged_cells(notebook)
    verdicts = run.probed or {}
    statuses, messages = {}, {}
    for name in names:
        index = cells.get(name)
        cell_run = run.cells.get(index) if index is not None else None
        verdict = verdicts.get(name)
        if cell_run is not None and cell_run.status != OK:
            status = ERROR
            if cell_run.status == TIMEOUT:
                message = cell_run.detail
            elif cell_run.status == LOST:
                message = hints_grade.CELL_LOST.format(cell=index + 1, lost=cell_run.detail)
            else:
                message = hints_grade.CELL_ERROR.format(cell=index + 1, error=cell_run.detail)
        elif verdict is None:
            status = ERROR
            message = hints_grade.NOT_CHECKED.format(reason=run.checks_problem or "")
        else:
            status, message = verdict
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
