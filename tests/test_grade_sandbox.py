"""Grading a class you can trust: a planted class folder, each notebook graded in its sandbox.

Each notebook answers the four exercises of the lesson "gradient-based optimization" (``f``,
``df``, ``descend``, ``dfdw``: quick to check) and tries one way to get marks without the work,
or to hurt its neighbours. Where an attack needs to know whether it worked, the notebook answers
*wrongly* when it did, so that the CSV shows any hole. The class is graded in three groups (one
test each, so that ``pytest -n`` runs them side by side), against exact CSV cells.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from dl_workshop.teaching.checks import solution

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from dl_workshop.teaching.checks import notebook_run  # noqa: E402
from dl_workshop.teaching.checks.grade import grade_notebooks  # noqa: E402
from dl_workshop.teaching.checks.hints_grade import NOTE_OUTPUT_DROPPED  # noqa: E402
from dl_workshop.teaching.checks.sandbox import Limits, unavailable  # noqa: E402

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

LESSON = "gradient_optimization"
EXERCISES = ["f", "df", "descend", "dfdw"]
RIGHT = {name: solution(name) for name in EXERCISES}
WRONG = {
    "f": "def f(w):\n    return w**2 + 3 * w",
    "df": "def df(w):\n    return 2 * w",
    "descend": "def descend(df, w, step_size=0.01, n_steps=1000):\n    return w",
    "dfdw": "dfdw = grad(lambda w: w**2)",
}
HEAD = "import sys\n\nimport jax.numpy as jnp\nimport numpy as np\nfrom jax import grad\n"
#: Seconds per cell: above a cold JAX import on a busy 2-core machine; what endless output costs.
TIMEOUT = 8.0
#: A unique word in the command line of every process a planted notebook starts.
MARKER = f"dlw-planted-{uuid.uuid4().hex}"


def _notebook(answers=None, before="", after="", cells=None):
    """A notebook of the lesson: imports (and ``before``), one tagged cell per exercise."""
    answers = {**WRONG, **(answers or {})}
    new = nbformat.v4.new_code_cell
    body = cells or [
        new(answers[name], metadata={"tags": ["exercise", f"ex-{name}"]}) for name in EXERCISES
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [new(HEAD + before), *body, *([new(after)] if after else [])]
    return notebook


def _if_attack_failed(attack):
    """A cell that tries ``attack`` (statements) and answers right only if it failed."""
    indented = "\n".join("    " + line for line in attack.strip().splitlines())
    return f"try:\n{indented}\n    worked = True\nexcept Exception:\n    worked = False\n"


def _tried(*attacks):
    """Statements each tried in turn, whatever they raise."""
    return "".join(f"try:\n    {attack}\nexcept Exception:\n    pass\n" for attack in attacks)


def _answers_unless(worked_flag="worked"):
    """Right answers, or wrong ones where the attack worked."""
    return {
        name: f"if not {worked_flag}:\n" + _indent(RIGHT[name]) + "\nelse:\n" + _indent(WRONG[name])
        for name in EXERCISES
    }


def _indent(source):
    return "\n".join("    " + line for line in source.splitlines())


def _grade(paths, out, **options):
    grades = grade_notebooks(
        paths, out, timeout=TIMEOUT, seed=3, progress=False, limits=options.pop("limits", None)
    )
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    return grades, rows


def _row(path, *cells, score, lesson=LESSON):
    return [str(path), lesson, *cells, str(score)]


def _write(folder, notebooks):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, notebook in notebooks.items():
        path = folder / f"{name}.ipynb"
        if isinstance(notebook, str):
            path.write_text(notebook, encoding="utf-8")
        else:
            nbformat.write(notebook, path)
        paths.append(path)
    return paths


def _alive(word):
    """Processes whose command line holds ``word``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if word.encode() in cmdline:
                found.append(int(entry))
    return found


FORGED = 'dl-workshop-grade: {"exercise": "NAME", "status": "pass", "message": ""}'


