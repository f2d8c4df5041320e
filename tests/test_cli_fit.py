"""``dl-workshop fit`` / ``predict`` and ``read_table``, run in-process through ``main``; the
``--scheduler local`` run as a subprocess in its own process group, killed if it overruns."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from dl_workshop.cli import main
from dl_workshop.estimator import load_model
from dl_workshop.lesson.data import read_table


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture
def csv_file(tmp_path, frame):
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def test_read_table_csv_and_parquet_agree(tmp_path, frame, csv_file):
    parquet = tmp_path / "diabetes.parquet"
    frame.to_parquet(parquet)
    x_csv, y_csv = read_table(csv_file, target="target")
    x_pq, y_pq = read_table(parquet, target="target", features=["bmi", "bp"])
    assert list(x_csv.columns) == [c for c in frame.columns if c != "target"]
    np.testing.assert_allclose(x_csv.to_numpy(), frame.drop(columns="target").to_numpy())
    np.testing.assert_allclose(x_pq.to_numpy(), frame[["bmi", "bp"]].to_numpy())
    np.testing.assert_allclose(y_csv.to_numpy(), y_pq.to_numpy())
    features_only, target = read_table(csv_file)
    assert target is None and features_only.shape == frame.shape


@pytest.mark.parametrize(
    ("content", "kwargs", "error", "match"),
    [
        (None, {"target": "y"}, FileNotFoundError, "does not exist"),
        (b"x,y\n1,2\n", {"target": "z"}, ValueError, "target column 'z' is not in"),
        (b"x,y\n1,2\n", {"target": "y", "features": ["q"]}, ValueError, r"\['q'\] not in"),
        (b"x,y\na,2\nb,3\n", {"target": "y"}, ValueError, "column 'x' .* is not numeric"),
        (b"x,y\n1,\n2,3\n", {"target": "y"}, ValueError, "column 'y' .* 1 missing value"),
        (b"x,y\n", {"target": "y"}, ValueError, "has no rows"),
        (b"", {"target": "y"}, ValueError, "the file is empty"),
        (b"y\n1\n", {"target": "y"}, ValueError, "no feature columns"),
    ],
)
def test_read_table_errors(tmp_path, content, kwargs, error, match):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match):
        read_table(path, **kwargs)


def _table_with(column: str, row: int, value: str, n: int = 20) -> str:
    """A CSV of ``n`` numeric rows of ``x, y`` with ``value`` in ``column`` at data row ``row``."""
    rows = [[f"{i / n:.6f}", f"{2 * i / n:.6f}"] for i in range(n)]
    rows[row - 1]["xy".index(column)] = value
    return "x,y\n" + "".join(f"{a},{b}\n" for a, b in rows)


def test_a_stray_value_in_a_feature_is_named_with_its_row(tmp_path):
    path = tmp_path / "stray.csv"
    path.write_text(_table_with("x", 13, "abc"))
    with pytest.raises(ValueError, match=r"column 'x' of .* is not numeric: data row 13 holds "
                       r"'abc'; select numeric columns with --features"):
        read_table(path, target="y")


def test_a_stray_value_in_the_target_says_the_target_must_be_numeric(tmp_path, capsys):
    path = tmp_path / "stray.csv"
    path.write_text(_table_with("y", 4, "n/a?"))
    assert main(["fit", str(path), "--target", "y"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"the target column 'y' of .* must be numeric: data row 4 holds 'n/a\?'",
                     err), err
    assert "--features" not in err and len(err.strip().splitlines()) == 1


def test_a_boolean_column_is_named_with_its_first_value(tmp_path):
    path = tmp_path / "flags.csv"
    path.write_text("x,y\nTrue,1\nFalse,2\n")
    with pytest.raises(ValueError, match=r"column 'x' .* data row 1 holds True;"):
        read_table(path, target="y")


def test_read_table_rejects_unreadable_and_unknown_files(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(ValueError, match="cannot read .* as parquet"):
        read_table(broken, target="y")
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported file type '.xlsx'"):
        read_table(other)


def test_fit_prints_the_comparison_and_saves_model_and_plot(tmp_path, frame, csv_file, capsys):
    out = tmp_path / "run"
    assert main(["fit", str(csv_file), "--target", "target", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    reference = LinearRegression().fit(frame.drop(columns="target"), frame["target"])
    assert "least squares" in printed and "difference" in printed and "R²" in printed
    assert "iterations (converged)" in printed
    bmi = next(line for line in printed.splitlines() if line.startswith("bmi "))
    fitted, exact = (float(v) for v in bmi.split()[1:3])
    assert fitted == pytest.approx(reference.coef_[2], rel=1e-9)
    assert exact == pytest.approx(reference.coef_[2], rel=1e-9)
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_model(out / "model.npz")
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)

    assert main(["predict", str(out / "model.npz"), str(csv_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "prediction" and len(lines) == len(frame) + 1
    expected = reference.predict(frame.drop(columns="target"))
    np.testing.assert_allclose([float(v) for v in lines[1:]], expected, rtol=1e-9)

    written = tmp_path / "predictions.parquet"
    assert main(["predict", str(out / "model.npz"), str(csv_file), "--out", str(written)]) == 0
    np.testing.assert_allclose(pd.read_parquet(written)["prediction"], expected, rtol=1e-9)


def test_fit_with_ridge_and_selected_features(csv_file, frame, capsys):
    argv = ["fit", str(csv_file), "--target", "target", "--features", "bmi", "s5"]
    assert main([*argv, "--alpha", "10"]) == 0
    printed = capsys.readouterr().out
    assert "ridge (closed form)" in printed and "age" not in printed


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["fit", "{tmp}/missing.csv", "--target", "y"], "does not exist"),
        (["fit", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
        (["fit", "{tmp}/text.csv", "--target", "y"], "column 'x' .* is not numeric"),
        (["fit", "{tmp}/broken.parquet", "--target", "y"], "cannot read .* as parquet"),
        (["fit", "{csv}", "--target", "target", "--max-iter", "0"], "max_iter must be"),
        (["predict", "{tmp}/text.csv", "{csv}"], "cannot read|dl-workshop file"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(tmp_path, csv_file, capsys, argv, match):
    (tmp_path / "text.csv").write_text("x,y\na,1\nb,2\n")
    (tmp_path / "broken.parquet").write_bytes(b"garbage")
    argv = [a.format(tmp=tmp_path, csv=csv_file) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"dl-workshop {argv[0]}: error:")
    assert re.search(match, err), err


def test_usage_error_exits_2(csv_file, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", str(csv_file)])
    assert info.value.code == 2
    assert "--target" in capsys.readouterr().err


def test_a_folder_given_as_the_data_file_is_named_a_folder(tmp_path, capsys):
    folder = tmp_path / "some_folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"'.*some_folder' is a folder, not a data file"):
        read_table(folder, target="y")
    assert main(["fit", str(folder), "--target", "y"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder, not a data file" in err[0]
    assert "does not exist" not in err[0]


SRC = Path(__file__).resolve().parents[1] / "src"


def _parquet_parts(folder, frame, parts=3):
    rows = -(-len(frame) // parts)
    for i in range(parts):
        frame.iloc[i * rows : (i + 1) * rows].to_parquet(folder / f"part{i}.parquet")
    return str(folder / "part*.parquet")


def _run_bounded(argv, timeout=180):
    """``dl-workshop ARGV`` as a subprocess; the whole process group (the LocalCluster's workers
    too) is killed if it has not ended within ``timeout`` seconds."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dl_workshop", *argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"dl-workshop {' '.join(argv)} ran past {timeout} s")
    return process.returncode, out, err


