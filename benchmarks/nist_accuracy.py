"""Correct digits on the NIST StRD linear least-squares problems: GradientDescentRegressor (refined)
beside numpy.linalg.lstsq, Householder QR (NumPy) and scikit-learn's LinearRegression.

Every method gets the same float64 design (the README's mapping of the NIST data: powers of x
computed in float64, Longley's six columns); the log relative error (LRE, correct significant
digits, capped at 15) of each coefficient is measured against the certified values. Our
estimator is also given the polynomial problems the other way, ``x`` itself with
``degree=d``: it forms the powers itself, exactly for the refinement (column "ours, degree=").

    python benchmarks/nist_accuracy.py                          # print the tables
    python benchmarks/nist_accuracy.py --write docs/accuracy.md # rewrite them in the page
    python benchmarks/nist_accuracy.py --quick                  # Norris and Longley only
    python benchmarks/nist_accuracy.py --moments                # the moments path (> 4 096 rows)

``tests/test_accuracy_doc.py`` regenerates the tables and fails when the page's are stale.
"""

from __future__ import annotations

import argparse
import json
import re
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from dl_workshop.estimator import GradientDescentRegressor

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nist-strd"
NAMES = ["Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley",
         "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"]
BEGIN, END = "<!-- nist-accuracy:begin -->", "<!-- nist-accuracy:end -->"
METHODS = ["ours", "lstsq", "QR", "sklearn"]
#: Not measured (Longley is no polynomial: no ``degree=`` route).
NONE = "—"


def design(folder: Path, name: str, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """The design of the NIST README's mapping: Longley's six columns, else powers of x."""
    frame = pd.read_csv(folder / f"{name}.csv")
    y = frame["y"].to_numpy(np.float64)
    if name == "Longley":
        return frame.drop(columns="y").to_numpy(np.float64), y
    column = frame["x"].to_numpy(np.float64)
    return np.column_stack([column**p for p in range(1, spec["degree"] + 1)]), y


def lre(estimate: float, certified: str) -> float:
    """The README's log relative error, capped at 15 (the certified values have 15 digits)."""
    cert = Decimal(certified)
    error = abs(Decimal(repr(float(estimate))) - cert)
    if error == 0:
        return 15.0
    relative = error / abs(cert) if cert != 0 else error
    return min(15.0, -float(relative.log10()))


def _with_intercept(x: np.ndarray, intercept: bool) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x]) if intercept else x


