"""What a fit returns: :class:`FitResult`, packaged from the runner's outcome."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop.engine.runner import LoopOutcome
from dl_workshop.engine.state import DIVERGED, STATUS_NAMES


class FitResult(NamedTuple):
    """What :func:`~dl_workshop.fit` returns.

    Attributes:
        theta: the optimized parameters, in the same container type as the ``theta`` given.
        losses: NumPy array of shape ``(n_steps_run,)``, the loss before each step's update.
        n_steps: number of steps run (updates applied).
        status: ``"max_steps"`` (ran all steps), ``"converged"`` (``tol`` met),
            ``"diverged"`` (only with ``on_divergence="warn"``) or ``"interrupted"`` (Ctrl-C).
        path: parameter trajectory when ``record_every`` > 0: the same container as ``theta``
            with a leading axis of length ``len(path_steps)``, else ``None``.
        path_steps: NumPy int array, the step index of each entry of ``path`` (the last entry is
            the final parameters, at index ``n_steps``), else ``None``.
    """

    theta: Any
    losses: np.ndarray
    n_steps: int
    status: str
    path: Any = None
    path_steps: np.ndarray | None = None

    @property
    def converged(self) -> bool:
        """Whether the ``tol`` criterion stopped the loop."""
        return self.status == "converged"


def _path(path_parts: list[Any], final: Any, n_run: int, record_every: int):
    """The recorded parameters every ``record_every`` steps, ending with ``final``."""
    steps = np.arange(0, n_run, record_every)
    if path_parts:
        flat = jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts), *path_parts)
        path = jax.tree_util.tree_map(
            lambda p, f: jnp.concatenate([p[: len(steps)], f[None]]), flat, final
        )
    else:
        path = jax.tree_util.tree_map(lambda f: f[None], final)
        steps = np.zeros(0, dtype=int)
    return path, np.append(steps, n_run)


def package_result(
    outcome: LoopOutcome, *, record_every: int, dtype: Any, to_default_device: bool = False
) -> FitResult:
    """The :class:`FitResult` of a run: last good parameters if it diverged, losses, path."""
    state = outcome.state
    status_code, n_run = int(state.status), int(state.t)
    parts = outcome.loss_parts
    losses = (np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))[:n_run]
    final = state.last_good if status_code == DIVERGED else state.params
    path = path_steps = None
    if record_every:
        path, path_steps = _path(outcome.path_parts, final, n_run, record_every)
    if to_default_device:
        # Back to the default device, uncommitted, like every other result of fit.
        final, path = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)), (final, path))
    status = "interrupted" if outcome.interrupted else STATUS_NAMES[status_code]
    return FitResult(final, losses, n_run, status, path, path_steps)
