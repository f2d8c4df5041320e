"""dl-workshop: learn and do gradient-based optimization of linear models with JAX.

The core is a handful of pure functions: :func:`linear_model` (theta first, data second),
:func:`mseloss` and its gradient :func:`dmseloss`, and :func:`fit` /
:func:`model_optimization_loop`, a compiled optimization loop that takes plain gradient descent
or any optax optimizer.
"""

from dl_workshop import _moved
from dl_workshop._version import __version__
from dl_workshop.fitting.optimization import (
    DivergenceError,
    DivergenceWarning,
    FitResult,
    Objective,
    estimate_curvature,
    fit,
    fit_objective,
    gradient_descent,
    model_optimization_loop,
)
from dl_workshop.io.persistence import load_params, save_params
from dl_workshop.lesson.data import b_true, make_y, w_true
from dl_workshop.lesson.logistic import (
    binary_cross_entropy,
    dlogistic_loss,
    logistic,
    logistic_loss,
    logistic_model,
)
from dl_workshop.lesson.losses import dmseloss, mse, mseloss
from dl_workshop.lesson.model import LinearParams, initialize_linear_params, linear_model
from dl_workshop.lesson.polynomial import df, f
from dl_workshop.lesson.sampling import noise

_moved.install(keep=("logistic",))  # the old import paths (docs/architecture.md)

# Heavier modules (scikit-learn, matplotlib, pyarrow) load on first use, so that
# `import dl_workshop` stays quick for the lesson and the CLI.
_LAZY = {
    "fitting.checkpoint": ["CheckpointInfo", "load_checkpoint"],
    "teaching.checks": [
        "ExerciseError",
        "check_descend",
        "check_df",
        "check_dfdw",
        "check_dlogistic_loss",
        "check_dmseloss",
        "check_f",
        "check_initialize_linear_params",
        "check_linear_model",
        "check_logistic",
        "check_logistic_loss",
        "check_logistic_model",
        "check_mseloss",
        "check_optimization_loop",
        "hint",
        "progress",
        "solution",
    ],
    "lesson.data": ["read_dask_table", "read_table"],
    "teaching.diagrams": [
        "ACTIVATION_COLOR",
        "BIAS_COLOR",
        "INPUT_COLOR",
        "OUTPUT_COLOR",
        "WEIGHT_COLOR",
        "draw_matrix_form",
        "draw_neural_diagram",
    ],
    "estimator": [
        "CollinearityWarning",
        "GradientDescentClassifier",
        "GradientDescentRegressor",
        "load_model",
        "quadratic_linesearch",
        "save_model",
    ],
    "objectives.fastpath": [
        "LinearMSEObjective",
        "LinearMSEStats",
        "linear_mse_loss",
        "sufficient_statistics",
    ],
    "fitting.parallel": ["data_mesh", "fit_sharded", "shard_rows"],
    "teaching.plots": [
        "animate_descent",
        "plot_fit",
        "plot_loss",
        "plot_loss_landscape",
        "plot_optimizer_paths",
    ],
    "fitting.streaming": [
        "MinibatchObjective",
        "fit_stream",
        "iter_chunks",
        "shuffle_positions",
        "window_key",
    ],
    "teaching.widgets": ["explore_line", "explore_step_size"],
}
_LAZY_OWNER = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    module = _LAZY_OWNER.get(name)
    if module is None:
        raise AttributeError(f"module 'dl_workshop' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"dl_workshop.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_OWNER))


__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "LinearParams",
    "Objective",
    "__version__",
    "b_true",
    "binary_cross_entropy",
    "df",
    "dlogistic_loss",
    "dmseloss",
    "estimate_curvature",
    "f",
    "fit",
    "fit_objective",
    "gradient_descent",
    "initialize_linear_params",
    "linear_model",
    "load_params",
    "logistic",
    "logistic_loss",
    "logistic_model",
    "make_y",
    "model_optimization_loop",
    "mse",
    "mseloss",
    "noise",
    "save_params",
    "w_true",
    *_LAZY_OWNER,
]
