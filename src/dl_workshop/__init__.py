"""dl-workshop: learn and do gradient-based optimization of linear models with JAX.

The core is a handful of pure functions: :func:`linear_model` (theta first, data second),
:func:`mseloss` and its gradient :func:`dmseloss`, and :func:`fit` /
:func:`model_optimization_loop`, a compiled optimization loop that takes plain gradient descent
or any optax optimizer.
"""

from importlib.metadata import PackageNotFoundError, version

from dl_workshop.data import b_true, make_y, w_true
from dl_workshop.losses import dmseloss, mse, mseloss
from dl_workshop.model import LinearParams, initialize_linear_params, linear_model
from dl_workshop.optimization import (
    DivergenceError,
    DivergenceWarning,
    FitResult,
    estimate_curvature,
    fit,
    gradient_descent,
    model_optimization_loop,
)
from dl_workshop.persistence import load_params, save_params

try:
    __version__ = version("dl-workshop")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "LinearParams",
    "__version__",
    "b_true",
    "dmseloss",
    "estimate_curvature",
    "fit",
    "gradient_descent",
    "initialize_linear_params",
    "linear_model",
    "load_params",
    "make_y",
    "model_optimization_loop",
    "mse",
    "mseloss",
    "save_params",
    "w_true",
]