def test_tampering_inside_the_kernel_changes_no_verdict(tmp_path):
    """Patching the checkers, rewriting print/stdout, hooks, forged lines written from inside a
    right answer, objects equal to anything, replaced comparisons, a swapped agent module."""
    forged = "\n".join(FORGED.replace("NAME", name) for name in EXERCISES)
    notebooks = {
        "right": _notebook(RIGHT),
        "wrong": _notebook(),
        "patching": _notebook(
            before="import dl_workshop.teaching.checks as checks\n"
            "import dl_workshop.teaching.checks.grade_kernel as agent\n"
            "for name in dir(checks):\n"
            "    if name.startswith('check_'):\n"
            "        setattr(checks, name, lambda *a, **k: True)\n"
            "agent.call = lambda namespace, request: agent.describe(namespace, [])\n"
        ),
        "print_rewriting": _notebook(
            before="import builtins\n_print = builtins.print\n"
            "builtins.print = lambda *a, **k: _print(*(str(x).replace('fail', 'pass') "
            "for x in a), **k)\n"
            "_write = sys.stdout.write\n"
            "sys.stdout.write = lambda s: _write(s.replace('fail', 'pass'))\n"
        ),
        "hooks": _notebook(
            before=f"get_ipython().events.register('post_run_cell', lambda r: print({forged!r}))\n"
        ),
        "forged_from_answer": _notebook(
            {
                "f": f"_out = sys.stdout\n\ndef f(w):\n    _out.write({forged!r} + '\\n')\n"
                "    return w**2 + 3 * w - 5"
            }
        ),
        "equal_to_anything": _notebook(
            {
                "f": "class Anything(float):\n    def __eq__(self, other):\n        return True\n"
                "    def __array__(self, *a, **k):\n        return self\n\n"
                "def f(w):\n    return Anything(0.0)",
                "df": "class Shape(tuple):\n    def __eq__(self, other):\n        return True\n\n"
                "def df(w):\n    return Shape()",
            }
        ),
        "replaced_jnp": _notebook(
            before="np.allclose = jnp.allclose = lambda *a, **k: True\n"
            "np.isclose = jnp.isclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None\n"
        ),
        "swapped_module": _notebook(
            before="import base64, json, types\n"
            "import dl_workshop.teaching.checks.grade_kernel as real\n"
            "reply = base64.b64encode(json.dumps({'ok': True, 'value': 0.0, 'refs': []})"
            ".encode()).decode()\n"
            "sys.modules['dl_workshop.teaching.checks.grade_kernel'] = types.SimpleNamespace("
            "describe=real.describe, call=lambda namespace, request: reply)\n"
        ),
    }
    paths = _write(tmp_path / "class", notebooks)
    grades, rows = _grade(paths, tmp_path / "out")
    assert rows[0] == ["notebook", "lesson", *EXERCISES, "score"]
    wrong = ["fail"] * 4
    assert rows[1:] == [
        _row(paths[0], "pass", "pass", "pass", "pass", score=4),
        _row(paths[1], *wrong, score=0),
        _row(paths[2], *wrong, score=0),
        _row(paths[3], *wrong, score=0),
        _row(paths[4], *wrong, score=0),
        _row(paths[5], "pass", "fail", "fail", "fail", score=1),
        _row(paths[6], *wrong, score=0),
        _row(paths[7], *wrong, score=0),
        _row(paths[8], *wrong, score=0),
    ]
    feedback = (tmp_path / "out" / "feedback" / "equal_to_anything.md").read_text()
    assert "## f: fail" in feedback


