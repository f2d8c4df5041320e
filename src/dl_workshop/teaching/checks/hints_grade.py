"""The texts of ``dl-workshop grade``: its feedback files, its notes and its errors.

Format strings as in :mod:`~dl_workshop.teaching.checks.hints`.
"""

NEEDS_EXTRA = (
    "grading notebooks needs nbclient, nbformat and ipykernel ({missing} is missing): "
    "pip install 'dl-workshop[grade]'"
)

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
OTHER_LESSON = ""  # the cell of an exercise of another lesson than the notebook's
NOT_A_NOTEBOOK = "the file could not be read as a notebook: {error}"

# Why grading stopped early, or what it had to work around (the notes of a feedback file).
LOST_CRASHED = "crashed"
LOST_HUNG = "hung (it ignored the interrupt after the time-out), so the grader ended"
NOTE_RERUN = "cell {cell} {lost} the kernel; the notebook was run again without it."
NOTE_GAVE_UP = "the kernel was lost {n} times; the rest of the notebook was not run."

# The feedback file.
FEEDBACK_TITLE = "# Feedback: {notebook}"
FEEDBACK_SCORE = (
    "Score: {score} of {total} exercises pass (lesson {lesson}; checker inputs: seed={seed})."
)
FEEDBACK_EXERCISE = "## {name}: {status}"
FEEDBACK_NOTES = "## Notes"
SUMMARY = "graded {n} notebook(s) in {seconds:.0f} s: {csv} and {n} feedback file(s) in {folder}"
SUMMARY_NO_LESSON = "unknown"

# Options and the sandbox (one line each, for the CLI).
BAD_SECONDS = "{name} must be a finite number of seconds from {low:g} to {high:g}; got {value!r}"
BAD_COUNT = "{name} must be a whole number from {low} to {high}; got {value!r}"
NO_SANDBOX = (
    "cannot grade in a sandbox: {reason}. Install it, or pass --no-sandbox to run the learners' "
    "code with your rights (only for notebooks you trust)"
)
NO_SANDBOX_WARNING = (
    "WARNING: graded with --no-sandbox: the learners' code ran with the grader's rights, "
    "without isolation or limits on memory, CPU and processes."
)
INTERRUPTED = "interrupted: {n} notebook(s) graded before, their rows kept in {csv}"
CSV_MOVED = "{wanted} is not a regular file; the results went to {used}"

# A probe's outcome (the messages of the feedback file).
NOT_OWN = (
    "the answer must be your own: {name} calls the package's reference answer(s) {refs} "
    "instead of computing the result itself."
)
NOT_PLAIN = "what {name} returned could not be read as numbers or arrays: {error}"
KERNEL_LOST = "the kernel stopped answering while {name} was checked: {reason}"
LOST_OUT_OF_TIME = "the notebook's total time ran out"
LOST_NO_ANSWER = "no answer within {seconds:g} s"
OUT_OF_TIME = "not run: the notebook's total time ran out"
NOTE_OUTPUT_DROPPED = "outputs beyond {limit} bytes were dropped."
LOST_PROCESSES = "started more than {limit} processes and so ended"
NOTE_PROCESSES = "the notebook started more than {limit} processes; its sandbox was ended."
NOTE_WALL = "the notebook ran out of its total time ({limit:g} s); later cells were not run."
