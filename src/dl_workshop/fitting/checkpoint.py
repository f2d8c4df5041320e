"""Checkpoint and resume for :func:`~dl_workshop.fit`: long fits survive crashes and Ctrl-C.

``fit(..., checkpoint="run.npz", checkpoint_every=500)`` writes the whole loop state (parameters,
optimizer state, step counter, early-stopping counters), the losses so far and the recorded
parameter path to ``run.npz`` every 500 steps, atomically (write to a temporary file, then
rename), so a crash or ``kill -9`` mid-write leaves the previous checkpoint intact. Ctrl-C saves
the latest state before ``fit`` returns. ``fit(..., checkpoint="run.npz", resume=True)`` continues
from the file; because the same compiled steps run on the same state, a resumed run ends with
the same parameters and losses as an uninterrupted one (bit-identical on CPU). With
``resume=True`` and no file yet, the run starts fresh, so one command serves both the first run
and every restart. ``checkpoint_every`` defaults to about 20 checkpoints per run; with
``record_every`` it is rounded down to a multiple of it.

A checkpoint records what run wrote it: ``n_steps``, step size, optimizer (the structure of its
state and the updates it gives for two probe gradients, which catches another learning rate),
model, loss, dtype, early-stopping settings, the shapes of the parameters and a SHA-256 of the
data. Resuming with anything different is refused with a message naming each difference, instead
of silently mixing two runs. Files are plain ``.npz`` + JSON (see
:mod:`dl_workshop.io.persistence`):
loading never executes code.

Before a fit starts, whatever is at the checkpoint's path is checked: a file that is not a
dl-workshop checkpoint (a data file, a model, anything else, a symbolic link) is refused with
one ``ValueError`` naming the path and left alone, whatever the options; a checkpoint written
by another run (other data or settings) is refused too, unless ``overwrite=True``
(``--overwrite-checkpoint``) says to start over in it.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dl_workshop import _version
from dl_workshop.engine.state import LoopState, initial_state
from dl_workshop.fitting.choose import Problem
from dl_workshop.fitting.settings import FitSettings, kept_options, recorded_options
from dl_workshop.fitting.solver import Start, solve
from dl_workshop.io.persistence import describe_tree, load_arrays, rebuild_tree, save_arrays

__all__ = ["CheckpointInfo", "load_checkpoint"]

_KIND = "checkpoint"
_STATUS_NAMES = {0: "running", 1: "converged", 2: "diverged"}

#: Checkpoints per run when ``checkpoint_every`` is not given.
DEFAULT_CHECKPOINTS_PER_RUN = 20


class CheckpointInfo(NamedTuple):
    """What a checkpoint file holds, as returned by :func:`load_checkpoint`.

    Attributes:
        theta: the parameters at ``step`` (the last finite ones if the run diverged), in the
            container type the run started from (other NamedTuples come back as dicts).
        losses: NumPy array of shape ``(step,)``, the loss of each step run so far.
        step: number of steps completed.
        n_steps: the run's total number of steps.
        status: ``"running"`` (more steps to go), ``"converged"``, ``"diverged"`` or
            ``"finished"`` (all ``n_steps`` done).
        run: the settings the checkpoint was written with (a JSON-compatible dict).
        version: the dl-workshop version that wrote it.
    """

    theta: Any
    losses: np.ndarray
    step: int
    n_steps: int
    status: str
    run: dict[str, Any]
    version: str


def load_checkpoint(path: str | os.PathLike[str]) -> CheckpointInfo:
    """Read a checkpoint written by ``fit(..., checkpoint=path)`` without resuming it.

    Args:
        path: the checkpoint file.

    Returns:
        A :class:`CheckpointInfo` with the parameters, losses (shape ``(step,)``), progress and
        the run's settings.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if it is not a dl-workshop checkpoint, or is corrupted or truncated.

    Example:
        >>> import tempfile
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.lesson.data import x, make_y
        >>> path = f"{tempfile.mkdtemp()}/run.npz"
        >>> _ = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0),
        ...         n_steps=200, step_size=0.05, checkpoint=path, checkpoint_every=100)
        >>> info = load_checkpoint(path)
        >>> info.step, info.status, info.losses.shape
        (200, 'finished', (200,))
    """
    arrays, header = load_arrays(path, kind=_KIND)
    run = header.get("metadata", {}).get("run")
    layout = header.get("metadata", {}).get("layout")
    try:
        n_state = int(layout["n_state"])
        n_params = int(layout["n_params"])
        n_opt = int(layout["n_opt"])
        state = [arrays[f"state_{i}"] for i in range(n_state)]
        losses = arrays["losses"]
        step, status = int(layout["step"]), int(layout["status"])
        # The loop state starts with params, opt_state, last_good (see engine.state.LoopState).
        leaves = state[n_params + n_opt : 2 * n_params + n_opt] if status == 2 else state[:n_params]
        theta = rebuild_tree(layout["tree"], [leaves[i] for i in layout["order"]])
        n_steps = int(run["n_steps"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is corrupted: its checkpoint layout is invalid") from exc
    name = _STATUS_NAMES.get(status, "running")
    if name == "running" and step >= n_steps:
        name = "finished"
    return CheckpointInfo(theta, losses, step, n_steps, name, run, str(header.get("version")))


# ---------------------------------------------------------------------------------------------
# Used by fit(..., checkpoint=...)


def _callable_name(function: Any) -> str:
    module = getattr(function, "__module__", None) or type(function).__module__
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}"


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return repr(value)


def _data_fingerprint(arrays: list[Any]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        host = np.ascontiguousarray(np.asarray(array))
        digest.update(f"{host.shape}{host.dtype}".encode())
        digest.update(host.tobytes())
    return digest.hexdigest()


def _optimizer_probe(optimizer: Any, params: Any) -> np.ndarray | None:
    """The updates ``optimizer`` gives for two fixed gradients, flattened: a fingerprint of its
    hyperparameters (learning rate, momentum, ...) that works for any optax optimizer."""
    if optimizer is None:
        return None

    def probe_grads(scale: float) -> Any:
        return jax.tree_util.tree_map(
            lambda p: scale * (0.5 + jnp.arange(p.size, dtype=p.dtype).reshape(p.shape) / 7.0),
            params,
        )

    try:
        state = optimizer.init(params)
        first, state = optimizer.update(probe_grads(1.0), state, params)
        second, _ = optimizer.update(probe_grads(-0.3), state, optax.apply_updates(params, first))
        flat = [np.ravel(np.asarray(u)) for u in jax.tree_util.tree_leaves((first, second))]
    except Exception:  # e.g. optimizers that need extra update arguments: compare structure only
        return None
    return np.concatenate(flat) if flat else np.zeros(0)


def _to_host(leaf: Any) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def _from_host(array: np.ndarray, template: Any) -> Any:
    if jax.dtypes.issubdtype(template.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(array, impl=jax.random.key_impl(template))
    return jnp.asarray(array)


class _Run(NamedTuple):
    """Everything about a run that a checkpoint must match to be resumed."""

    settings: dict[str, Any]
    probe: np.ndarray | None
    template: Any  # the loop state before step 0
    treedef: Any  # of the parameters


def run_names(model: Any, loss: Any, objective: Any) -> dict[str, Any]:
    """The functions of a run, by qualified name (``None`` for those it does not have)."""
    return {
        "model": None if model is None else _callable_name(model),
        "loss": None if loss is None else _callable_name(loss),
        "objective": None if objective is None else _callable_name(objective),
    }


def _describe_run(settings: FitSettings, params: Any, data: Any, names: dict[str, Any]) -> _Run:
    """What the checkpoint records about the run: every option that ``OPTIONS`` marks
    ``recorded`` (from ``settings``), the functions, the parameters' and data's shapes and a
    hash of the data."""
    optimizer = settings.optimizer
    data_leaves = jax.tree_util.tree_leaves(data)
    template = initial_state(params, optimizer, settings.dtype)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    description = {key: _json_scalar(value) for key, value in recorded_options(settings).items()}
    # The step size is ignored when an optax optimizer carries its own learning rate; the
    # optimizer is recorded by the structure of its state (and its probe, beside).
    if optimizer is not None:
        description["step_size"] = None
        description["optimizer"] = (
            f"optax optimizer with state {jax.tree_util.tree_structure(template.opt_state)}"
        )
    else:
        description["optimizer"] = "built-in gradient descent"
    description.update(
        names,
        theta=str(treedef),
        theta_shapes=[list(np.shape(leaf)) for leaf in leaves],
        data_shapes=[list(np.shape(leaf)) for leaf in data_leaves],
        data_sha256=_data_fingerprint(data_leaves),
    )
    return _Run(description, _optimizer_probe(optimizer, params), template, treedef)


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-9 * abs(b)


def _differences(saved: dict[str, Any], run: _Run, saved_probe: np.ndarray | None) -> list[str]:
    # e.g. checkpoint_every only sets where files are written, not the result: it may change.
    ignore = kept_options()
    diffs = []
    for key, value in run.settings.items():
        if key in ignore or saved.get(key) == value:
            continue
        if key == "step_size" and _close(saved.get(key), value):
            continue  # e.g. a 1/L estimated again, equal up to rounding
        if key == "data_sha256":
            diffs.append("the data (x, y) differ")
        else:
            diffs.append(f"{key}: checkpoint {saved.get(key)!r}, this run {value!r}")
    if not diffs and (run.probe is None) != (saved_probe is None):
        diffs.append("optimizer: the optimizers differ")
    elif not diffs and run.probe is not None:
        same = saved_probe.shape == run.probe.shape and np.allclose(
            saved_probe, run.probe, rtol=1e-6, atol=0.0, equal_nan=True
        )
        if not same:
            diffs.append(
                "optimizer: it gives other updates than the checkpoint's (another learning rate "
                "or other hyperparameters)"
            )
    return diffs


def _save(path: Path, state: Any, losses: np.ndarray, path_parts: list[Any], run: _Run) -> None:
    state_leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"state_{i}": _to_host(leaf) for i, leaf in enumerate(state_leaves)}
    arrays["losses"] = np.asarray(losses)
    if path_parts:
        joined = jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts), *path_parts)
        for i, leaf in enumerate(jax.tree_util.tree_leaves(joined)):
            arrays[f"path_{i}"] = np.asarray(leaf)
    if run.probe is not None:
        arrays["optimizer_probe"] = run.probe
    # The container description lists leaves in its own order (dict insertion order), JAX in
    # sorted-key order: record, for each described leaf, its index in JAX's order.
    order: list[int] = []
    indices = jax.tree_util.tree_unflatten(run.treedef, list(range(run.treedef.num_leaves)))
    layout = {
        "tree": describe_tree(indices, order),
        "order": order,
        "step": int(state.t),
        "status": int(state.status),
        "n_state": len(state_leaves),
        "n_params": run.treedef.num_leaves,
        "n_opt": len(jax.tree_util.tree_leaves(state.opt_state)),
        "path": bool(path_parts),
    }
    save_arrays(path, arrays, kind=_KIND, metadata={"run": run.settings, "layout": layout})


#: A file at the checkpoint's path that is not a checkpoint: left alone.
NOT_A_CHECKPOINT_MESSAGE = (
    "checkpoint {path!r} exists and is not a dl-workshop checkpoint; it is left alone: choose "
    "another path (or delete the file)"
)

#: A checkpoint of another run at the checkpoint's path, without ``overwrite``.
ANOTHER_RUN_MESSAGE = (
    "{action} {path!r}: it was written by a different run ({diffs}); pass overwrite=True "
    "(--overwrite-checkpoint) to start over in it, or choose another path"
)


def _read_existing(path: Path, resume: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays and header of the checkpoint at ``path``; ``ValueError`` naming the path when
    the file there is anything else (a data file, another kind of file, a broken one): what is
    wrong with it when resuming, else that it is left alone."""
    try:
        arrays, header = load_arrays(path, kind=_KIND)
    except (ValueError, OSError) as exc:
        if resume and isinstance(exc, ValueError):
            raise
        raise ValueError(NOT_A_CHECKPOINT_MESSAGE.format(path=str(path))) from exc
    metadata = header["metadata"]
    if not isinstance(metadata.get("run"), dict) or not isinstance(metadata.get("layout"), dict):
        raise ValueError(NOT_A_CHECKPOINT_MESSAGE.format(path=str(path)))
    return arrays, header


