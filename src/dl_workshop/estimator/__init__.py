"""A scikit-learn regressor trained by gradient-based optimization on the compiled engine.

:class:`GradientDescentRegressor` fits ``y ≈ X @ coef_.T + intercept_`` (one or several
outputs, optional sample weights and L2 penalty) by minimizing

    J(coef, intercept) = (Σ_i s_i ||y_i - x_i coef^T - intercept||² + alpha ||coef||²) / Σ_i s_i

with the engine of :func:`dl_workshop.fitting.optimization.fit_objective` (its solver, called
directly:
see :mod:`~dl_workshop.estimator.solve`), so every iteration runs inside one compiled
``jax.lax.scan`` with divergence detection and early stopping. ``J`` has the same minimizer as
scikit-learn's ``Ridge(alpha)`` (``LinearRegression`` for ``alpha=0``).

Why the defaults reach certified least squares: the features (and targets) are centred and
scaled before optimizing (``standardize=True``), a change of variables that leaves the minimizer
unchanged but shrinks the Hessian's condition number by orders of magnitude (Longley: from
2e19 to 1e4); L-BFGS (``optimizer="lbfgs"``) with an exact line search for quadratics
(:func:`quadratic_linesearch`: a second directional derivative per step, no loss differences)
then converges superlinearly, and float64 keeps the gradient accurate enough to resolve the
remaining ill-conditioning. Plain gradient descent on the same problems would need about
``condition number`` steps per digit. In float64 a converged fit is then refined
(:mod:`~dl_workshop.estimator.refine`): residuals in double-double arithmetic
(:mod:`~dl_workshop.estimator.extended`) and Newton corrections from the design's factorization
give the float64 nearest the exact least-squares solution of the data, and ``accuracy_`` the
number of correct digits.

Degenerate data is named: linearly dependent columns, constant columns next to the intercept
and fewer samples than parameters raise a :class:`CollinearityWarning` (the coefficients are not
unique; the predictions are); ``rank_`` and ``condition_number_`` describe the standardized
design (:mod:`~dl_workshop.estimator.conditioning`).

Models are saved by :func:`save_model` and read by :func:`load_model` as ``.npz`` arrays plus a
JSON header (never pickle).

The parts: :mod:`~dl_workshop.estimator.regressor` (the scikit-learn class),
:mod:`~dl_workshop.estimator.params` (the hyperparameters' constraint table),
:mod:`~dl_workshop.estimator.problem` (scaling, padding, the objective),
:mod:`~dl_workshop.estimator.conditioning` (rank, condition number, the collinearity warning),
:mod:`~dl_workshop.estimator.refine` (refinement and ``accuracy_``),
:mod:`~dl_workshop.estimator.extended` (double-double sums and products),
:mod:`~dl_workshop.estimator.optimizers` (optimizer choice, ``learning_rate="auto"``, the line
search), :mod:`~dl_workshop.estimator.solve` (the one call of the engine),
:mod:`~dl_workshop.estimator.partial` (``partial_fit``'s steps),
:mod:`~dl_workshop.estimator.dask_data` (Dask data: one pass, lazy ``predict`` and ``score``),
:mod:`~dl_workshop.estimator.compressed` (the problem on rows with the data's moments) and
:mod:`~dl_workshop.estimator.model_file` (the file format).
"""

# The constants are importable from here as before (``X as X``: an explicit re-export); the
# package root re-exports the names of __all__ only.
from dl_workshop.estimator.classifier import GradientDescentClassifier
from dl_workshop.estimator.conditioning import CollinearityWarning
from dl_workshop.estimator.model_file import MODEL_KIND as MODEL_KIND
from dl_workshop.estimator.model_file import load_model, save_model
from dl_workshop.estimator.optimizers import LBFGS_MEMORY as LBFGS_MEMORY
from dl_workshop.estimator.optimizers import MOMENTUM as MOMENTUM
from dl_workshop.estimator.optimizers import quadratic_linesearch
from dl_workshop.estimator.params import OPTIMIZERS as OPTIMIZERS
from dl_workshop.estimator.problem import LOSS_FLOOR as LOSS_FLOOR
from dl_workshop.estimator.problem import PAD_TINY_ROWS as PAD_TINY_ROWS
from dl_workshop.estimator.problem import PAD_TINY_SHAPE as PAD_TINY_SHAPE
from dl_workshop.estimator.refine import AccuracyWarning as AccuracyWarning
from dl_workshop.estimator.regressor import GradientDescentRegressor
from dl_workshop.estimator.solve import CHUNK_STEPS as CHUNK_STEPS

__all__ = [
    "CollinearityWarning",
    "GradientDescentClassifier",
    "GradientDescentRegressor",
    "load_model",
    "quadratic_linesearch",
    "save_model",
]
