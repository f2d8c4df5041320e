"""The one place that reads JAX's internals: traced programs (jaxprs), their equations and
primitives, ``jax.extend.core``.

Everything here is a shortcut with a safe fallback: an operation not known to a reader means
"no shortcut" (no padding, no rewrite), never a different result. The rest of the package
imports this package only, never its modules (``tests/test_architecture.py`` checks both);
``tests/test_compilation.py`` and ``tests/test_rowmean.py`` exercise it on the pinned JAX.

- :mod:`~dl_workshop.engine.jaxpr.rowwise`: whether a model keeps rows apart;
- :mod:`~dl_workshop.engine.jaxpr.rowmean`: whether a loss is a mean over rows, and its value on
  padded rows;
- :mod:`~dl_workshop.engine.jaxpr.dots`: an objective's matrix-vector products over many rows as
  fused multiply-and-sums (XLA's CPU backend runs ``xᵀ r`` slowly).
"""

from dl_workshop.engine.jaxpr.dots import fused_row_products, wants_fused_row_products
from dl_workshop.engine.jaxpr.rowmean import masked_loss_value, plan_holds, row_mean_plan
from dl_workshop.engine.jaxpr.rowwise import rows_separate

__all__ = [
    "fused_row_products",
    "masked_loss_value",
    "plan_holds",
    "row_mean_plan",
    "rows_separate",
    "wants_fused_row_products",
]
