"""Plots of an optimization: the loss curve, the fit, and the loss "bowl" with the optimizer's path.

Every function draws into the matplotlib ``Axes`` given as ``ax=`` (or a new figure's) and returns
it, so plots compose into subplots and stay testable. matplotlib is imported only when a function
runs, so ``import dl_workshop`` stays light.

Artists carry a ``gid`` naming what they show (``"loss"``, ``"data"``, ``"fit"``, ``"path"``,
``"path-start"``, ``"path-end"``, ``"optimum"``, ...), so code and tests can find them with
``[a for a in ax.get_children() if a.get_gid() == "path"]``.

The parts: :mod:`~dl_workshop.teaching.plots.curves` (:func:`plot_loss`, :func:`plot_fit`),
:mod:`~dl_workshop.teaching.plots.landscape` (:func:`plot_loss_landscape`) and
:mod:`~dl_workshop.teaching.plots.paths` (:func:`plot_optimizer_paths`) and
:mod:`~dl_workshop.teaching.plots.animation` (:func:`animate_descent`, a GIF), on private helpers:
``_common`` (the Axes), ``_trajectory`` (reading a path), ``_bowl`` (the loss grid), ``_draw``
(drawing it) and ``_views`` (figures drawn once and then moved: animation frames, explorers).
"""

# PATH_COLOR is public but was never in __all__; the alias keeps it importable from here.
from dl_workshop.teaching.plots.animation import animate_descent
from dl_workshop.teaching.plots.curves import plot_fit, plot_loss
from dl_workshop.teaching.plots.landscape import PATH_COLOR as PATH_COLOR
from dl_workshop.teaching.plots.landscape import plot_loss_landscape
from dl_workshop.teaching.plots.paths import plot_optimizer_paths

__all__ = [
    "animate_descent",
    "plot_fit",
    "plot_loss",
    "plot_loss_landscape",
    "plot_optimizer_paths",
]
