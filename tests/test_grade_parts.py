"""The grader's parts without a kernel: plain data both ways, proxies judged by the real
checkers, the reference-call recorder, result files, options and the sandbox's refusal."""

import base64
import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from dl_workshop.cli import main
from dl_workshop.teaching.checks import check_descend, check_mseloss, grade_kernel, plain
from dl_workshop.teaching.checks.grade_report import csv_cell, feedback_names
from dl_workshop.teaching.checks.remote import KernelLostError, Proxy, Session, _rebuilt
from dl_workshop.teaching.checks.runner import ExerciseError, grad_of


def _in_process_session(namespace, limit=5.0):
    """A session whose 'kernel' is the agent called in this process on ``namespace``."""

    def execute(expression, timeout):
        call = expression.replace(
            "__import__('dl_workshop.teaching.checks.grade_kernel', fromlist=['call'])", "agent"
        )
        return repr(eval(call, {"agent": grade_kernel, "globals": lambda: namespace}))

    return Session(execute, limit, references=list(namespace))


def _proxy(namespace, name):
    session = _in_process_session(namespace)
    info = session.describe([name])[name]
    return session, session.answer(name, info)


def test_results_come_back_as_float64_and_int64_plain_data():
    tree = plain.encode_result(
        {"a": jnp.float32(1.5), "b": (np.int8(3), [True, None]), "c": np.arange(3)}
    )
    value = plain.checked(json.loads(json.dumps(tree)))
    assert value["a"].dtype == np.float64 and float(value["a"]) == 1.5
    assert value["b"][0].dtype == np.int64 and value["b"][1] == [True, None]
    assert isinstance(value["b"], tuple) and value["c"].tolist() == [0, 1, 2]
    assert math.isnan(plain.checked(plain.encode_result(float("nan"))))


def test_objects_come_back_as_type_names_only():
    class Anything(float):
        def __eq__(self, other):
            return True

    value = plain.checked(plain.encode_result([Anything(1.0), lambda: 0, object()]))
    # A float that claims to equal anything comes back as its number, compared honestly.
    assert type(value[0]) is np.ndarray and value[0].dtype == np.float64
    assert value[0] == 1.0 and value[0] != 2.0
    assert all(isinstance(item, plain.Opaque) for item in value[1:]) and value[1].is_callable


@pytest.mark.parametrize(
    "tree",
    [
        {"t": "array", "dtype": "object", "shape": [1], "data": [1]},
        {"t": "array", "dtype": "float64", "shape": [3], "data": [1.0]},
        {"t": "array", "dtype": "float64", "shape": [10**7], "data": []},
        {"t": "array", "dtype": "int64", "shape": [1], "data": [2**70]},
        {"t": "pickle", "v": "gASV"},
        {"t": "dict", "k": [1], "v": [1.0]},
        {"nested": True},
    ],
)
def test_malformed_results_are_refused(tree):
    with pytest.raises(plain.PlainDataError):
        plain.checked(tree)


def test_a_deep_or_huge_reply_is_refused():
    deep = {"t": "list", "v": []}
    for _ in range(40):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(plain.PlainDataError, match="nested too deeply"):
        plain.checked(deep)
    with pytest.raises(plain.PlainDataError, match="too large"):
        plain.parse("1" * (plain.MAX_REPLY_BYTES + 1))


def test_a_learner_exception_is_rebuilt_as_an_exception_never_a_base_exception():
    for name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
        error = _rebuilt({"type": name, "module": "builtins", "message": "0"})
        assert isinstance(error, Exception) and type(error).__name__ == name
    error = _rebuilt({"type": "ZeroDivisionError", "module": "builtins", "message": "x"})
    assert isinstance(error, ZeroDivisionError) and str(error) == "x"
    error = _rebuilt({"type": "TracerArrayConversionError", "module": "jax.errors", "message": ""})
    import jax

    assert isinstance(error, jax.errors.TracerArrayConversionError)
    assert type(_rebuilt({"type": "not a name!", "module": 3})).__name__ == "Error"


def test_the_real_checkers_judge_a_proxy_as_they_judge_the_function():
    right = "def descend(df, w, step_size=0.01, n_steps=1000):\n"
    right += "    for _ in range(n_steps):\n        w = w - step_size * df(w)\n    return w\n"
    namespace = {}
    exec(right, namespace)
    _, proxy = _proxy(namespace, "descend")
    assert isinstance(proxy, Proxy) and check_descend(proxy, seed=4) is True
    namespace = {"mseloss": lambda theta, model, x, y: jnp.sum((y - model(theta, x)) ** 2)}
    _, proxy = _proxy(namespace, "mseloss")
    with pytest.raises(ExerciseError, match="sum the squared errors instead of averaging"):
        check_mseloss(proxy, seed=4)


