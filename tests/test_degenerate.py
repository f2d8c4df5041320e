"""Degenerate data is named: collinear and underdetermined fits, constant columns and targets.

``GradientDescentRegressor.fit`` warns with a ``CollinearityWarning`` when the standardized design
is numerically rank-deficient: singular values at or below ``max(n_samples, n_parameters) * eps``
times the largest (``numpy.linalg.lstsq``'s default cut-off; 5e13 in condition number for 82
rows, so NIST Filip at 3.8e9 is full rank). The predictions stay those of least squares.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import dl_workshop
from dl_workshop.cli import main
from dl_workshop.estimator import CollinearityWarning, GradientDescentRegressor
from dl_workshop.estimator.conditioning import undetermined_parameters

NOT_UNIQUE_TEXT = "coefficients are not unique; predictions are"


def lstsq_predictions(x, y, *, intercept=True):
    design = np.column_stack([x, np.ones(len(x))]) if intercept else np.asarray(x)
    return design @ np.linalg.lstsq(design, y, rcond=None)[0]


def fit_recording(model, x, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, **kwargs)
    return [w for w in caught if issubclass(w.category, CollinearityWarning)]


@pytest.fixture(scope="module")
def columns():
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=40), rng.normal(size=40)
    return a, c, 3 * a - c + 0.1 * rng.normal(size=40)


def test_the_warning_class_is_public_and_a_user_warning():
    assert issubclass(CollinearityWarning, UserWarning)
    assert dl_workshop.CollinearityWarning is CollinearityWarning
    assert "CollinearityWarning" in dl_workshop.__all__


def test_collinear_columns_warn_once_naming_rank_and_columns(columns):
    a, c, y = columns
    x = pd.DataFrame({"a": a, "b": 2 * a + 1, "c": c})
    model = GradientDescentRegressor()
    caught = fit_recording(model, x, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "rank 2 with 3 feature(s)" in message
    assert "columns 'a' and 'b' are linearly dependent" in message and "'c'" not in message
    assert message.endswith(NOT_UNIQUE_TEXT)
    assert model.rank_ == 2 and model.condition_number_ > 1e13
    np.testing.assert_allclose(model.predict(x), lstsq_predictions(x, y), atol=1e-10)
    mask, intercept = undetermined_parameters(model)
    assert mask.tolist() == [True, True, False] and intercept


def test_collinear_columns_without_names_are_numbered(columns):
    a, c, y = columns
    caught = fit_recording(GradientDescentRegressor(), np.column_stack([c, a, -a]), y)
    assert "columns 1 and 2 are linearly dependent" in str(caught[0].message)


@pytest.mark.parametrize(("noise", "warns"), [(1e-15, True), (1e-6, False)])
def test_nearly_collinear_warns_only_past_the_threshold(columns, noise, warns):
    a, c, y = columns
    b = 2 * a + 1 + noise * np.random.default_rng(1).normal(size=len(a))
    x = np.column_stack([a, b, c])
    model = GradientDescentRegressor()
    caught = fit_recording(model, x, y)
    threshold = 1 / (max(len(a), 4) * np.finfo(np.float64).eps)  # 1.1e14 for 40 rows
    assert (model.condition_number_ > threshold) == warns
    assert bool(caught) == warns and model.rank_ == (2 if warns else 3)
    np.testing.assert_allclose(model.predict(x), lstsq_predictions(x, y), atol=1e-8)


def test_more_features_than_rows_warn_and_interpolate():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 6)), rng.normal(size=3)
    model = GradientDescentRegressor()
    caught = fit_recording(model, x, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "rank 2 with 6 feature(s) and only 3 sample(s)" in message
    assert "columns 0, 1, 2, 3, 4 and 5" in message and "infinite" in message
    assert model.rank_ == 2 and model.condition_number_ == np.inf
    np.testing.assert_allclose(model.predict(x), y, atol=1e-9)


def test_rows_of_zero_weight_do_not_count_as_samples():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 6)), rng.normal(size=10)
    weights = np.r_[np.ones(3), np.zeros(7)]
    caught = fit_recording(GradientDescentRegressor(), x, y, sample_weight=weights)
    assert "only 3 sample(s) of nonzero weight" in str(caught[0].message)


def test_a_constant_column_next_to_the_intercept_is_named(columns):
    a, _, y = columns
    x = pd.DataFrame({"a": a, "k": np.full(len(a), 4.0)})
    model = GradientDescentRegressor()
    caught = fit_recording(model, x, y)
    assert len(caught) == 1 and "column 'k' is constant" in str(caught[0].message)
    assert model.rank_ == 1
    np.testing.assert_allclose(model.predict(x), lstsq_predictions(x, y), atol=1e-10)
    assert undetermined_parameters(model)[0].tolist() == [False, True]
    # Without an intercept the constant column is the intercept: nothing to warn about.
    model = GradientDescentRegressor(fit_intercept=False)
    assert fit_recording(model, x, y) == [] and model.rank_ == 2


def test_a_constant_target_fits_a_constant_without_warning(columns):
    a, c, _ = columns
    x = np.column_stack([a, c])
    model = GradientDescentRegressor()
    assert fit_recording(model, x, np.full(len(a), 5.0)) == []
    np.testing.assert_allclose(model.coef_, 0.0, atol=1e-12)
    assert model.intercept_ == pytest.approx(5.0, abs=1e-12) and model.rank_ == 2


def test_ill_conditioned_but_full_rank_polynomials_do_not_warn():
    # A degree-10 polynomial design like NIST Filip's (condition number ~4e9 standardized).
    x = np.linspace(-8.8, -3.1, 82)
    design = np.column_stack([x**k for k in range(1, 11)])
    y = 0.85 + 0.005 * np.sin(x)
    model = GradientDescentRegressor()
    assert fit_recording(model, design, y) == []
    assert model.rank_ == 10 and 1e9 < model.condition_number_ < 1e11


def test_a_ridge_penalty_makes_the_coefficients_unique_but_rank_is_reported(columns):
    a, c, y = columns
    model = GradientDescentRegressor(alpha=1.0)
    assert fit_recording(model, np.column_stack([a, 2 * a + 1, c]), y) == []
    assert model.rank_ == 2  # of the design; the penalty picks one solution
    assert not undetermined_parameters(model)[0].any()


# ----------------------------------------------------------------------------- the CLI
def run_cli(tmp_path, frame, capsys, *extra):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "y", *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err.strip().splitlines()


def table(out):
    """``{parameter: difference column}`` of the printed comparison."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("parameter"))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("R²"):
            break
        name = line.split()[0]
        rows[name] = "not unique" if line.endswith("not unique") else line.split()[-1]
    return rows


