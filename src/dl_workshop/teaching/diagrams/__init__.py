"""Linear regression in pictures, drawn from your own model: the matrix form and the neural diagram.

Both diagrams take the model's parameters (a dict, a ``(w, b)`` tuple or :class:`LinearParams`,
scalar or matrix form) or just its shape ``(n_inputs, n_outputs)``:

* :func:`draw_matrix_form`: ``X (n × d_in) · w (d_in × d_out) + b (d_out) = Y (n × d_out)``, one
  box per array with one cell per entry (large dimensions elided with ``⋯``/``⋮``), optionally
  with the current values of ``w`` and ``b`` written in.
* :func:`draw_neural_diagram`: ``d_in`` input nodes, a weighted sum per output with the bias
  from a constant ``1`` node, then the identity activation (orange, as in the lesson) and the
  output node; large layers are elided with ``⋮`` so that 1 000 inputs still draw legibly.

The two diagrams colour ``w`` and ``b`` alike (:data:`WEIGHT_COLOR`, :data:`BIAS_COLOR`).

**Parameters or shape?** A plain ``tuple`` of exactly two integers (Python or NumPy ints, not
bools) is a shape ``(n_inputs, n_outputs)``; anything else is read as parameters. So
``(3, 2)`` is a shape while ``(3.0, 2.0)``, ``{"w": 3, "b": 2}`` and ``LinearParams(3, 2)`` are
parameters; a *list* of two integers is rejected as ambiguous.

Artists carry a ``gid`` saying what they show (``"input-node"``, ``"weight-edge"``,
``"cell-w"``, ``"ellipsis"``, ...), so code and tests can count them. matplotlib is imported only
when a function runs.

The parts: :mod:`~dl_workshop.teaching.diagrams.matrix_form`,
:mod:`~dl_workshop.teaching.diagrams.neural` and
:mod:`~dl_workshop.teaching.diagrams.colors`, on private helpers: ``_layout`` (reading the model,
the
elided slots) and ``_common`` (the Axes, numbers and titles).
"""

from dl_workshop.teaching.diagrams.colors import (
    ACTIVATION_COLOR,
    BIAS_COLOR,
    INPUT_COLOR,
    OUTPUT_COLOR,
    WEIGHT_COLOR,
)
from dl_workshop.teaching.diagrams.matrix_form import draw_matrix_form
from dl_workshop.teaching.diagrams.neural import draw_neural_diagram

__all__ = [
    "ACTIVATION_COLOR",
    "BIAS_COLOR",
    "INPUT_COLOR",
    "OUTPUT_COLOR",
    "WEIGHT_COLOR",
    "draw_matrix_form",
    "draw_neural_diagram",
]