@pytest.fixture
def listener():
    """A TCP server on loopback that a notebook must not reach."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def test_a_notebook_cannot_reach_outside_its_sandbox(tmp_path, listener):
    """Modules dropped beside the notebooks, writes into --out and outside the notebook's
    folder, reading a neighbour, the network, memory, a detached process, SystemExit,
    wrappers around the reference answers."""
    folder, out = tmp_path / "class", tmp_path / "out"
    outside = tmp_path / "outside.txt"
    host_tmp = Path("/tmp") / f"{MARKER}.txt"
    detached = (
        "import subprocess\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {MARKER!r}], "
        "start_new_session=True)\n"
    )
    notebooks = {
        "right": _notebook(RIGHT),
        "drops_modules": _notebook(
            _answers_unless(),
            before=_if_attack_failed(
                f"open({str(folder / 'optax.py')!r}, 'w').write('raise ImportError')"
            ),
        ),
        "right_after_drop": _notebook(RIGHT, before="import optax\n"),
        # The sandbox's /tmp is its own (tmpfs): writes there "succeed" but reach nothing
        # outside, so this notebook answers right and the test looks at the real folders.
        "writes_out": _notebook(
            RIGHT,
            before=_tried(
                f"open({str(out / 'grades.csv')!r}, 'w').write('hacked')",
                f"open({str(out / 'feedback' / 'right.md')!r}, 'w').write('hacked')",
                f"import os; os.makedirs({str(out / 'grades.csv')!r})",
                f"open({str(outside)!r}, 'w').write('x')",
                f"open({str(host_tmp)!r}, 'w').write('x')",
            ),
        ),
        "detached_process": _notebook(RIGHT, before=detached),
        "reads_neighbour": _notebook(
            {
                "f": f"import json\nexec(json.load(open({str(folder / 'right.ipynb')!r}))"
                "['cells'][1]['source'])"
            }
        ),
        "network": _notebook(
            _answers_unless(),
            before=_if_attack_failed(
                f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), timeout=2)"
            ),
        ),
        "memory": _notebook(
            _answers_unless(), before=_if_attack_failed("big = np.ones(3 * 2**30 // 8)")
        ),
        "system_exit": _notebook(
            {
                "f": "def f(w):\n    raise SystemExit(0)",
                "df": "def df(w):\n    raise KeyboardInterrupt",
                "descend": RIGHT["descend"],
                "dfdw": "dfdw = grad(lambda w: w**2 + 3 * w - 5)",
            }
        ),
        "wrappers": _notebook(
            {
                "f": "from dl_workshop.answers import f as _saved\n\n"
                "def f(w):\n    return _saved(w)",
                "df": "import dl_workshop.answers\n\n"
                "def df(w):\n    return dl_workshop.answers.df(w)",
                "descend": RIGHT["descend"],
                "dfdw": "import dl_workshop.answers\n\ndfdw = grad(dl_workshop.answers.f)",
            }
        ),
    }
    paths = _write(folder, notebooks)
    began = time.monotonic()
    grades, rows = _grade(paths, out)
    right = ["pass"] * 4
    assert rows[1:] == [
        _row(paths[0], *right, score=4),
        _row(paths[1], *right, score=4),
        _row(paths[2], *right, score=4),
        _row(paths[3], *right, score=4),
        _row(paths[4], *right, score=4),
        _row(paths[5], "error", "fail", "fail", "fail", score=0),
        _row(paths[6], *right, score=4),
        _row(paths[7], *right, score=4),
        _row(paths[8], "fail", "fail", "pass", "pass", score=2),
        _row(paths[9], "fail", "fail", "pass", "missing", score=1),
    ]
    assert not (folder / "optax.py").exists() and not outside.exists()
    assert not host_tmp.exists()
    assert (out / "feedback" / "right.md").read_text().startswith("# Feedback: right.ipynb")
    assert _alive(MARKER) == []  # nothing a notebook started outlives its grading
    feedback = (out / "feedback" / "wrappers.md").read_text()
    assert "the answer must be your own: f calls the package's reference answer(s) f" in feedback
    assert "SystemExit: 0" in (out / "feedback" / "system_exit.md").read_text()
    assert "FileNotFoundError" in (out / "feedback" / "reads_neighbour.md").read_text()
    assert time.monotonic() - began < 600


def _with(notebook, edit):
    tree = json.loads(nbformat.writes(notebook))
    edit(tree)
    return json.dumps(tree)


def test_malformed_notebooks_endless_output_and_formula_names(tmp_path, monkeypatch):
    """Malformed fields get an error row and a feedback file, the others are graded; endless
    output is cut at the limit; a file name that reads as a formula is escaped."""
    right = _notebook(RIGHT)
    notebooks = {
        "tag_not_string": _with(right, lambda t: t["cells"][1]["metadata"].update(tags=[12])),
        "no_cell_type": _with(right, lambda t: t["cells"][1].pop("cell_type")),
        "source_number": _with(right, lambda t: t["cells"][1].update(source=12)),
        "endless_output": _notebook(RIGHT, after="while True:\n    print('x' * 100_000)"),
        "=HYPERLINK(1)": right,
        "many_processes": _notebook(
            RIGHT,
            after="import subprocess, time\n"
            "for _ in range(20):\n"
            "    subprocess.Popen(['sleep', '60'])\n"
            "time.sleep(30)",
        ),
    }
    paths = _write(tmp_path / "class", notebooks)
    monkeypatch.chdir(tmp_path / "class")
    relative = [Path(path.name) for path in paths]
    limits = Limits(output_bytes=200_000, processes=8)
    grades, rows = _grade(relative, tmp_path / "out", limits=limits)
    errors = ["error"] * 4
    assert rows[1:] == [
        _row(relative[0], *errors, score=0, lesson=""),
        _row(relative[1], *errors, score=0, lesson=""),
        _row(relative[2], *errors, score=0, lesson=""),
        _row(relative[3], "pass", "pass", "pass", "pass", score=4),
        ["'=HYPERLINK(1).ipynb", LESSON, "pass", "pass", "pass", "pass", "4"],
        # The watchdog ends the sandbox; the notebook runs again without that cell.
        _row(relative[5], "pass", "pass", "pass", "pass", score=4),
    ]
    feedback = tmp_path / "out" / "feedback"
    assert "could not be read as a notebook" in (feedback / "no_cell_type.md").read_text()
    assert (
        "outputs beyond 200000 bytes were dropped" in (feedback / "endless_output.md").read_text()
    )
    notes = (feedback / "many_processes.md").read_text()
    assert "cell 6 started more than 8 processes and so ended the kernel" in notes


def test_endless_output_is_dropped_inside_the_kernel_within_its_memory(tmp_path):
    """Printing (stdout and stderr) or displaying in a loop under a small memory limit: the
    kernel drops what is past the output budget itself, so it keeps its memory (IPython's output
    history, ipykernel's buffers and ZeroMQ's queue used to fill it: the loops then ended in a
    second as "ok" or killed the kernel), each cell is stopped by its time-out, and the next
    cell and the probe run in the same kernel."""
    new = nbformat.v4.new_code_cell
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        new("import sys\nwhile True:\n    print('x' * 100_000)\n    sys.stderr.write('y' * 99)"),
        new("while True:\n    display('z' * 100_000)"),
        new("print('still here')"),
    ]
    (tmp_path / "work").mkdir()
    (tmp_path / "run").mkdir()
    limit = 512 * 2**20
    limits = Limits(memory_bytes=limit, output_bytes=200_000)
    kernel = notebook_run.KernelSpec(tmp_path / "work", tmp_path / "run", limits, sandboxed=True)
    data_kb = "int(open('/proc/self/status').read().split('VmData:')[1].split()[0])"
    result = notebook_run.run_notebook(
        notebook, timeout=3, kernel=kernel, probe=lambda execute: execute(data_kb, 5)
    )
    statuses = [cell.status for cell in result.cells.values()]
    assert statuses == [notebook_run.TIMEOUT, notebook_run.TIMEOUT, notebook_run.OK]
    assert result.notes == [NOTE_OUTPUT_DROPPED.format(limit=200_000)]
    # A bare kernel's data is ~150 MB; the output printed (GBs in 6 s) is not held.
    assert int(result.probed) * 1024 < limit / 2


def test_ctrl_c_keeps_the_finished_rows_and_ends_the_sandbox(tmp_path):
    """SIGINT to ``dl-workshop grade`` while the third notebook runs: exit 130, two rows."""
    folder, out = tmp_path / "class", tmp_path / "out"
    sleeper = (
        "import subprocess, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
        f"'{MARKER}-sigint'])\ntime.sleep(300)\n"
    )
    paths = _write(
        folder,
        {"a": _notebook(RIGHT), "b": _notebook(), "c": _notebook(RIGHT, before=sleeper)},
    )
    command = [sys.executable, "-m", "dl_workshop", "--no-compile-cache", "grade", *map(str, paths)]
    command += ["--out", str(out), "--timeout", "120", "--seed", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not _alive(f"{MARKER}-sigint"):
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert _alive(f"{MARKER}-sigint"), "the third notebook never started"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 130, err
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert [row[0] for row in rows[1:]] == [str(paths[0]), str(paths[1])]
    assert rows[1][-1] == "4" and rows[2][-1] == "0"
    assert b"2 notebook(s) graded before" in err
    time.sleep(0.5)
    assert _alive(f"{MARKER}-sigint") == []