def test_fit_with_a_local_cluster_reads_a_glob_of_parquet_files(tmp_path, frame):
    pytest.importorskip("distributed")
    pattern = _parquet_parts(tmp_path, frame)
    out = tmp_path / "run"
    code, printed, err = _run_bounded(
        ["fit", pattern, "--target", "target", "--scheduler", "local", "--workers", "1",
         "--out", str(out)]
    )
    assert code == 0, err
    assert "Traceback" not in err
    x, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    exact = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y, rcond=None)[0]
    assert printed.startswith(f"fitted {len(y)} rows x 10 feature(s), target 'target'")
    bmi = next(line for line in printed.splitlines() if line.startswith("bmi "))
    fitted, closed = (float(v) for v in bmi.split()[1:3])
    assert fitted == pytest.approx(exact[2], rel=1e-9)
    assert closed == pytest.approx(exact[2], rel=1e-11)
    r2 = LinearRegression().fit(x, y).score(x, y)
    assert re.search(r"R²: (\S+) \(closed form (\S+)\)", printed).groups() == (
        f"{r2:.10f}", f"{r2:.10f}")
    np.testing.assert_allclose(load_model(out / "model.npz").coef_, exact[:-1], rtol=1e-9)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "0.5"],
         r"cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1': Timed out"),
        (["--scheduler", "no such address"], "cannot connect to the Dask scheduler at"),
        ([], "is a glob pattern; reading several files needs --scheduler local"),
    ],
)
def test_dask_errors_are_one_line_with_exit_code_1(tmp_path, frame, capsys, argv, match):
    pattern = _parquet_parts(tmp_path, frame)
    assert main(["fit", pattern, "--target", "target", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("dl-workshop fit: error:"), err
    assert re.search(match, err), err


def test_no_matching_files_and_no_dask_are_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    empty = str(tmp_path / "nothing*.parquet")
    # Checked before connecting: no scheduler is needed to say so.
    assert main(["fit", empty, "--target", "y", "--scheduler", "tcp://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"dl-workshop fit: error: no files match {empty!r}"
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were missing
    assert main(["fit", empty, "--target", "y", "--scheduler", "local"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "dl-workshop fit: error: --scheduler needs Dask's DataFrames and distributed scheduler, "
        "which are not installed (no module 'distributed'): pip install 'dl-workshop[dask]'"
    )
