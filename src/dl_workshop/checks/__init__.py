"""Exercise checkers for the lesson: is the learner's own function right, and if not, why not?

Each ``check_*`` function runs the learner's function next to the package's reference on fresh
random inputs (drawn anew on every call, so a function that special-cases the checker's inputs is
caught), compares values, shapes and gradients, and either prints one short line and returns
``True`` or raises :class:`ExerciseError` saying what was expected, what came back and what the
likely mistake is. The learner's code is run defensively: whatever it raises comes back as an
:class:`ExerciseError` with a hint, never as a traceback from inside the checker.

These are the only functions in the package that print: the confirmation line is the point of a
checker in a notebook.

The parts: :mod:`~dl_workshop.checks.runner` (running learner code under a time limit, turning
its errors into hints, :class:`ExerciseError`), :mod:`~dl_workshop.checks.hints` (every message
text), :mod:`~dl_workshop.checks.compare` (comparing and showing values),
:mod:`~dl_workshop.checks.inputs` (the random inputs and their reference answers) and one module
per exercise: :mod:`~dl_workshop.checks.exercise_linear_model`,
:mod:`~dl_workshop.checks.exercise_init`, :mod:`~dl_workshop.checks.exercise_mseloss`,
:mod:`~dl_workshop.checks.exercise_dmseloss` and :mod:`~dl_workshop.checks.exercise_loop`.
"""

from dl_workshop.checks.exercise_dmseloss import check_dmseloss
from dl_workshop.checks.exercise_init import check_initialize_linear_params
from dl_workshop.checks.exercise_linear_model import check_linear_model
from dl_workshop.checks.exercise_loop import check_optimization_loop
from dl_workshop.checks.exercise_mseloss import check_mseloss
from dl_workshop.checks.runner import ExerciseError

__all__ = [
    "ExerciseError",
    "check_dmseloss",
    "check_initialize_linear_params",
    "check_linear_model",
    "check_mseloss",
    "check_optimization_loop",
]
