"""Exercise checkers for the lesson: is the learner's own function right, and if not, why not?

Each ``check_*`` function runs the learner's function next to the package's reference on fresh
random inputs (drawn anew on every call, so a function that special-cases the checker's inputs is
caught), compares values, shapes and gradients, and either prints one short line and returns
``True`` or raises :class:`ExerciseError` saying what was expected, what came back and what the
likely mistake is. The learner's code is run defensively: whatever it raises comes back as an
:class:`ExerciseError` with a hint, never as a traceback from inside the checker.

These are the only functions in the package that print: the confirmation line is the point of a
checker in a notebook.

The parts: :mod:`~dl_workshop.teaching.checks.runner` (running learner code under a time limit,
turning
its errors into hints, :class:`ExerciseError`), :mod:`~dl_workshop.teaching.checks.hints` (every
message
text), :mod:`~dl_workshop.teaching.checks.compare` (comparing and showing values),
:mod:`~dl_workshop.teaching.checks.inputs` (the random inputs and their reference answers) and one
module
per exercise: :mod:`~dl_workshop.teaching.checks.exercise_linear_model`,
:mod:`~dl_workshop.teaching.checks.exercise_init`,
:mod:`~dl_workshop.teaching.checks.exercise_mseloss`,
:mod:`~dl_workshop.teaching.checks.exercise_dmseloss` and
:mod:`~dl_workshop.teaching.checks.exercise_loop` (with
:mod:`~dl_workshop.teaching.checks.loop_steps`, each step against gradient descent, and
:mod:`~dl_workshop.teaching.checks.loop_arguments`, does the loop honour ``step_size``, ``model``
and
``loss``); :mod:`~dl_workshop.teaching.checks.probe_functions` holds the models and losses a checker
hands to learner code besides the lesson's (module-level, so a grader can name them); for
the chapter's other lessons :mod:`~dl_workshop.teaching.checks.exercise_polynomial` (``f``, ``df``,
``descend``, ``dfdw``) and :mod:`~dl_workshop.teaching.checks.exercise_logistic` (``logistic``,
``logistic_model``, ``logistic_loss``, ``dlogistic_loss``), with their texts in
:mod:`~dl_workshop.teaching.checks.hints_chapter`.

**On request.** :func:`hint` (``hint("mseloss", 2)``: hint 2, gentle to specific),
:func:`solution` (the reference solution's source, from the lesson's notebook source) and
:func:`progress` (each exercise of the current lesson ``"passed"``, ``"failed"`` or
``"not attempted"`` in this kernel; ``progress("gradient-optimization")`` for another
lesson). Every failure message ends with ``seed=N``; ``check_x(fn, seed=N)`` draws the same
inputs and gives the same message. :class:`ExerciseError` is an ``AssertionError``, so a check
also works as an nbgrader or otter-grader test cell; ``dl-workshop grade`` grades whole
notebooks (:mod:`~dl_workshop.teaching.checks.grade`).

**Adding an exercise.** Write its checker so that its work runs inside
``with registry.checking("<name>", seed=seed) as rng:`` (the inputs drawn from ``rng``), and
register an entry in the module of its lesson, as
:mod:`~dl_workshop.teaching.checks.optimizing_linear_models` does::

    from dl_workshop.teaching.checks.registry import Exercise, register

    register(Exercise("<name>", "<lesson source stem>", check_x, (gentle_hint, specific_hint)))

then import that module below. Its solution and stub are the cells tagged ``solution`` /
``exercise`` and ``ex-<name>`` in ``notebooks/source/<lesson>.py``, copied into
:mod:`~dl_workshop.teaching.checks.solution_sources` by ``python notebooks/build_solutions.py``.
"""

# Each lesson's module registers its exercises when imported (hint, solution, progress, grade).
from dl_workshop.teaching.checks import optimizing_linear_models  # noqa: F401

# isort: split
# The chapter's other lessons register after the first one (exercises() keeps that order).
from dl_workshop.teaching.checks import gradient_optimization, logistic_regression  # noqa: F401
from dl_workshop.teaching.checks.exercise_dmseloss import check_dmseloss
from dl_workshop.teaching.checks.exercise_init import check_initialize_linear_params
from dl_workshop.teaching.checks.exercise_linear_model import check_linear_model
from dl_workshop.teaching.checks.exercise_logistic import (
    check_dlogistic_loss,
    check_logistic,
    check_logistic_loss,
    check_logistic_model,
)
from dl_workshop.teaching.checks.exercise_loop import check_optimization_loop
from dl_workshop.teaching.checks.exercise_mseloss import check_mseloss
from dl_workshop.teaching.checks.exercise_polynomial import (
    check_descend,
    check_df,
    check_dfdw,
    check_f,
)
from dl_workshop.teaching.checks.registry import hint, progress, solution
from dl_workshop.teaching.checks.runner import ExerciseError

__all__ = [
    "ExerciseError",
    "check_descend",
    "check_df",
    "check_dfdw",
    "check_dlogistic_loss",
    "check_dmseloss",
    "check_f",
    "check_initialize_linear_params",
    "check_linear_model",
    "check_logistic",
    "check_logistic_loss",
    "check_logistic_model",
    "check_mseloss",
    "check_optimization_loop",
    "hint",
    "progress",
    "solution",
]
