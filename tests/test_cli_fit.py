"""``dl-workshop fit`` / ``predict`` and ``read_table``, run in-process through ``main``."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from dl_workshop.cli import main
from dl_workshop.data import read_table
from dl_workshop.estimator import load_model


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