def assert_every_statistic_finite_or_named(out):
    assert not re.search(r"\b(nan|inf)\b", out, flags=re.IGNORECASE), out


def test_cli_names_collinear_columns_and_says_not_unique(tmp_path, columns, capsys):
    a, c, y = columns
    frame = pd.DataFrame({"a": a, "b": 2 * a + 1, "c": c, "y": y})
    out, err = run_cli(tmp_path, frame, capsys)
    assert len(err) == 1 and err[0].startswith("dl-workshop fit: warning: X has rank 2")
    assert "'a' and 'b'" in err[0] and err[0].endswith(NOT_UNIQUE_TEXT)
    rows = table(out)
    assert rows["intercept"] == rows["a"] == rows["b"] == "not unique"
    assert abs(float(rows["c"])) < 1e-8
    assert_every_statistic_finite_or_named(out)


def test_cli_more_features_than_rows(tmp_path, capsys):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(3, 6)), columns=[f"x{i}" for i in range(6)])
    frame["y"] = rng.normal(size=3)
    out, err = run_cli(tmp_path, frame, capsys)
    assert len(err) == 1 and "only 3 sample(s)" in err[0] and "infinite" in err[0]
    assert set(table(out).values()) == {"not unique"}
    assert_every_statistic_finite_or_named(out)


def test_cli_constant_column(tmp_path, columns, capsys):
    a, _, y = columns
    frame = pd.DataFrame({"a": a, "k": np.full(len(a), 4.0), "y": y})
    out, err = run_cli(tmp_path, frame, capsys)
    assert len(err) == 1 and "column 'k' is constant" in err[0]
    rows = table(out)
    assert rows["k"] == rows["intercept"] == "not unique" and rows["a"] != "not unique"
    assert_every_statistic_finite_or_named(out)


def test_cli_constant_target_has_an_undefined_r2(tmp_path, columns, capsys):
    a, c, _ = columns
    frame = pd.DataFrame({"a": a, "c": c, "y": np.full(len(a), 5.0)})
    out, err = run_cli(tmp_path, frame, capsys)
    assert err == []
    assert "R²: undefined (constant target)" in out
    assert "not unique" not in out
    assert_every_statistic_finite_or_named(out)


def test_cli_full_rank_fit_prints_differences(tmp_path, columns, capsys):
    a, c, y = columns
    out, err = run_cli(tmp_path, pd.DataFrame({"a": a, "c": c, "y": y}), capsys)
    assert err == [] and "not unique" not in out
    assert all(abs(float(v)) < 1e-8 for v in table(out).values())
