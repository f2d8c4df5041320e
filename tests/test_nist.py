"""GradientDescentRegressor with default settings against the NIST StRD certified values."""

import json
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dl_workshop.estimator import GradientDescentRegressor

#: Minimum log relative error (correct significant digits) of every coefficient, per data set.
#: The issue requires 6 on the first eight. Filip and Wampler4/5 are the hardest problems of the
#: suite (float64 Householder QR reaches 7.4, 7.8 and 5.8); with the defaults we measured 7.3-7.5,
#: 8.0-8.4 and 6.0-7.1 across padding and tolerance variants, so their floor keeps a digit of
#: margin for other CPUs' rounding.
FLOORS = {
    "Norris": 6,
    "Pontius": 6,
    "NoInt1": 6,
    "NoInt2": 6,
    "Longley": 6,
    "Wampler1": 6,
    "Wampler2": 6,
    "Wampler3": 6,
    "Filip": 5,
    "Wampler4": 5,
    "Wampler5": 5,
}


@pytest.fixture
def nist(shared_dir: Path) -> tuple[Path, dict]:
    folder = shared_dir / "data" / "nist-strd"
    if not (folder / "certified.json").is_file():
        pytest.skip(f"NIST StRD reference data not found at {folder}")
    return folder, json.loads((folder / "certified.json").read_text())


def design(folder: Path, name: str, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """The design matrix of the README's mapping: Longley's six columns, else powers of x."""
    frame = pd.read_csv(folder / f"{name}.csv")
    y = frame["y"].to_numpy(np.float64)
    if "predictors" in spec or name == "Longley":
        x = frame.drop(columns="y").to_numpy(np.float64)
    else:
        column = frame["x"].to_numpy(np.float64)
        x = np.column_stack([column**power for power in range(1, spec["degree"] + 1)])
    return x, y


def log_relative_error(estimate: float, certified: str) -> float:
    """The README's LRE, capped at 15 (the certified values have 15 digits)."""
    cert = Decimal(certified)
    error = abs(Decimal(repr(float(estimate))) - cert)
    if error == 0:
        return 15.0
    relative = error / abs(cert) if cert != 0 else error
    return min(15.0, -float(relative.log10()))


def test_lre_helper_matches_the_readme_formula():
    assert log_relative_error(1.0000001, "1") == pytest.approx(7.0, abs=1e-6)
    assert log_relative_error(2e-9, "0") == pytest.approx(-np.log10(2e-9))
    assert log_relative_error(3.5, "3.5") == 15.0


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_default_fit_reaches_certified_coefficients(nist, name):
    folder, certified = nist
    spec = certified[name]
    x, y = design(folder, name, spec)
    model = GradientDescentRegressor(fit_intercept=spec["intercept"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults must converge without a warning
        model.fit(x, y)
    estimate = (
        np.concatenate([[model.intercept_], model.coef_]) if spec["intercept"] else model.coef_
    )
    assert len(estimate) == spec["n_params"]
    lres = [log_relative_error(e, c) for e, c in zip(estimate, spec["coefficients"], strict=True)]
    assert min(lres) >= FLOORS[name], f"{name}: coefficient LREs {np.round(lres, 2)}"


#: Row orders of Filip: the first twelve, and two where L-BFGS plateaus 25% above the minimum
#: and the loss test (blind there) stops it: the Newton finisher must take over.
FILIP_ORDERS = [*range(12), 24, 34]


@pytest.mark.parametrize("seed", FILIP_ORDERS)
def test_filip_converges_in_any_row_order(nist, seed):
    """Filip's loss carries rounding noise far above tol in every row order (the order changes
    the rounding, so the path): the fit must still stop, by the gradient's certificate, at the
    certified coefficients (see dl_workshop.estimator.certificate and .finish)."""
    folder, certified = nist
    spec = certified["Filip"]
    x, y = design(folder, "Filip", spec)
    order = np.random.default_rng(seed).permutation(len(y)) if seed else np.arange(len(y))
    model = GradientDescentRegressor()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x[order], y[order])
    estimate = np.concatenate([[model.intercept_], model.coef_])
    lres = [log_relative_error(e, c) for e, c in zip(estimate, spec["coefficients"], strict=True)]
    assert model.n_iter_ < model.max_iter
    assert min(lres) >= FLOORS["Filip"], f"order {seed}: coefficient LREs {np.round(lres, 2)}"
