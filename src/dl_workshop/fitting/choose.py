"""Choose the objective of a fit, in one place: full batch, minibatch or the fast path.

The data arrive validated but still on the host; the choice decides what the loop steps over
(the data, or the fast path's statistics), and that goes into JAX once, on the device where the
steps run. Two kinds of data are told apart before anything reads them: Dask collections (only
the fast path's statistics, computed on the workers, see
:mod:`~dl_workshop.objectives.dask_stats`) and JAX arrays spread over several processes (whose
processes first check that they agree on the rows, see :mod:`~dl_workshop.fitting.multihost`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from dl_workshop._validation import (
    as_data,
    check_callable,
    check_finite_data,
    check_model,
    check_same_length,
)
from dl_workshop.engine.objective import Objective
from dl_workshop.fitting.multihost import check_process_shards
from dl_workshop.fitting.settings import FitSettings
from dl_workshop.objectives.dask_stats import dask_fit_statistics
from dl_workshop.objectives.full_batch import FullBatchObjective, full_batch_problem
from dl_workshop.objectives.linear_mse import LinearMSEObjective
from dl_workshop.objectives.minibatch import minibatch_problem

#: Largest ``d * d * k`` of a fast-path problem whose steps run on the host CPU even when the
#: default device is an accelerator.
HOST_LOOP_MAX_SIZE = 2**16


class Problem(NamedTuple):
    """What the loop optimizes, and the full-batch problem behind it (for divergence advice).

    Attributes:
        objective: what the loop minimizes: an :class:`~dl_workshop.engine.objective.Objective`,
            or a function ``(params, t, data) -> (loss, grads)`` (the engine makes it one).
        data: what ``objective`` reads, already on ``device`` (or the default device).
        full_objective: the full-batch objective (a :class:`FullBatchObjective` for ``fit``).
        full_data: its data, ``(x, y)`` as validated host arrays for ``fit``.
        device: the device the steps run on when it is not the default one, else ``None``.
    """

    objective: Objective | Callable[..., Any]
    data: Any
    full_objective: Any
    full_data: Any
    device: Any = None


def host_loop_device(objective: Any, data: Any) -> Any:
    """The CPU device when the steps should run there instead of on the default accelerator.

    The fast path's problem is a few ``d x d`` numbers; on a GPU each of its steps costs a
    few kernel launches (3 000 steps of the lesson took 74 ms on an H200) where the host CPU
    needs about 3 µs a step. ``None`` means: run where the data is.
    """
    if not isinstance(objective, LinearMSEObjective) or jax.default_backend() == "cpu":
        return None
    if data.cov.size * data.w_star.shape[1] > HOST_LOOP_MAX_SIZE:
        return None
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:  # no CPU backend in this process
        return None


def _to_jax(leaf: Any) -> Any:
    return leaf if isinstance(leaf, jax.Array) else jax.device_put(leaf)


def placed_problem(objective: Any, data: Any, full_objective: Any, full_data: Any) -> Problem:
    """The problem with its data moved into JAX once (a no-op for arrays already there)."""
    device = host_loop_device(objective, data)
    # device_put, not jnp.asarray: that compiles a small program per shape and dtype. Without a
    # device, JAX arrays stay where they are (one spread over processes fits no single device).
    place = (lambda d: jax.tree_util.tree_map(_to_jax, d)) if device is None else (
        lambda d: jax.device_put(d, device)
    )
    return Problem(objective, place(data), full_objective, full_data, device)


def _host_data(x: Any, y: Any, settings: FitSettings) -> tuple[Any, Any]:
    # Host arrays stay NumPy until the path is chosen: the fast path reads them once with BLAS
    # and never needs a copy inside JAX. The finite check waits for the same reason.
    x_arr = as_data(x, "x", dtype=settings.dtype, host=True, check_finite=False)
    y_arr = as_data(y, "y", dtype=settings.dtype, host=True, check_finite=False)
    check_same_length(x_arr, y_arr)
    return x_arr, y_arr


def _dask(x: Any, y: Any) -> bool:
    """Whether ``x`` or ``y`` is a Dask collection; never imports Dask (no Dask object exists
    before Dask is imported), so data in memory costs a dictionary lookup."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(x) or dask.is_dask_collection(y)


def choose_problem(model: Any, loss: Any, params: Any, x: Any, y: Any, settings: FitSettings):
    """The :class:`Problem` of ``fit(params, model, loss, x, y)`` with these settings.

    One preparation, each stage entered once: Dask data goes to its statistics; arrays spread
    over several processes are checked to agree (only when there are several processes); the
    data is validated on the host; then the minibatch objective
    (:func:`~dl_workshop.objectives.minibatch.minibatch_problem`) or the full-batch one with its
    fast path and padding (:func:`~dl_workshop.objectives.full_batch.full_batch_problem`), each
    of which runs the shape check; the finite check; the data into JAX once.
    """
    check_model(model)
    check_callable(loss, "loss")
    if _dask(x, y):
        # Never converted to host arrays: that would load every partition into this process.
        stats = dask_fit_statistics(model, loss, params, x, y, settings)
        return placed_problem(LinearMSEObjective(), stats, LinearMSEObjective(), stats)
    if jax.process_count() > 1:
        check_process_shards(x, y)
    full_data = _host_data(x, y, settings)
    full = FullBatchObjective(model, loss)
    if settings.batch_size is not None:
        objective, data = minibatch_problem(full, params, full_data, settings)
    else:
        objective, data = full_batch_problem(full, params, full_data, settings)
    if not isinstance(objective, LinearMSEObjective):
        # Only finite data gives the (finite) fast-path statistics: it needs no separate pass.
        check_finite_data(full_data[0], "x")
        check_finite_data(full_data[1], "y")
    return placed_problem(objective, data, full, full_data)
