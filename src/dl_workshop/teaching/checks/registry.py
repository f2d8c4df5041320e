"""The exercises by name: hints on request, reference solutions, and progress in this kernel.

An exercise is one :class:`Exercise` entry, added with :func:`register` by the module that
holds its lesson's entries (:mod:`~dl_workshop.teaching.checks.optimizing_linear_models` for the
first
lesson). Its checker wraps its work in :func:`checking`, which draws the seed of the inputs,
adds it to a failure message and records the outcome that :func:`progress` reports.
:func:`hint`, :func:`solution` and ``dl-workshop grade`` find every registered exercise the
same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from dl_workshop.teaching.checks import hints, solution_sources
from dl_workshop.teaching.checks.inputs import _replay_seed
from dl_workshop.teaching.checks.runner import ExerciseError

__all__ = [
    "FAILED",
    "NOT_ATTEMPTED",
    "PASSED",
    "Exercise",
    "checking",
    "exercises",
    "hint",
    "lessons",
    "lookup",
    "progress",
    "register",
    "solution",
]

PASSED = "passed"
FAILED = "failed"
NOT_ATTEMPTED = "not attempted"

#: Fewest hints an exercise offers: one gentle, one specific.
_MIN_HINTS = 2


class Exercise(NamedTuple):
    """One exercise: what the learner defines, how it is checked, and the hints it offers.

    Attributes:
        name: the name the learner defines (a function, or ``dmseloss = ...``), also the
            ``ex-<name>`` tag of its cells in the notebooks.
        lesson: the stem of the lesson's notebook source, e.g. ``"optimizing_linear_models"``.
        check: ``check(answer, *, seed, **uses) -> True`` or raises :class:`ExerciseError`;
            the checker the grader calls on the learner's answer.
        hints: at least two hints, from gentle to specific.
        uses: ``(keyword, exercise)`` pairs: the grader passes the learner's answer to that
            other exercise as ``keyword`` when it passed (e.g. ``("model", "linear_model")``).
        solution: the reference solution's source; ``None`` means the one in the lesson's
            notebook source (:mod:`~dl_workshop.teaching.checks.solution_sources`).
    """

    name: str
    lesson: str
    check: Callable[..., bool]
    hints: tuple[str, ...]
    uses: tuple[tuple[str, str], ...] = ()
    solution: str | None = None


class _Text(str):
    """A string that a notebook shows as text (not as a quoted repr)."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


class Progress(dict):
    """``{exercise: status}``, which prints (and shows in a notebook) as a short table.

    ``note``: what an empty table prints instead (e.g. that nothing was checked yet).
    """

    def __init__(self, statuses: dict[str, str], note: str = "") -> None:
        super().__init__(statuses)
        self.note = note

    def __str__(self) -> str:
        if not self and self.note:
            return self.note
        width = max([len(hints.PROGRESS_HEADER[0]), *map(len, self)])
        lines = [f"{hints.PROGRESS_HEADER[0]:<{width}}  {hints.PROGRESS_HEADER[1]}"]
        lines += [f"{name:<{width}}  {status}" for name, status in self.items()]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


_EXERCISES: dict[str, Exercise] = {}
#: The latest outcome of each exercise's check in this process.
_LATEST: dict[str, str] = {}


def register(*entries: Exercise) -> None:
    """Add exercises (a name registered again is replaced, so a module can be reloaded).

    Raises:
        ValueError: if an entry has fewer than two hints.

    Example:
        >>> from dl_workshop.teaching.checks.registry import exercises
        >>> [entry.name for entry in exercises()][:2]
        ['linear_model', 'initialize_linear_params']
    """
    for entry in entries:
        if len(entry.hints) < _MIN_HINTS:
            raise ValueError(hints.TOO_FEW_HINTS.format(name=entry.name, n=_MIN_HINTS))
        _EXERCISES[entry.name] = entry


def exercises(lesson: str | None = None) -> tuple[Exercise, ...]:
    """Every registered exercise (of ``lesson``, when given), in the order they were added."""
    return tuple(e for e in _EXERCISES.values() if lesson is None or e.lesson == lesson)


