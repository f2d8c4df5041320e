"""The versions we declare: pyproject's lower bounds are the tested minimums of
.ci/constraints-min.txt, JAX has a tested range, and what older dependencies let through is
checked by the package itself."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from dl_workshop.estimator import GradientDescentRegressor, fit_data

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "constraints-min.txt"


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]] + [
        Requirement(line) for line in project["optional-dependencies"]["test"]
    ]


def _pinned() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_every_lower_bound_is_the_tested_minimum():
    pins = _pinned()
    for requirement in _declared():
        lower = [s.version for s in requirement.specifier if s.operator == ">="]
        assert lower, f"{requirement} declares no lower bound"
        assert pins.get(requirement.name.lower()) == lower[0], (
            f"{requirement}: .ci/constraints-min.txt pins {pins.get(requirement.name.lower())}"
        )


def test_jax_has_a_tested_range():
    # The package reads JAX's jaxprs (engine/jaxpr): a new JAX minor version
    # is admitted only after the suite passed with it.
    jax = next(r for r in _declared() if r.name == "jax")
    assert any(s.operator == "<" for s in jax.specifier), str(jax)
    readme = (ROOT / "README.md").read_text()
    assert str(jax.specifier).replace(",", ", ") in readme or all(
        s.version in readme for s in jax.specifier
    ), "the README says which JAX versions are tested"


def test_the_min_versions_script_runs_files_that_exist():
    script = (ROOT / ".ci" / "min-versions").read_text()
    files = re.findall(r"tests/\w+\.py", script)
    assert files
    for name in files:
        assert (ROOT / name).is_file(), name


def _old_check_sample_weight(sample_weight, x, dtype=None, ensure_non_negative=False):
    """scikit-learn 1.6-1.8's check: negative weights refused, all-zero weights let through."""
    weights = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype)
    if ensure_non_negative and np.any(weights < 0):
        raise ValueError("Negative values in data passed to `sample_weight`")
    return weights


@pytest.mark.parametrize("n", [50, 6_000], ids=["small", "large (compressed)"])
def test_all_zero_weights_get_a_value_error_whatever_scikit_learn_checks(monkeypatch, n):
    monkeypatch.setattr(fit_data, "_check_sample_weight", _old_check_sample_weight)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3.0
    with pytest.raises(ValueError, match="sample_weight must contain at least one non-zero"):
        GradientDescentRegressor().fit(x, y, sample_weight=np.zeros(n))
