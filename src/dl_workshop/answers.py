"""The lesson's reference answers, under the names the lesson imports.

``from dl_workshop.answers import linear_model`` and friends: each name here is the package's
own implementation, re-exported, so the lesson and the library never drift apart.
"""

from dl_workshop.data import b_true, make_y, w_true, x
from dl_workshop.losses import dmseloss, mseloss
from dl_workshop.model import initialize_linear_params, linear_model
from dl_workshop.optimization import model_optimization_loop

__all__ = [
    "b_true",
    "dmseloss",
    "initialize_linear_params",
    "linear_model",
    "make_y",
    "model_optimization_loop",
    "mseloss",
    "w_true",
    "x",
]