def _back_substitution(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``R⁻¹ b`` for upper-triangular ``R``, row by row (what LAPACK's trtrs does)."""
    x = np.zeros_like(b)
    for i in range(len(b) - 1, -1, -1):
        x[i] = (b[i] - r[i, i + 1 :] @ x[i + 1 :]) / r[i, i]
    return x


def _parameters(model: GradientDescentRegressor, intercept: bool) -> np.ndarray:
    return np.concatenate([[model.intercept_], model.coef_]) if intercept else model.coef_


def degree_route(folder: Path, name: str, spec: dict) -> tuple[list[float], Any] | None:
    """The LREs and the model of ``GradientDescentRegressor(degree=d)`` fitted to the column
    ``x`` itself (``None`` for Longley, which is no polynomial)."""
    if "degree" not in spec:
        return None
    frame = pd.read_csv(folder / f"{name}.csv")
    model = GradientDescentRegressor(degree=spec["degree"], fit_intercept=spec["intercept"])
    model.fit(frame[["x"]].to_numpy(np.float64), frame["y"].to_numpy(np.float64))
    found = _parameters(model, spec["intercept"])
    return [lre(e, c) for e, c in zip(found, spec["coefficients"], strict=True)], model


def estimates(x: np.ndarray, y: np.ndarray, intercept: bool) -> tuple[dict, Any]:
    """Each method's parameters, the intercept first."""
    model = GradientDescentRegressor(fit_intercept=intercept).fit(x, y)
    a = _with_intercept(x, intercept)
    q, r = np.linalg.qr(a)
    sk = LinearRegression(fit_intercept=intercept).fit(x, y)
    return {
        "ours": _parameters(model, intercept),
        "lstsq": np.linalg.lstsq(a, y, rcond=None)[0],
        "QR": _back_substitution(r, q.T @ y),
        "sklearn": np.concatenate([[sk.intercept_], sk.coef_]) if intercept else sk.coef_,
    }, model


def measure(folder: Path, names: list[str]) -> list[dict]:
    """Per data set: the certified values, each method's LREs, and our fit's figures."""
    certified = json.loads((folder / "certified.json").read_text())
    rows = []
    for name in names:
        spec = certified[name]
        x, y = design(folder, name, spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's own warnings on ill-conditioning
            found, model = estimates(x, y, spec["intercept"])
            polynomial = degree_route(folder, name, spec)
        lres = {m: [lre(e, c) for e, c in zip(found[m], spec["coefficients"], strict=True)]
                for m in METHODS}
        rows.append({"name": name, "parameters": spec["coefficient_names"],
                     "certified": spec["coefficients"], "lres": lres,
                     "accuracy": model.accuracy_, "n_iter": model.n_iter_,
                     "condition": model.condition_number_,
                     "degree": None if polynomial is None else {
                         "lres": polynomial[0], "accuracy": polynomial[1].accuracy_,
                         "n_iter": polynomial[1].n_iter_}})
    return rows


def _digits(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}"  # no "-0.0"


def moments_path(folder: Path, names: list[str]) -> str:
    """Our fit on each data set's rows repeated to more than 4 096 (the same least-squares
    solution), which runs on the rows' moments: its least LRE beside ``accuracy_``."""
    certified = json.loads((folder / "certified.json").read_text())
    lines = ["| dataset | rows | ours | `accuracy_` |", "|---|---|---|---|"]
    for name in names:
        spec = certified[name]
        x, y = design(folder, name, spec)
        copies = 4096 // len(y) + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GradientDescentRegressor(fit_intercept=spec["intercept"]).fit(
                np.tile(x, (copies, 1)), np.tile(y, copies))
        found = (np.concatenate([[model.intercept_], model.coef_]) if spec["intercept"]
                 else model.coef_)
        least = min(lre(e, c) for e, c in zip(found, spec["coefficients"], strict=True))
        lines.append(f"| {name} | {copies * len(y)} | {_digits(least)} | "
                     f"{_digits(model.accuracy_)} |")
    return "\n".join(lines) + "\n"


def _degree_cells(row: dict) -> str:
    """The summary's ``degree=`` cells: least LRE, ``accuracy_``, iterations."""
    route = row["degree"]
    if route is None:
        return f"{NONE} | {NONE} | {NONE}"
    return (f"{_digits(min(route['lres']))} | {_digits(route['accuracy'])} | "
            f"{route['n_iter']}")


def tables(rows: list[dict]) -> str:
    """The summary table (least LRE per data set) and the table per coefficient, Markdown."""
    lines = ["| dataset | ours | `accuracy_` | iterations | ours, `degree=` | "
             "`accuracy_`, `degree=` | iterations, `degree=` | `numpy.linalg.lstsq` | "
             "Householder QR (numpy) | scikit-learn `LinearRegression` |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        least = {m: min(row["lres"][m]) for m in METHODS}
        lines.append(f"| {row['name']} | {_digits(least['ours'])} | "
                     f"{_digits(row['accuracy'])} | {row['n_iter']} | {_degree_cells(row)} | "
                     f"{_digits(least['lstsq'])} | {_digits(least['QR'])} | "
                     f"{_digits(least['sklearn'])} |")
    lines += ["", "| dataset | parameter | certified | ours | ours, `degree=` | "
              "`numpy.linalg.lstsq` | Householder QR | scikit-learn |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for i, (param, cert) in enumerate(zip(row["parameters"], row["certified"], strict=True)):
            route = NONE if row["degree"] is None else _digits(row["degree"]["lres"][i])
            values = " | ".join(_digits(row["lres"][m][i]) for m in METHODS[1:])
            lines.append(f"| {row['name']} | {param} | {cert} | "
                         f"{_digits(row['lres']['ours'][i])} | {route} | {values} |")
    return "\n".join(lines) + "\n"


def rewrite(page: Path, text: str) -> None:
    """Replace what lies between the page's markers with ``text``."""
    content = page.read_text()
    if BEGIN not in content or END not in content:
        raise ValueError(f"{page} has no {BEGIN} ... {END} section to rewrite")
    before, rest = content.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    page.write_text(f"{before}{BEGIN}\n{text}{END}{after}")


def section(page: Path) -> str:
    """The text between the page's markers."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), page.read_text(), re.S)
    if match is None:
        raise ValueError(f"{page} has no {BEGIN} ... {END} section")
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the NIST StRD folder")
    parser.add_argument("--write", type=Path, metavar="PAGE",
                        help="rewrite the tables in this Markdown page (docs/accuracy.md)")
    parser.add_argument("--quick", action="store_true", help="Norris and Longley only")
    parser.add_argument("--moments", action="store_true",
                        help="print the moments path's table (rows repeated past 4 096)")
    args = parser.parse_args()
    names = ["Norris", "Longley"] if args.quick else NAMES
    if args.moments:
        print(moments_path(args.data, names), end="")
        return
    text = tables(measure(args.data, names))
    if args.write is None:
        print(text, end="")
    else:
        rewrite(args.write, text)
        print(f"wrote the tables into {args.write}")


if __name__ == "__main__":
    main()
