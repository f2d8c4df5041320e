"""The verdicts, in the grader's process: each exercise's checker run on proxies of the
learner's functions (:mod:`~dl_workshop.teaching.checks.remote`).

The checkers are the very ``check_*`` functions a notebook calls (one implementation): they
draw their inputs here, from the grader's seed, call the learner's functions through the
proxies (plain data in, plain data out) and judge what came back here. The kernel only ever
sees the inputs of each call.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

from dl_workshop.teaching.checks import hints_grade, plain, registry
from dl_workshop.teaching.checks.grade_kernel import ERROR, FAIL, MISSING, PASS
from dl_workshop.teaching.checks.remote import KernelLostError, Session
from dl_workshop.teaching.checks.runner import ExerciseError

__all__ = ["probe_answers"]


def probe_answers(
    execute: Callable[[str, float], str], names: Sequence[str], *, seed: int, limit: float
) -> dict[str, tuple[str, str]]:
    """``{exercise: (status, message)}`` for ``names``, judged here on the kernel's answers.

    Args:
        execute: evaluates an expression in the learner's kernel (see
            :class:`~dl_workshop.teaching.checks.remote.Session`).
        names: registered exercises, in order (one that ``uses`` another comes after it).
        seed: the seed of the checkers' inputs (never sent to the kernel).
        limit: seconds each call of the learner's code may run.

    Raises:
        KernelLostError: if the kernel does not answer the first question.
    """
    session = Session(execute, limit, references=names)
    try:
        info = session.describe(names)
    except plain.PlainDataError as error:
        message = hints_grade.NOT_PLAIN.format(name="the notebook", error=error)
        return dict.fromkeys(names, (ERROR, message))
    verdicts: dict[str, tuple[str, str]] = {}
    for name in names:
        verdicts[name] = _judge(registry.lookup(name), info, session, verdicts, seed)
    for name, (status, message) in verdicts.items():
        refs = sorted(session.refs.get(name, ()))
        if refs and status in (PASS, FAIL):
            own = hints_grade.NOT_OWN.format(name=name, refs=", ".join(refs))
            verdicts[name] = (FAIL, own if status == PASS else f"{own}\n{message}")
    return verdicts


def _judge(
    entry: registry.Exercise,
    info: dict[str, dict[str, Any]],
    session: Session,
    verdicts: dict[str, tuple[str, str]],
    seed: int,
) -> tuple[str, str]:
    """``(status, message)`` of one exercise."""
    described = info[entry.name]
    if not described["defined"]:
        return MISSING, hints_grade.NOT_DEFINED.format(name=entry.name)
    if described["callable"] and _provided(described["module"]):
        return MISSING, hints_grade.IMPORTED.format(name=entry.name)
    if session.lost is not None:
        return ERROR, hints_grade.KERNEL_LOST.format(name=entry.name, reason=session.lost)
    answer = session.answer(entry.name, described)
    # The learner's answers to earlier exercises, where those passed (as the notebook does).
    uses = {
        keyword: session.answer(other, info[other])
        for keyword, other in entry.uses
        if verdicts.get(other, ("",))[0] == PASS and other in info
    }
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            entry.check(answer, seed=seed, **uses)
    except ExerciseError as error:
        if session.lost is not None:  # the checker saw the lost kernel as the learner's error
            return ERROR, hints_grade.KERNEL_LOST.format(name=entry.name, reason=session.lost)
        return FAIL, str(error)
    except KernelLostError as error:
        return ERROR, hints_grade.KERNEL_LOST.format(name=entry.name, reason=error)
    except plain.PlainDataError as error:
        return FAIL, hints_grade.NOT_PLAIN.format(name=entry.name, error=error)
    except Exception as error:  # the checker itself could not run on this answer
        return ERROR, hints_grade.CHECKER_FAILED.format(error=f"{type(error).__name__}: {error}")
    if session.lost is not None:
        return ERROR, hints_grade.KERNEL_LOST.format(name=entry.name, reason=session.lost)
    return PASS, printed.getvalue().strip()


def _provided(module: str) -> bool:
    """The package's own answer (imported, or ``grad`` of it) instead of the learner's."""
    return module == "dl_workshop" or module.startswith("dl_workshop.")
