"""Plots of an optimization: the loss curve, the fit, and the loss "bowl" with the optimizer's path.

Every function draws into the matplotlib ``Axes`` given as ``ax=`` (or a new figure's) and returns
it, so plots compose into subplots and stay testable. matplotlib is imported only when a function
runs, so ``import dl_workshop`` stays light.

Artists carry a ``gid`` naming what they show (``"loss"``, ``"data"``, ``"fit"``, ``"path"``,
``"path-start"``, ``"path-end"``, ``"optimum"``, ...), so code and tests can find them with
``[a for a in ax.get_children() if a.get_gid() == "path"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import (
    as_data,
    check_int,
    check_same_length,
    describe,
    unpack_linear_params,
)
from dl_workshop.losses import mseloss
from dl_workshop.model import linear_model
from dl_workshop.optimization import FitResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_fit", "plot_loss", "plot_loss_landscape", "plot_optimizer_paths"]

#: Colour of a single optimizer path on the bowl (several paths use matplotlib's colour cycle).
PATH_COLOR = "tab:red"

#: Largest number of grid losses evaluated at once (bounds memory for large data sets).
_GRID_BATCH_ELEMENTS = 20_000_000


def _new_axes(ax: Any, *, projection: str | None = None) -> Axes:
    """``ax`` after checking it is an Axes, or the Axes of a new pyplot figure."""
    if ax is None:
        import matplotlib.pyplot as plt

        if projection is None:
            return plt.subplots(figsize=(6.4, 4.8), layout="constrained")[1]
        figure = plt.figure(figsize=(7.0, 5.6), layout="constrained")
        return figure.add_subplot(projection=projection)
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {describe(ax)}")
    return ax


def _losses_array(losses: Any) -> np.ndarray:
    if isinstance(losses, FitResult):
        losses = losses.losses
    if isinstance(losses, (str, bytes)) or losses is None:
        raise TypeError(f"losses must be a 1-D sequence of numbers; got {describe(losses)}")
    try:
        array = np.asarray(losses, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"losses must be a 1-D sequence of numbers; got {describe(losses)}"
        ) from exc
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D sequence; got shape {tuple(array.shape)}")
    return array


def plot_loss(losses: Any, *, ax: Axes | None = None, log_scale: bool = False) -> Axes:
    """Plot the loss at every iteration: it should be going downwards.

    Args:
        losses: the losses, shape ``(n_steps,)`` (e.g. the first value returned by
            :func:`~dl_workshop.model_optimization_loop`), or a :class:`~dl_workshop.FitResult`.
        ax: the Axes to draw into; ``None`` makes a new figure.
        log_scale: draw the loss on a logarithmic axis (shows the slow tail of the descent).

    Returns:
        The Axes, labelled ``iteration`` / ``mse``; the curve is the line with gid ``"loss"``.

    Raises:
        ValueError, TypeError: if ``losses`` is not a non-empty 1-D sequence of numbers.

    Example:
        >>> ax = plot_loss([4.0, 2.0, 1.0, 0.5], log_scale=True)
        >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()
        ('iteration', 'mse', 'log')
    """
    values = _losses_array(losses)
    ax = _new_axes(ax)
    ax.plot(np.arange(values.size), values, color="tab:blue", gid="loss", label="mse")
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mse")
    ax.set_title("loss during optimization")
    ax.grid(True, alpha=0.3)
    return ax


def plot_fit(
    theta: Any,
    x: Any,
    y: Any,
    *,
    model: Callable[[Any, Any], Any] = linear_model,
    ax: Axes | None = None,
    kind: str = "auto",
) -> Axes:
    """Plot the data and the model's predictions.

    With one input feature (scalar form, or matrix form with ``d_in = 1``) the data are drawn as
    points and the fitted line(s) over them, one per output. With several input features the
    predictions are drawn against the true values ("parity plot"), one colour per output, with
    the diagonal ``predicted = true`` that a perfect model would lie on.

    Args:
        theta: the model's parameters (dict, ``(w, b)`` tuple or NamedTuple).
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        model: ``model(theta, x) -> predictions`` shaped like ``y``.
        ax: the Axes to draw into; ``None`` makes a new figure.
        kind: ``"auto"`` (as above), ``"line"`` (data and fitted line; needs one input feature)
            or ``"parity"`` (predicted vs true).

    Returns:
        The Axes. Line form: points with gid ``"data"`` and lines with gid ``"fit"``, labelled
        ``x`` / ``y``. Parity form: points with gid ``"predictions"`` and the diagonal with gid
        ``"identity"``, labelled ``true y`` / ``predicted y``.

    Raises:
        ValueError, TypeError: for invalid data, a ``kind`` that does not fit the data, or
            predictions whose shape differs from ``y``'s.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-5, 5, 20)
        >>> ax = plot_fit({"w": 2.0, "b": 20.0}, x, 2 * x + 20)
        >>> [line.get_gid() for line in ax.get_lines()]
        ['fit']
    """
    if kind not in ("auto", "line", "parity"):
        raise ValueError(f"kind must be 'auto', 'line' or 'parity'; got {kind!r}")
    if not callable(model):
        raise TypeError(f"model must be a function model(theta, x); got {describe(model)}")
    x_arr = np.asarray(as_data(x, "x"), dtype=float)
    y_arr = np.asarray(as_data(y, "y"), dtype=float)
    check_same_length(x_arr, y_arr)
    prediction = np.asarray(model(theta, x_arr), dtype=float)
    if prediction.shape != y_arr.shape:
        raise ValueError(
            f"the model's predictions must have the shape of y; got predictions of shape "
            f"{prediction.shape} and y of shape {y_arr.shape}"
        )
    one_feature = x_arr.ndim == 1 or x_arr.shape[1] == 1
    if kind == "line" and not one_feature:
        raise ValueError(
            f"kind='line' needs one input feature (x of shape (n,) or (n, 1)); got x of shape "
            f"{x_arr.shape}; use kind='parity'"
        )
    if kind == "auto":
        kind = "line" if one_feature else "parity"
    ax = _new_axes(ax)
    y_cols = y_arr.reshape(len(y_arr), -1)
    pred_cols = prediction.reshape(len(y_arr), -1)
    n_out = y_cols.shape[1]
    if kind == "line":
        feature = x_arr.reshape(len(x_arr), -1)[:, 0]
        order = np.argsort(feature, kind="stable")
        for j in range(n_out):
            color = f"C{j}"
            suffix = f" (output {j + 1})" if n_out > 1 else ""
            ax.scatter(
                feature,
                y_cols[:, j],
                s=14,
                color=color,
                alpha=0.5,
                gid="data",
                label=f"data{suffix}",
            )
            ax.plot(
                feature[order],
                pred_cols[order, j],
                color=color,
                linewidth=2,
                gid="fit",
                label=f"fitted line{suffix}",
            )
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title("data and fitted line")
    else:
        for j in range(n_out):
            label = f"output {j + 1}" if n_out > 1 else "predictions"
            ax.scatter(
                y_cols[:, j],
                pred_cols[:, j],
                s=14,
                color=f"C{j}",
                alpha=0.6,
                gid="predictions",
                label=label,
            )
        low = float(min(y_cols.min(), pred_cols.min()))
        high = float(max(y_cols.max(), pred_cols.max()))
        ax.plot(
            [low, high],
            [low, high],
            color="0.3",
            linestyle="--",
            linewidth=1,
            gid="identity",
            label="predicted = true",
        )
        ax.set_xlabel("true y")
        ax.set_ylabel("predicted y")
        ax.set_title("predicted vs true")
    ax.legend(loc="best", fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def _path_arrays(path: Any, name: str = "path") -> tuple[np.ndarray, np.ndarray]:
    """``(w_path, b_path)``, each of shape ``(k,)``, from a FitResult or a params trajectory."""
    if isinstance(path, FitResult):
        if path.path is None:
            raise ValueError(
                f"{name} is a FitResult without a parameter path; run fit(..., record_every=k) "
                "(e.g. record_every=10) to record one"
            )
        path = path.path
    w, b = unpack_linear_params(path, name)
    arrays = []
    for part, value in (("w", w), ("b", b)):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}'s {part} must be numeric; got {describe(value)}") from exc
        if array.ndim == 0 or array.shape[0] == 0:
            raise ValueError(
                f"{name}'s {part} must have a leading axis of steps (shape (k,)); got shape "
                f"{array.shape}"
            )
        if array.size != array.shape[0]:
            raise ValueError(
                f"the loss landscape is drawn over scalar w and b; {name}'s {part} has shape "
                f"{array.shape} (k steps of shape {array.shape[1:]})"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}'s {part} must be finite; got NaN or infinite values")
        arrays.append(array.reshape(-1))
    w_arr, b_arr = arrays
    if w_arr.shape != b_arr.shape:
        raise ValueError(
            f"{name}'s w and b must have the same number of steps; got {w_arr.size} and "
            f"{b_arr.size}"
        )
    return w_arr, b_arr


def _params_like(template: Any) -> Callable[[Any, Any], Any]:
    """A function ``(w, b) -> params`` building the container type of ``template``."""
    if isinstance(template, FitResult):
        template = template.theta
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        kind = type(template)
        return lambda w, b: kind(w=w, b=b)
    if isinstance(template, (tuple, list)):
        return lambda w, b: (w, b)
    return lambda w, b: {"w": w, "b": b}


class _Landscape:
    """Loss values on a (w, b) grid, for one data set, model and loss (internal helper)."""

    def __init__(self, x: Any, y: Any, model: Any, loss: Any, template: Any) -> None:
        if not callable(model):
            raise TypeError(f"model must be a function model(theta, x); got {describe(model)}")
        if not callable(loss):
            raise TypeError(
                f"loss must be a function loss(theta, model, x, y); got {describe(loss)}"
            )
        self.x = as_data(x, "x")
        self.y = as_data(y, "y")
        check_same_length(self.x, self.y)
        self.model = model
        self.loss = loss
        self.make = _params_like(template)
        self.exact = model is linear_model and loss is mseloss

    def values(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Loss at each ``(w[i], b[i])``; ``w`` and ``b`` of the same shape."""
        flat_w = jnp.asarray(np.ravel(w), self.x.dtype)
        flat_b = jnp.asarray(np.ravel(b), self.x.dtype)

        def one(wi, bi):
            return self.loss(self.make(wi, bi), self.model, self.x, self.y)

        batch = max(1, _GRID_BATCH_ELEMENTS // max(1, int(self.y.size)))
        try:
            parts = [
                np.asarray(jax.vmap(one)(flat_w[i : i + batch], flat_b[i : i + batch]))
                for i in range(0, flat_w.size, batch)
            ]
        except Exception as exc:  # a user's model/loss; report it in one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                "the loss could not be evaluated over scalar (w, b) for x of shape "
                f"{tuple(self.x.shape)} and y of shape {tuple(self.y.shape)} (the landscape "
                f"needs a model with one scalar w and one scalar b): {first}"
            ) from exc
        values = np.concatenate(parts).astype(float)
        if values.shape != (flat_w.size,):
            raise ValueError(f"loss must return a scalar; got {values.size // flat_w.size} values")
        return values.reshape(np.shape(w))

    def least_squares(self) -> tuple[float, float] | None:
        """The least-squares ``(w, b)`` of ``y ≈ w x + b`` when ``x`` and ``y`` are 1-D."""
        x = np.asarray(self.x, dtype=float)
        y = np.asarray(self.y, dtype=float)
        if x.ndim != 1 or y.ndim != 1:
            return None
        design = np.column_stack([x, np.ones_like(x)])
        w_opt, b_opt = np.linalg.lstsq(design, y, rcond=None)[0]
        return float(w_opt), float(b_opt)


