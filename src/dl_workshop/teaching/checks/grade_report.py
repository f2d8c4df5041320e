"""The grader's results: ``grades.csv`` rewritten atomically after each notebook, and one
feedback file per notebook.

Every write goes to a temporary file in the output folder, then is renamed over the old one,
so an interrupted run (Ctrl-C, a crash) leaves the rows of every notebook graded so far, never a
half-written file. CSV cells are escaped against formula injection; feedback file names are
unique for any set of notebook paths.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dl_workshop.teaching.checks import hints_grade

__all__ = ["Results", "csv_cell", "feedback_names"]

#: A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Characters kept in a feedback file's name (others become "_").
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text (a leading ``'`` before ``= + - @``).

    Example:
        >>> from dl_workshop.teaching.checks.grade_report import csv_cell
        >>> csv_cell("=HYPERLINK(1).ipynb"), csv_cell("a.ipynb")
        ("'=HYPERLINK(1).ipynb", 'a.ipynb')
    """
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def feedback_names(paths: Sequence[Path]) -> list[str]:
    """``<stem>.md`` for each notebook, made unique (``-2``, ``-3``, ... as needed, whatever the
    stems, case-insensitively) and safe as a file name.

    Example:
        >>> from pathlib import Path
        >>> from dl_workshop.teaching.checks.grade_report import feedback_names
        >>> feedback_names([Path("a/x.ipynb"), Path("b/x.ipynb"), Path("x-2.ipynb")])
        ['x.md', 'x-2.md', 'x-2-2.md']
    """
    names, used = [], set()
    for path in paths:
        stem = _UNSAFE.sub("_", path.stem).lstrip(".") or "notebook"
        name, count = f"{stem}.md", 1
        while name.lower() in used:
            count += 1
            name = f"{stem}-{count}.md"
        used.add(name.lower())
        names.append(name)
    return names


class Results:
    """The output folder: the header at once, then one more row (and a feedback file) per
    :meth:`add`.

    Args:
        out: the folder (created if needed).
        names: the exercise columns.
        seed: the checkers' seed, named in each feedback file.
        warning: a line put at the top of every feedback file (``--no-sandbox``), or ``""``.
    """

    def __init__(self, out: Path, names: Sequence[str], seed: int, warning: str = "") -> None:
        self.out, self.names, self.seed, self.warning = Path(out), list(names), seed, warning
        self.feedback = self.out / "feedback"
        self.feedback.mkdir(parents=True, exist_ok=True)
        self.csv = self._csv_path()
        self.rows: list[list[str]] = [["notebook", "lesson", *self.names, "score"]]
        self._write_csv()

    def _csv_path(self) -> Path:
        """``grades.csv``, or the first free ``grades-N.csv`` when that is not a regular file."""
        wanted = candidate = self.out / "grades.csv"
        count = 1
        while candidate.is_symlink() or (candidate.exists() and not candidate.is_file()):
            count += 1
            candidate = self.out / f"grades-{count}.csv"
        if candidate != wanted:
            self.moved = hints_grade.CSV_MOVED.format(wanted=wanted, used=candidate)
        return candidate

    moved: str = ""

    def add(self, grade: Any) -> None:
        """Write ``grade``'s feedback file, then its row (both atomically)."""
        self._replace(self.feedback / grade.feedback, self._feedback(grade))
        cells = [grade.statuses.get(name, hints_grade.OTHER_LESSON) for name in self.names]
        self.rows.append([grade.notebook, grade.lesson or "", *cells, str(grade.score)])
        self._write_csv()

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in self.rows:
            writer.writerow([csv_cell(cell) for cell in row])
        self._replace(self.csv, buffer.getvalue())

    def _replace(self, target: Path, text: str) -> None:
        """Write ``text`` to a temporary file beside ``target``, then rename it over ``target``."""
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
                file.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _feedback(self, grade: Any) -> str:
        """The score, then each exercise's status and message, then the notes."""
        names = [name for name in self.names if name in grade.statuses]
        parts = [hints_grade.FEEDBACK_TITLE.format(notebook=Path(grade.notebook).name)]
        if self.warning:
            parts.append(self.warning)
        parts.append(
            hints_grade.FEEDBACK_SCORE.format(
                score=grade.score,
                total=len(names),
                lesson=grade.lesson or hints_grade.SUMMARY_NO_LESSON,
                seed=self.seed,
            )
        )
        for name in names:
            status = grade.statuses[name]
            parts.append(hints_grade.FEEDBACK_EXERCISE.format(name=name, status=status))
            message = grade.messages[name].replace("```", "'''")
            parts.append(f"```text\n{message}\n```")
        if grade.notes:
            parts.append(hints_grade.FEEDBACK_NOTES)
            parts.append("\n".join(f"- {note}" for note in grade.notes))
        return "\n\n".join(parts) + "\n"
