"""The chapter's reference answers, under the names its notebooks import.

``from dl_workshop.answers import linear_model`` and friends: each name here is the package's
own implementation, re-exported, so the lessons and the library never drift apart. The chapter
"differential programming" has the linear model's lesson and its neighbours: the polynomial
``f`` minimized by gradient descent (``f``, ``df``), the data and its noise (``noise``,
``mse``), and logistic regression (``logistic`` ... ``dlogistic_loss``).
"""

from dl_workshop.fitting.optimization import model_optimization_loop
from dl_workshop.lesson.data import b_true, make_y, w_true, x
from dl_workshop.lesson.logistic import (
    binary_cross_entropy,
    dlogistic_loss,
    logistic,
    logistic_loss,
    logistic_model,
)
from dl_workshop.lesson.losses import dmseloss, mse, mseloss
from dl_workshop.lesson.model import initialize_linear_params, linear_model
from dl_workshop.lesson.polynomial import df, f
from dl_workshop.lesson.sampling import noise

__all__ = [
    "b_true",
    "binary_cross_entropy",
    "df",
    "dlogistic_loss",
    "dmseloss",
    "f",
    "initialize_linear_params",
    "linear_model",
    "logistic",
    "logistic_loss",
    "logistic_model",
    "make_y",
    "model_optimization_loop",
    "mse",
    "mseloss",
    "noise",
    "w_true",
    "x",
]