def _claim(path: Path, run: _Run, *, resume: bool, overwrite: bool) -> Start | None:
    """Before the fit: the state to resume from (``None``: start fresh), after checking that
    whatever is at ``path`` may be replaced: nothing, or a checkpoint of this run, or (with
    ``overwrite``) of another run. Anything else is refused, and the file left alone."""
    if not os.path.lexists(path):
        return None
    if path.is_symlink() or not path.is_file():
        raise ValueError(NOT_A_CHECKPOINT_MESSAGE.format(path=str(path)))
    arrays, header = _read_existing(path, resume)
    saved = header["metadata"]["run"]
    diffs = _differences(saved, run, arrays.get("optimizer_probe"))
    if diffs and overwrite:
        return None
    if diffs:
        action = "cannot resume from" if resume else "refusing to overwrite checkpoint"
        raise ValueError(
            ANOTHER_RUN_MESSAGE.format(action=action, path=str(path), diffs="; ".join(diffs))
        )
    return _restore(path, run, arrays, header) if resume else None


def _restore(
    path: Path, run: _Run, arrays: dict[str, Any], header: dict[str, Any]
) -> tuple[Any, np.ndarray, list[Any]]:
    """The start of a resumed run from a checkpoint of this run (its arrays and header)."""
    version = _version.__version__
    refuse = f"cannot resume from {str(path)!r}"
    start_over = "pass resume=False (or delete the file) to start over"
    if header.get("version") != version:
        raise ValueError(
            f"{refuse}: it was written by dl-workshop {header.get('version')}, this is "
            f"{version}; {start_over}"
        )
    layout = header["metadata"]["layout"]
    template_leaves, state_def = jax.tree_util.tree_flatten(run.template)
    try:
        saved_leaves = [arrays[f"state_{i}"] for i in range(int(layout["n_state"]))]
        losses = arrays["losses"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is corrupted: its checkpoint layout is invalid") from exc
    if len(saved_leaves) != len(template_leaves):
        raise ValueError(
            f"{refuse}: it holds {len(saved_leaves)} state arrays, this run has "
            f"{len(template_leaves)} (another optimizer?); {start_over}"
        )
    for i, (saved_leaf, leaf) in enumerate(zip(saved_leaves, template_leaves, strict=True)):
        expected = _to_host(leaf)
        if saved_leaf.shape != expected.shape or saved_leaf.dtype != expected.dtype:
            raise ValueError(
                f"{refuse}: state array {i} has shape {saved_leaf.shape} and dtype "
                f"{saved_leaf.dtype}, this run needs {expected.shape} and {expected.dtype}; "
                f"{start_over}"
            )
    state = jax.tree_util.tree_unflatten(
        state_def, [_from_host(a, t) for a, t in zip(saved_leaves, template_leaves, strict=True)]
    )
    step = int(state.t)
    if losses.shape != (step,):
        raise ValueError(
            f"{str(path)!r} is corrupted: it holds {losses.shape[0] if losses.ndim else 0} "
            f"losses for {step} steps"
        )
    path_parts = []
    if layout.get("path"):
        try:
            path_leaves = [jnp.asarray(arrays[f"path_{i}"]) for i in range(run.treedef.num_leaves)]
        except KeyError as exc:
            raise ValueError(f"{str(path)!r} is corrupted: its parameter path is missing") from exc
        path_parts.append(jax.tree_util.tree_unflatten(run.treedef, path_leaves))
    return state, losses, path_parts


class _Saver:
    """The loop's callback that writes the checkpoint; remembers the latest state for Ctrl-C."""

    def __init__(self, path: Path, run: _Run) -> None:
        self.path = path
        self.run = run
        self.latest: Start | None = None
        self.saved_step: int | None = None

    def __call__(self, state: LoopState, losses: np.ndarray, path_parts: list[Any]) -> None:
        self.latest = (state, losses, list(path_parts))
        self.save()

    def save(self) -> None:
        state, losses, path_parts = self.latest
        _save(self.path, state, losses, path_parts, self.run)
        self.saved_step = int(state.t)

    def save_latest(self, fallback: Start) -> None:
        """After Ctrl-C: the file holds the latest state (``fallback`` if no chunk ran)."""
        if self.latest is None:
            self.latest = fallback
        if self.saved_step != int(self.latest[0].t) or not self.path.exists():
            self.save()


def solve_with_checkpoint(
    settings: FitSettings,
    params: Any,
    problem: Problem,
    *,
    functions: tuple[Any, Any, Any],
    stacklevel: int = 4,
) -> Any:
    """:func:`~dl_workshop.fitting.solver.solve` writing (and, with ``resume``, reading) the
    checkpoint.

    Called by the front doors when ``settings.checkpoint`` is set; ``functions``, the run's
    ``(model, loss, objective)`` (``None`` for those it does not have), are recorded by name
    (:func:`run_names`) as what wrote the file; ``stacklevel`` points the Ctrl-C warning at the
    user's call.
    """
    path = settings.checkpoint
    every = settings.checkpoint_every
    if every is None:
        every = max(1, -(-settings.n_steps // DEFAULT_CHECKPOINTS_PER_RUN))
    settings = settings._replace(checkpoint_every=every)
    run = _describe_run(settings, params, problem.full_data, run_names(*functions))
    start = _claim(path, run, resume=settings.resume, overwrite=settings.overwrite)
    saver = _Saver(path, run)
    result = solve(settings, params, problem, callback=saver, start=start)
    if result.status == "interrupted":
        saver.save_latest(start or (run.template, np.zeros(0, settings.dtype), []))
        warnings.warn(
            f"interrupted by the user after {result.n_steps} of {settings.n_steps} steps; saved "
            f"a checkpoint to {str(path)!r}: run again with resume=True to continue",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
    return result

