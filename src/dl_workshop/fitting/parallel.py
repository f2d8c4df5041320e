"""Data parallelism with ``jax.sharding``: the rows of ``x`` and ``y`` split over devices.

The engine of :func:`~dl_workshop.fit` takes the data as an explicit argument of its compiled
loop, so arrays placed with a :class:`jax.sharding.NamedSharding` flow through it: XLA's SPMD
partitioner runs each device on its own rows and inserts the cross-device sums that the mean
over all rows needs (for the gradient and the loss). The parameters are small and replicated.
The result is the one-device result up to the order of floating-point additions.

Multi-host: after ``jax.distributed.initialize()`` in every process, ``jax.devices()`` lists the
devices of all hosts; build the mesh from them and assemble each host's rows with
``jax.make_array_from_process_local_data`` (see ``docs/multihost.md``). Every process must hold
the same number of rows: :func:`fit_sharded` (and ``fit``) first check that the processes agree
(:func:`~dl_workshop.fitting.multihost.check_process_shards`) and raise the same ``ValueError`` on
every
process when they do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dl_workshop._precision import precision
from dl_workshop._validation import as_data, check_same_length, describe, float_dtype
from dl_workshop.fitting.multihost import check_process_shards
from dl_workshop.fitting.optimization import FitResult, fit_with_settings
from dl_workshop.fitting.settings import FIT, FitSettings, takes_options

__all__ = ["data_mesh", "fit_sharded", "shard_rows"]

#: Name of the mesh axis that the rows are split over.
BATCH_AXIS = "batch"


def data_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A one-axis mesh (axis ``"batch"``) over ``devices`` (default: all devices, all hosts).

    Args:
        devices: the devices to use, e.g. ``jax.local_devices()[:2]``; ``None`` means
            ``jax.devices()``.

    Returns:
        A :class:`jax.sharding.Mesh` of shape ``(len(devices),)``.

    Raises:
        ValueError: if ``devices`` is empty.

    Example:
        >>> mesh = data_mesh()
        >>> mesh.axis_names
        ('batch',)
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device; got an empty list")
    return Mesh(np.array(devices), (BATCH_AXIS,))


def shard_rows(
    array: Any, mesh: Mesh | None = None, *, name: str = "x", dtype: Any = None
) -> jax.Array:
    """Place ``array`` on ``mesh`` with its rows split over the ``"batch"`` axis.

    Args:
        array: data of shape ``(n,)`` or ``(n, d)``; ``n`` must be a multiple of the number of
            devices (trim or pad your data beforehand: padding rows would change the mean).
        mesh: from :func:`data_mesh`; ``None`` uses all devices.
        name: the argument's name for error messages.
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default float.

    Returns:
        A ``jax.Array`` of the same shape, sharded as ``NamedSharding(mesh, P("batch"))``.

    Raises:
        ValueError, TypeError: for non-numeric data or a row count that does not divide.

    Example:
        >>> import numpy as np
        >>> x = shard_rows(np.zeros((8, 3)))
        >>> x.shape
        (8, 3)
    """
    mesh = data_mesh() if mesh is None else mesh
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh (see data_mesh); got {describe(mesh)}")
    data = as_data(array, name, dtype=float_dtype(dtype))
    n_devices = mesh.shape.get(BATCH_AXIS, None)
    if n_devices is None:
        raise ValueError(f"mesh must have an axis named {BATCH_AXIS!r}; got {mesh.axis_names}")
    if data.shape[0] % n_devices:
        raise ValueError(
            f"{name} must have a number of rows divisible by the {n_devices} devices of the mesh; "
            f"got {data.shape[0]} rows (drop {data.shape[0] % n_devices} or use fewer devices)"
        )
    return jax.device_put(data, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


@takes_options(FIT)
def fit_sharded(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    *,
    mesh: Mesh | None = None,
    settings: FitSettings,
) -> FitResult:
    """:func:`~dl_workshop.fit` with the rows of ``x`` and ``y`` split over the devices of ``mesh``.

    Every keyword of :func:`~dl_workshop.fit` is accepted (``optimizer``, ``tol``,
    ``batch_size``, ``dtype``, ...). The parameters are replicated on every device; each step's
    loss and gradient are sums over all rows, so the iterates equal the one-device run within
    floating-point tolerance.

    Args:
        theta: starting parameters (any pytree the model accepts); not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``; ``n`` a multiple of the number of devices.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        mesh: from :func:`data_mesh`; ``None`` uses every device.

    Returns:
        A :class:`~dl_workshop.FitResult`, as :func:`~dl_workshop.fit` returns.

    Raises:
        ValueError: among others, on every process when arrays assembled across processes
            (``jax.make_array_from_process_local_data``) have different numbers of rows in
            different processes.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1.0, 1.0, 8)
        >>> result = fit_sharded({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, 3 * x + 1,
        ...                      n_steps=500, step_size=0.3, progress=False)
        >>> round(float(result.theta["w"]), 2), round(float(result.theta["b"]), 2)
        (3.0, 1.0)
    """
    # Before anything computes on arrays spread over processes that might disagree on them
    # (only several processes can).
    if jax.process_count() > 1:
        check_process_shards(x, y)
    mesh = data_mesh() if mesh is None else mesh
    with precision(settings.dtype):
        x_sharded = shard_rows(x, mesh, name="x", dtype=settings.dtype)
        y_sharded = shard_rows(y, mesh, name="y", dtype=settings.dtype)
        check_same_length(x_sharded, y_sharded)
        return fit_with_settings(theta, model, loss, x_sharded, y_sharded, settings)