def lookup(name: str) -> Exercise:
    """The exercise called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _EXERCISES:
        known = ", ".join(_EXERCISES)
        raise ValueError(hints.UNKNOWN_EXERCISE.format(name=name, known=known))
    return _EXERCISES[name]


def hint(exercise: str, n: int = 1) -> str:
    """Hint ``n`` for an exercise: 1 is gentle, higher ones are more specific.

    Past the last hint, the last one is repeated with a note saying so.

    Args:
        exercise: the exercise's name, e.g. ``"mseloss"``.
        n: which hint, from 1.

    Returns:
        The hint, headed ``Hint n of N for <exercise>:`` (a notebook shows it as text).

    Raises:
        ValueError: for an unknown exercise (listing the known ones) or ``n`` below 1.

    Example:
        >>> from dl_workshop.teaching.checks import hint
        >>> print(hint("dmseloss", 1))  # doctest: +ELLIPSIS
        Hint 1 of 2 for dmseloss: ...
    """
    entry = lookup(exercise)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(hints.BAD_HINT_NUMBER.format(n=n))
    shown = min(n, len(entry.hints))
    text = hints.HINT_HEADER.format(
        n=shown, total=len(entry.hints), name=entry.name, hint=entry.hints[shown - 1]
    )
    if n > len(entry.hints):
        text += hints.LAST_HINT_NOTE.format(total=len(entry.hints))
    return _Text(text)


def solution(exercise: str) -> str:
    """The reference solution of an exercise, as Python source that defines its name.

    It is the code of the lesson's solutions notebook (one source for both).

    Raises:
        ValueError: for an unknown exercise, listing the known ones.

    Example:
        >>> from dl_workshop.teaching.checks import solution
        >>> print(solution("dmseloss"))
        dmseloss = grad(mseloss)
    """
    entry = lookup(exercise)
    text = entry.solution or solution_sources.SOLUTIONS.get(entry.name)
    if text is None:
        raise ValueError(hints.NO_SOLUTION.format(name=entry.name))
    return _Text(text)


def lessons() -> tuple[str, ...]:
    """The lessons of the registered exercises, in the order they were added.

    Example:
        >>> from dl_workshop.teaching.checks.registry import lessons
        >>> lessons()[0]
        'optimizing_linear_models'
    """
    return tuple(dict.fromkeys(entry.lesson for entry in _EXERCISES.values()))


def _lesson_name(lesson: Any) -> str:
    """``lesson`` as registered: ``"optimizing-linear-models"`` and ``"optimizing_linear_models"``
    name the same lesson."""
    if not isinstance(lesson, str):
        raise TypeError(hints.BAD_LESSON_TYPE.format(lesson=lesson))
    name = lesson.strip().replace("-", "_")
    if name not in lessons():
        raise ValueError(hints.UNKNOWN_LESSON.format(lesson=lesson, known=", ".join(lessons())))
    return name


def progress(lesson: str | None = None) -> Progress:
    """The current lesson's exercises, each mapped to ``"passed"``, ``"failed"`` or
    ``"not attempted"``.

    From the latest check of each exercise in this Python process (the notebook's kernel). The
    current lesson is that of the exercises checked in this process (every such lesson, when
    exercises of several were checked); other lessons show only when asked for by name.

    Args:
        lesson: the lesson whose exercises to show, e.g. ``"optimizing-linear-models"`` (or
            with underscores, as its notebook is named); by default the current lesson's.
            Before any check, with no ``lesson``, the table is empty and says how to ask.

    Raises:
        TypeError: if ``lesson`` is not a string.
        ValueError: for an unknown lesson, listing the known ones.

    Example:
        >>> from dl_workshop.teaching.checks import check_mseloss, progress
        >>> check_mseloss(lambda theta, model, x, y: None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dl_workshop.teaching.checks.ExerciseError: mseloss is not right yet...
        >>> progress()["mseloss"]
        'failed'
        >>> list(progress("gradient-optimization"))
        ['f', 'df', 'descend', 'dfdw']
    """
    if lesson is not None:
        chosen = {_lesson_name(lesson)}
    else:
        chosen = {e.lesson for e in _EXERCISES.values() if e.name in _LATEST}
    statuses = {
        e.name: _LATEST.get(e.name, NOT_ATTEMPTED) for e in exercises() if e.lesson in chosen
    }
    note = hints.NOTHING_CHECKED.format(lesson=lessons()[0].replace("_", "-"))
    return Progress(statuses, note=note)


@contextlib.contextmanager
def checking(*names: str, seed: int | None) -> Iterator[np.random.Generator]:
    """Run one check of the exercises ``names``: the inputs' generator, the seed, the record.

    Yields a generator seeded with ``seed`` (or a fresh seed). An :class:`ExerciseError` raised
    inside gets ``seed=N`` as its last line (and a ``seed`` attribute), so that passing that
    seed to the checker draws the same inputs again; the outcome is recorded for
    :func:`progress`. Any other error (a bad argument of the checker) records nothing.

    Raises:
        TypeError: if ``seed`` is not an integer >= 0 (``ValueError`` if negative).
    """
    number = _replay_seed(seed)
    try:
        yield np.random.default_rng(number)
    except ExerciseError as error:
        _LATEST.update(dict.fromkeys(names, FAILED))
        error.seed = number
        error.args = (f"{error}{hints.SEED_LINE.format(seed=number)}",)
        raise
    _LATEST.update(dict.fromkeys(names, PASSED))