def _extent(points_w: np.ndarray, points_b: np.ndarray, has_path: bool):
    """Ranges of w and b covering the points with a margin."""
    ranges = []
    for values in (points_w, points_b):
        low, high = float(values.min()), float(values.max())
        center = 0.5 * (low + high)
        if has_path:
            half = 0.5 * (high - low) * 1.2
            half = max(half, 0.5, 0.05 * abs(center))
        else:
            half = max(1.0, abs(center))
        ranges.append((center - half, center + half))
    return ranges


def _draw_landscape(
    ax: Any,
    landscape: _Landscape,
    paths: list[tuple[str, np.ndarray, np.ndarray, str]],
    *,
    surface: bool,
    resolution: int,
) -> Axes:
    # The least-squares line is the optimum for the linear model with the MSE loss, and a
    # sensible centre for other losses of a line (the marker then shows the grid's lowest point).
    center = landscape.least_squares()
    optimum = center if landscape.exact else None
    all_w = [w for _, w, _, _ in paths]
    all_b = [b for _, _, b, _ in paths]
    if center is not None:
        all_w.append(np.array([center[0]]))
        all_b.append(np.array([center[1]]))
    if not all_w:
        all_w, all_b = [np.zeros(1)], [np.zeros(1)]
    (w_lo, w_hi), (b_lo, b_hi) = _extent(
        np.concatenate(all_w), np.concatenate(all_b), has_path=bool(paths)
    )
    grid_w, grid_b = np.meshgrid(
        np.linspace(w_lo, w_hi, resolution), np.linspace(b_lo, b_hi, resolution)
    )
    grid_loss = landscape.values(grid_w, grid_b)
    if optimum is None:
        index = np.unravel_index(np.argmin(grid_loss), grid_loss.shape)
        optimum = (float(grid_w[index]), float(grid_b[index]))
        optimum_label = "lowest grid point"
    else:
        optimum_label = "least squares"
    low, high = float(grid_loss.min()), float(grid_loss.max())
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise ValueError(f"the loss over the grid must be finite and vary; got [{low}, {high}]")
    # Geometric levels from just above the minimum: a quadratic bowl's contours bunch up at the
    # rim on a linear scale and the region around the minimum disappears.
    floor = max(high * 1e-6, np.finfo(float).tiny)
    levels = low + np.geomspace(max((high - low) * 1e-3, floor), high - low, 14)

    if surface:
        ax.plot_surface(
            grid_w,
            grid_b,
            grid_loss,
            cmap="viridis",
            alpha=0.55,
            linewidth=0,
            antialiased=True,
            gid="landscape",
        )
        ax.contour(
            grid_w,
            grid_b,
            grid_loss,
            levels=levels,
            cmap="viridis",
            linewidths=0.6,
            offset=low,
        )
        ax.set_zlabel("mse", labelpad=8)
    else:
        from matplotlib import colormaps
        from matplotlib.colors import BoundaryNorm, ListedColormap

        # One shade per band (the levels are geometric, a linear norm would leave most bands
        # white), light enough that the paths drawn on top stay visible.
        bands = np.r_[low, levels]
        shades = ListedColormap(colormaps["Greys"](np.linspace(0.0, 0.5, 256)))
        filled = ax.contourf(
            grid_w, grid_b, grid_loss, levels=bands, cmap=shades,
            norm=BoundaryNorm(bands, ncolors=256),
        )  # fmt: skip
        filled.set_gid("landscape")
        lines = ax.contour(grid_w, grid_b, grid_loss, levels=levels, colors="0.35", linewidths=0.5)
        lines.set_gid("contours")
        colorbar = ax.figure.colorbar(filled, ax=ax, shrink=0.9, format="%.3g")
        colorbar.set_label("mse")

    def draw(w, b, **style):
        if surface:
            return ax.plot(w, b, landscape.values(w, b), **style)
        return ax.plot(w, b, **style)

    for label, w_path, b_path, color in paths:
        draw(
            w_path,
            b_path,
            color=color,
            linewidth=1.8,
            marker=".",
            markersize=3,
            gid="path",
            label=label,
        )
    # Markers after all the lines, so the legend lists the paths first, then start and end.
    for index, (_, w_path, b_path, color) in enumerate(paths):
        draw(
            w_path[:1],
            b_path[:1],
            color=color,
            marker="o",
            markersize=8,
            linestyle="none",
            markeredgecolor="white",
            gid="path-start",
            label="start" if index == 0 else None,
        )
        draw(
            w_path[-1:],
            b_path[-1:],
            color=color,
            marker="s",
            markersize=7,
            linestyle="none",
            markeredgecolor="white",
            gid="path-end",
            label="end" if index == 0 else None,
        )
    w_opt, b_opt = np.array([optimum[0]]), np.array([optimum[1]])
    # Hollow, and drawn last, so that a path ending on the optimum still shows its end marker.
    draw(
        w_opt,
        b_opt,
        color="black",
        marker="*",
        markersize=16,
        markerfacecolor="none",
        markeredgewidth=1.4,
        linestyle="none",
        gid="optimum",
        label=optimum_label,
    )
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title("loss landscape over (w, b)")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    return ax