def test_gradients_of_proxies_are_computed_in_the_kernel():
    session, proxy = _proxy({"f": lambda w: w**3}, "f")
    assert float(grad_of(proxy)(2.0)) == 12.0
    assert float(grad_of(proxy, cotangent=np.ones(2))(np.array([1.0, 2.0]))[1]) == 12.0


def test_a_wrapper_around_a_reference_answer_is_recorded_a_passed_in_model_is_not():
    from dl_workshop import answers
    from dl_workshop.lesson.model import linear_model

    saved = answers.mseloss
    namespace = {
        "mseloss": lambda theta, model, x, y: saved(theta, model, x, y),
        "own": lambda theta, model, x, y: jnp.mean((y - model(theta, x)) ** 2),
    }
    session = _in_process_session(namespace)
    args = ({"w": 1.0, "b": 0.0}, linear_model, np.ones(3), np.zeros(3))
    for name in ("mseloss", "own"):
        proxy = session.answer(name, session.describe([name])[name])
        assert float(proxy(*args)) == 1.0
    assert session.refs == {"mseloss": {"mseloss"}, "own": set()}


def test_a_kernel_that_does_not_answer_is_lost_for_the_rest_of_the_notebook():
    def execute(expression, timeout):
        raise KernelLostError("no answer within 18 s")

    session = Session(execute, 8.0)
    with pytest.raises(KernelLostError):
        session.describe(["f"])
    with pytest.raises(KernelLostError, match="no answer"):
        session.call("f", Proxy(session, "f", {}), (), {})


def test_forged_replies_are_not_data():
    session = Session(lambda expression, timeout: "print('pass')", 8.0)
    with pytest.raises(plain.PlainDataError):
        session.describe(["f"])
    reply = base64.b64encode(b'{"ok": true, "value": {"t": "object"}, "refs": []}').decode()
    session = Session(lambda expression, timeout: repr(reply), 8.0)
    assert isinstance(session.call("f", Proxy(session, "f", {}), (), {}), plain.Opaque)


def test_feedback_names_are_unique_for_any_paths():
    paths = [Path("a/x.ipynb"), Path("b/x.ipynb"), Path("x-2.ipynb"), Path("X.ipynb")]
    paths += [Path("../.hidden.ipynb"), Path("a b\n.ipynb")]
    names = feedback_names(paths)
    assert len({name.lower() for name in names}) == len(names)
    assert all("/" not in name and "\n" not in name and not name.startswith(".") for name in names)


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1"])
def test_csv_cells_that_read_as_formulas_are_escaped(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timeout", "1e10", "timeout must be a finite number of seconds from 1 to 86400"),
        ("--timeout", "nan", "timeout must be a finite number"),
        ("--notebook-timeout", "inf", "notebook-timeout must be a finite number"),
        ("--memory", "10", "memory must be a whole number from 268435456"),
        ("--max-processes", "1", "max-processes must be a whole number from 2"),
    ],
)
def test_bad_limits_are_refused_in_one_line(capsys, tmp_path, option, value, message):
    code = main(["--no-compile-cache", "grade", "x.ipynb", "--out", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and message in err


def test_without_bwrap_grade_refuses_in_one_line_unless_no_sandbox(monkeypatch, capsys, tmp_path):
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a: None if name == "bwrap" else real(name))
    code = main(["--no-compile-cache", "grade", "x.ipynb", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "bwrap (bubblewrap) is not installed" in err and "--no-sandbox" in err
    # Without the sandbox (a file that is not a notebook starts no kernel): warned everywhere.
    out = tmp_path / "b"
    code = main(
        [
            "--no-compile-cache",
            "grade",
            str(tmp_path / "x.ipynb"),
            "--out",
            str(out),
            "--no-sandbox",
        ]
    )
    assert code == 0
    assert "WARNING: graded with --no-sandbox" in capsys.readouterr().out
    assert "WARNING: graded with --no-sandbox" in (out / "feedback" / "x.md").read_text()


def test_the_sandbox_binds_python_over_its_fresh_tmp(tmp_path, monkeypatch):
    """A virtual environment or checkout under /tmp (as CI makes them) stays visible in the
    sandbox: it is bound after the sandbox's own /tmp, not hidden under it."""
    import sys

    from dl_workshop.teaching.checks import sandbox

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(venv))
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    command = sandbox.sandbox_command(["python"], work, run, sandbox.Limits())
    tmpfs = command.index("--tmpfs")
    binds = [
        i for i, arg in enumerate(command) if arg == "--ro-bind" and command[i + 1] == str(venv)
    ]
    assert binds and all(i > tmpfs for i in binds), command
