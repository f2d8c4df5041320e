"""The engine: the compiled optimization loop and nothing else.

Layer 2 of the package (see ``docs/architecture.md``): it imports only JAX, optax and, of the
package, ``_validation``, ``_precision`` and ``compilation``, and knows nothing of models,
losses or data formats. Its parts:

- :mod:`~dl_workshop.engine.state`: the loop state, the traced hyperparameters, status codes;
- :mod:`~dl_workshop.engine.step`: one step (loss and gradient, divergence and convergence
  checks, the optimizer update);
- :mod:`~dl_workshop.engine.runner`: chunks of steps compiled with ``jax.lax.scan``, the
  progress bar, the host callback and Ctrl-C;
- :mod:`~dl_workshop.engine.result`: :class:`FitResult` and its packaging;
- :mod:`~dl_workshop.engine.divergence`: :class:`DivergenceError`, the curvature estimate and
  the message that suggests a stable step size;
- :mod:`~dl_workshop.engine.shapecheck`: the traced shape check of an objective, and the shared
  numbers of rows (buckets) data is padded to;
- :mod:`~dl_workshop.engine.optimizers`: plain gradient descent as an optax optimizer;
- :mod:`~dl_workshop.engine.shortcuts`: the performance shortcuts, and the switch that turns them
  off for an A/B (``benchmarks/ab_mechanisms.py``);
- :mod:`~dl_workshop.engine.jaxpr`: the one place that reads traced programs: whether a model
  keeps rows apart, whether a loss is a mean over rows (and its value on padded rows), and
  matrix-vector products over many rows as fused multiply-and-sums.

- :mod:`~dl_workshop.engine.objective`: :class:`Objective`, what the loop minimizes
  (``value_and_grad``, and ``value`` for line searches), hashable, so that equal objectives
  share compiled code.
"""

from dl_workshop.engine.divergence import DivergenceError, DivergenceWarning, estimate_curvature
from dl_workshop.engine.objective import Objective
from dl_workshop.engine.optimizers import gradient_descent
from dl_workshop.engine.result import FitResult

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "Objective",
    "estimate_curvature",
    "gradient_descent",
]