def _check_surface(ax: Any, surface: bool) -> None:
    if ax is not None and surface and getattr(ax, "name", "") != "3d":
        raise ValueError(
            "surface=True needs a 3-D Axes (fig.add_subplot(projection='3d')) or ax=None; got a "
            f"{getattr(ax, 'name', type(ax).__name__)} Axes"
        )


def plot_loss_landscape(
    x: Any,
    y: Any,
    *,
    path: Any = None,
    ax: Axes | None = None,
    surface: bool = False,
    model: Callable[[Any, Any], Any] = linear_model,
    loss: Callable[..., Any] = mseloss,
    resolution: int = 120,
) -> Axes:
    """Draw the loss "bowl" over the two parameters ``(w, b)``, with an optimizer's path on it.

    Fitting ``w`` and ``b`` is like finding the bottom of a bowl: this draws the bowl as filled
    contours (or a 3-D surface), the path the optimizer took (start: circle, end: square) and,
    for the linear model with the MSE loss, the least-squares optimum (star) computed in closed
    form with ``numpy.linalg.lstsq``. For another model or loss the star marks the lowest grid
    point. The grid covers the path and the least-squares solution with a margin.

    Args:
        x: inputs, shape ``(n,)`` (the model has one scalar ``w`` and one scalar ``b``).
        y: targets, shape ``(n,)``.
        path: ``None``, a :class:`~dl_workshop.FitResult` from ``fit(..., record_every=k)``, a
            ``(w_path, b_path)`` pair of arrays of shape ``(k,)``, or parameters with a leading
            axis of steps (e.g. ``FitResult.path``: ``{"w": (k,), "b": (k,)}``).
        ax: the Axes to draw into (a 3-D one for ``surface=True``); ``None`` makes a figure.
        surface: draw a 3-D surface instead of contours.
        model: ``model(theta, x)``; it receives ``theta`` in the container type of ``path``
            (a dict when there is no path).
        loss: ``loss(theta, model, x, y) -> scalar``.
        resolution: grid points along each axis, >= 10.

    Returns:
        The Axes, labelled ``w`` / ``b``. gids: ``"landscape"`` (the bowl), ``"path"`` (one
        point per recorded step), ``"path-start"``, ``"path-end"``, ``"optimum"``.

    Raises:
        ValueError, TypeError: for invalid data or path, or a 2-D ``ax`` with ``surface=True``.

    Example:
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.data import x, make_y
        >>> y = make_y(x, seed=0)
        >>> result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, 300, 0.01,
        ...              record_every=10, progress=False)
        >>> ax = plot_loss_landscape(x, y, path=result)
        >>> [len(l.get_xdata()) for l in ax.get_lines() if l.get_gid() == "path"]
        [31]
    """
    resolution = check_int(resolution, "resolution", minimum=10)
    _check_surface(ax, surface)
    paths = []
    if path is not None:
        w_path, b_path = _path_arrays(path)
        paths.append(("path", w_path, b_path, PATH_COLOR))
    landscape = _Landscape(x, y, model, loss, path)
    ax = _new_axes(ax, projection="3d" if surface else None)
    return _draw_landscape(ax, landscape, paths, surface=surface, resolution=resolution)


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
        >>> from dl_workshop.data import x, make_y
        >>> y = make_y(x, seed=0)
        >>> runs = {name: fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, y, 200,
        ...                   optimizer=opt, record_every=5, progress=False)
        ...         for name, opt in {"adam": optax.adam(0.5), "sgd": optax.sgd(0.01)}.items()}
        >>> ax = plot_optimizer_paths(x, y, runs)
        >>> [l.get_label() for l in ax.get_lines() if l.get_gid() == "path"]
        ['adam', 'sgd']
    """
    resolution = check_int(resolution, "resolution", minimum=10)
    if not isinstance(paths, Mapping):
        raise TypeError(
            "paths must be a mapping of label -> path, e.g. {'adam': fit_result}; got "
            f"{describe(paths)}"
        )
    if not paths:
        raise ValueError("paths must contain at least one path; got an empty mapping")
    drawn = []
    for index, (label, path) in enumerate(paths.items()):
        w_path, b_path = _path_arrays(path, f"paths[{label!r}]")
        drawn.append((str(label), w_path, b_path, f"C{index % 10}"))
    template = next(iter(paths.values()))
    landscape = _Landscape(x, y, model, loss, template)
    ax = _new_axes(ax)
    ax = _draw_landscape(ax, landscape, drawn, surface=False, resolution=resolution)
    ax.set_title(f"{len(drawn)} optimizer path{'s' if len(drawn) != 1 else ''} on the loss bowl")
    return ax
