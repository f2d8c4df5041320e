"""The texts of ``dl-workshop grade``: its feedback files, its notes and its errors.

Format strings as in :mod:`~dl_workshop.checks.hints`.
"""

NEEDS_EXTRA = (
    "grading notebooks needs nbclient, nbformat and ipykernel ({missing} is missing): "
    "pip install 'dl-workshop[grade]'"
)
BAD_TIMEOUT = "timeout must be a number of seconds >= 1; got {timeout!r}"

# One exercise's status, explained (the message of the feedback file).
NOT_DEFINED = "the notebook does not define {name}."
IMPORTED = (
    "{name} is the package's own answer (imported from dl_workshop), not one written in "
    "the notebook."
)
LEFT_AS_GIVEN = "the exercise cell is still the stub as given: {message}"
CHECKER_FAILED = "the checker could not run on this answer: {error}"
CELL_ERROR = "the exercise cell (cell {cell}) could not run: {error}"
CELL_TIMEOUT = "the exercise cell (cell {cell}) did not finish within {timeout:g} s."
CELL_LOST = "the exercise cell (cell {cell}) {lost} the kernel."
NOT_CHECKED = "not checked: {reason}"
NOT_A_NOTEBOOK = "the file could not be read as a notebook: {error}"

# Why grading stopped early, or what it had to work around (the notes of a feedback file).
LOST_CRASHED = "crashed"
LOST_HUNG = "hung (it ignored the interrupt after the time-out), so the grader ended"
NOTE_RERUN = "cell {cell} {lost} the kernel; the notebook was run again without it."
NOTE_GAVE_UP = "the kernel was lost {n} times; the rest of the notebook was not run."
CHECKS_TIMED_OUT = "the checks did not finish within {timeout:g} s"
CHECKS_LOST_KERNEL = "the kernel died while the checks ran"

# The feedback file.
FEEDBACK_TITLE = "# Feedback: {notebook}"
FEEDBACK_SCORE = "Score: {score} of {total} exercises pass (checker inputs: seed={seed})."
FEEDBACK_EXERCISE = "## {name}: {status}"
FEEDBACK_NOTES = "## Notes"
SUMMARY = "graded {n} notebook(s) in {seconds:.0f} s: {csv} and {n} feedback file(s) in {folder}"
