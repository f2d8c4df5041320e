"""Several optimizers' paths on one loss bowl, to compare how they travel."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dl_workshop._validation import check_int, describe
from dl_workshop.lesson.losses import mseloss
from dl_workshop.lesson.model import linear_model
from dl_workshop.teaching.plots._bowl import Landscape
from dl_workshop.teaching.plots._common import new_axes
from dl_workshop.teaching.plots._draw import draw_landscape
from dl_workshop.teaching.plots._trajectory import Trajectory, path_arrays

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_optimizer_paths"]

_NOT_A_MAPPING = "paths must be a mapping of label -> path, e.g. {{'adam': fit_result}}; got {}"
_NO_PATHS = "paths must contain at least one path; got an empty mapping"


def _trajectories(paths: Any) -> list[Trajectory]:
    """One :class:`Trajectory` per entry of ``paths``, coloured in matplotlib's cycle order."""
    if not isinstance(paths, Mapping):
        raise TypeError(_NOT_A_MAPPING.format(describe(paths)))
    if not paths:
        raise ValueError(_NO_PATHS)
    drawn = []
    for index, (label, path) in enumerate(paths.items()):
        w_path, b_path = path_arrays(path, f"paths[{label!r}]")
        drawn.append(Trajectory(str(label), w_path, b_path, f"C{index % 10}"))
    return drawn


def plot_optimizer_paths(
    x: Any,
    y: Any,
    paths: Mapping[str, Any],
    *,
    ax: Axes | None = None,
    model: Callable[[Any, Any], Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
    resolution: int = 120,
) -> Axes:
    """Draw several optimizers' paths on one loss bowl, to compare how they travel.

    Args:
        x: inputs, shape ``(n,)``.
        y: targets, shape ``(n,)``.
        paths: label -> path, e.g. ``{"gradient descent": r1, "momentum": r2, "adam": r3}``,
            each a :class:`~dl_workshop.FitResult` with a recorded path, a ``(w_path, b_path)``
            pair or parameters with a leading axis of steps (see :func:`plot_loss_landscape`).
        ax: the Axes to draw into; ``None`` makes a new figure.
        model: ``model(theta, x)``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        resolution: grid points along each axis, >= 10.

    Returns:
        The Axes with a legend naming each path; each path is a line with gid ``"path"`` and
        its label, in matplotlib's colour cycle order.

    Raises:
        ValueError, TypeError: for an empty or non-mapping ``paths`` or an invalid path.

    Example:
        >>> import optax
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.lesson.data import x, make_y
        >>> y = make_y(x, seed=0)
        >>> runs = {name: fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, 200,
        ...                   optimizer=opt, record_every=5, progress=False)
        ...         for name, opt in {"adam": optax.adam(0.5), "sgd": optax.sgd(0.01)}.items()}
        >>> ax = plot_optimizer_paths(x, y, runs)
        >>> [l.get_label() for l in ax.get_lines() if l.get_gid() == "path"]
        ['adam', 'sgd']
    """
    resolution = check_int(resolution, "resolution", minimum=10)
    drawn = _trajectories(paths)
    template = next(iter(paths.values()))
    landscape = Landscape(x, y, model, loss, template)
    ax = new_axes(ax)
    ax = draw_landscape(ax, landscape, drawn, surface=False, resolution=resolution)
    ax.set_title(f"{len(drawn)} optimizer path{'s' if len(drawn) != 1 else ''} on the loss bowl")
    return ax
