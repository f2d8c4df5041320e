"""The ``--quick`` smoke run of benchmarks/bench_distributed.py: one pass over Dask data and the
least-squares solution, for ``fit`` and the estimator (times, memory and dask-ml's figures are
reported by the script, not asserted)."""

import re

import pytest

pytest.importorskip("distributed")

from test_benchmarks import run_quick  # noqa: E402


def test_distributed_quick_run_makes_one_pass_and_reaches_least_squares():
    out = run_quick("bench_distributed.py")
    rows = re.findall(r"ours: one-pass statistics, exact solve\s+(\S+)\s+\S+\s+\S+\s+(\S+)", out)
    assert len(rows) == 2, out  # well- and ill-conditioned
    for passes, error in rows:
        assert float(passes) == 1.0 and float(error) < 1e-8
    fit_rows = re.findall(r"ours: fit, GD \d+ steps \(1/L\)\s+(\S+)\s+\S+\s+\S+\s+(\S+)", out)
    assert [float(p) for p, _ in fit_rows] == [1.0, 1.0]
    assert float(fit_rows[0][1]) < 1e-8  # well-conditioned: gradient descent converges
    estimator = re.findall(
        r"ours: GradientDescentRegressor.fit\s+(\S+)\s+\S+\s+\S+\s+(\S+)", out)
    assert [float(p) for p, _ in estimator] == [1.0, 1.0]
    assert float(estimator[0][1]) < 1e-8  # well-conditioned: the defaults reach least squares
    assert len(re.findall(r"client RSS growth, GradientDescentRegressor.fit", out)) == 4
    assert "dask-ml newton" in out or "dask-ml rows skipped" in out
