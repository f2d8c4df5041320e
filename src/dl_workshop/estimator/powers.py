"""Polynomial models in one variable (``GradientDescentRegressor(degree=d)``).

With ``degree=d`` the user passes the variable ``x`` itself (``X`` of one column) and the model
is ``intercept + Σ_k coef_k x^k`` for ``k = 1 … d``. The estimator forms the powers: rounded to
float64 for the fit, exactly (double-double, :func:`~dl_workshop.estimator.extended.powers`) for
the refinement, so the rounding of ``x^k`` that a precomputed power matrix carries never enters
the answer. On NIST Filip that is the difference between 7.6 and 14 correct digits
(``docs/accuracy.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dl_workshop._validation import check_int
from dl_workshop.estimator.extended import powers

ONE_COLUMN_MESSAGE = (
    "X must have exactly one column (the variable x whose powers x, x**2, ..., x**degree are "
    "the features) when degree is set; got {n} columns with degree={degree}"
)
OVERFLOW_MESSAGE = (
    "degree={degree} is too large for this X: x**degree overflows float64 (largest |x| is "
    "{largest:.6g})"
)
DASK_DEGREE_MESSAGE = (
    "degree must be None for Dask data (form the power columns yourself, or pass the data in "
    "memory); got degree={degree}"
)
DEGREE_CHANGED_MESSAGE = (
    "degree={degree} gives {degree} coefficients, but this model was fitted with {fitted}: "
    "refit after changing degree"
)


def power_features(x: np.ndarray, degree: int | None) -> np.ndarray:
    """The design the fit sees: ``x`` itself for ``degree=None``, else the powers
    ``x^1 … x^degree`` of its one column, rounded to float64, shape ``(n, degree)``.

    Raises:
        ValueError: if ``degree`` is set and ``x`` has more than one column, or a power
            overflows.

    Example:
        >>> power_features(np.array([[2.0], [3.0]]), 3).tolist()
        [[2.0, 4.0, 8.0], [3.0, 9.0, 27.0]]
    """
    if degree is None:
        return x
    if x.shape[1] != 1:
        raise ValueError(ONE_COLUMN_MESSAGE.format(n=x.shape[1], degree=degree))
    with np.errstate(over="ignore", invalid="ignore"):
        columns = powers(x[:, 0], degree)[0]
    if not np.all(np.isfinite(columns)):
        raise ValueError(OVERFLOW_MESSAGE.format(degree=degree, largest=np.max(np.abs(x))))
    return columns


def variable_of(x: np.ndarray, degree: int | None) -> np.ndarray | None:
    """The variable whose powers the refinement evaluates exactly (``None`` without
    ``degree``): ``x``'s one column, shape ``(n,)``.

    Example:
        >>> variable_of(np.array([[2.0], [3.0]]), 2).tolist(), variable_of(np.ones((2, 2)), None)
        ([2.0, 3.0], None)
    """
    return None if degree is None else x[:, 0]


def power_design(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(power_features(x, degree), variable_of(x, degree))`` in one call (``fit``'s data
    stage).

    Example:
        >>> design, variable = power_design(np.array([[2.0], [3.0]]), 2)
        >>> design.tolist(), variable.tolist()
        ([[2.0, 4.0], [3.0, 9.0]], [2.0, 3.0])
    """
    return power_features(x, degree), variable_of(x, degree)


def power_names(names: list[str] | None, degree: int | None) -> list[str] | None:
    """The design's column names for warnings: ``names`` itself without ``degree``, else
    ``x, x**2, …`` of the one column's name (``"x"`` when ``X`` had none).

    Example:
        >>> power_names(["t"], 3), power_names(None, 2), power_names(None, None)
        (['t', 't**2', 't**3'], ['x', 'x**2'], None)
    """
    if degree is None:
        return names
    base = "x" if names is None else str(names[0])
    return [base] + [f"{base}**{k}" for k in range(2, degree + 1)]


def refuse_dask(degree: Any) -> None:
    """A ``ValueError`` for Dask data with ``degree`` set (the powers are formed in memory).

    Example:
        >>> refuse_dask(None)
    """
    if degree is not None:
        raise ValueError(DASK_DEGREE_MESSAGE.format(degree=degree))


def predict_features(x: np.ndarray, degree: Any, n_coef: int) -> np.ndarray:
    """:func:`power_features` for ``predict``: ``degree`` (the hyperparameter, checked here)
    must still give the fitted number of coefficients ``n_coef``.

    Example:
        >>> predict_features(np.array([[2.0]]), 2, 2).tolist()
        [[2.0, 4.0]]
    """
    if degree is None:
        return x
    degree = check_int(degree, "degree", minimum=1)
    if degree != n_coef:
        raise ValueError(DEGREE_CHANGED_MESSAGE.format(degree=degree, fitted=n_coef))
    return power_features(x, degree)
