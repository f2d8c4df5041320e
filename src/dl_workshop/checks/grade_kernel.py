"""The grader's side inside a learner's kernel: run each exercise's checker on the learner's answer.

``dl-workshop grade`` executes a notebook, then runs one more cell in the same kernel that
calls :func:`report`, which checks every exercise on what the learner's notebook defined and
prints one line per exercise, :data:`MARKER` then JSON, for the grader to read back.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dl_workshop.checks import hints_grade, registry
from dl_workshop.checks.runner import ExerciseError, learner_time_limit

#: Starts each line :func:`report` prints.
MARKER = "dl-workshop-grade: "

PASS, FAIL, MISSING, ERROR = "pass", "fail", "missing", "error"


def report(
    namespace: Mapping[str, Any], names: Sequence[str], *, seed: int, time_limit: float
) -> dict[str, str]:
    """Check each exercise in ``names`` on ``namespace[name]``; print a line each, return them.

    Args:
        namespace: the learner's kernel's globals.
        names: registered exercise names, checked in this order (an exercise that
            :attr:`~dl_workshop.checks.registry.Exercise.uses` another comes after it).
        seed: the seed of every checker's inputs (the same for the whole class).
        time_limit: seconds each call of the learner's code may take.

    Returns:
        ``{name: status}``, each ``"pass"``, ``"fail"``, ``"missing"`` or ``"error"``.

    Example:
        The package's own answer, imported instead of written, is missing:

        >>> from dl_workshop.checks.grade_kernel import report
        >>> from dl_workshop.model import linear_model
        >>> report({"linear_model": linear_model}, ["linear_model"], seed=0, time_limit=30)
        ... # doctest: +ELLIPSIS
        dl-workshop-grade: {"exercise": "linear_model", "status": "missing", ...}
        {'linear_model': 'missing'}
    """
    statuses: dict[str, str] = {}
    for name in names:
        status, message = _grade(registry.lookup(name), namespace, statuses, seed, time_limit)
        statuses[name] = status
        line = json.dumps({"exercise": name, "status": status, "message": message})
        print(MARKER + line, flush=True)
    return statuses


def _grade(
    entry: registry.Exercise,
    namespace: Mapping[str, Any],
    statuses: Mapping[str, str],
    seed: int,
    time_limit: float,
) -> tuple[str, str]:
    """``(status, message)`` of one exercise."""
    if entry.name not in namespace:
        return MISSING, hints_grade.NOT_DEFINED.format(name=entry.name)
    answer = namespace[entry.name]
    if _provided(answer):
        return MISSING, hints_grade.IMPORTED.format(name=entry.name)
    # The learner's answers to earlier exercises, where those passed (as the notebook does).
    uses = {
        keyword: namespace[other]
        for keyword, other in entry.uses
        if statuses.get(other) == PASS and other in namespace
    }
    printed = io.StringIO()
    try:
        with learner_time_limit(time_limit), contextlib.redirect_stdout(printed):
            entry.check(answer, seed=seed, **uses)
    except ExerciseError as error:
        return FAIL, str(error)
    except Exception as error:  # the checker itself could not run on this answer
        return ERROR, hints_grade.CHECKER_FAILED.format(error=f"{type(error).__name__}: {error}")
    return PASS, printed.getvalue().strip()


def _provided(answer: Any) -> bool:
    """The package's own answer (imported, or ``grad`` of it) instead of the learner's."""
    module = getattr(answer, "__module__", None) or ""
    return module == "dl_workshop" or module.startswith("dl_workshop.")
