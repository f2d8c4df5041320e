"""``fit``'s options, validated once into an immutable :class:`FitSettings`.

Every front door (:func:`~dl_workshop.fit`, :func:`~dl_workshop.optimization.fit_objective`,
checkpointing, streaming, sharding) turns its keyword arguments into one ``FitSettings`` here;
the layers below take the settings as given and never check them again. Each check raises a
``ValueError`` or ``TypeError`` that names the argument, the constraint and the value received.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optax

from dl_workshop._validation import check_int, check_positive, describe, float_dtype

#: The message for an ``optimizer`` that is not an optax optimizer.
OPTIMIZER_TYPE = (
    "optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-2)) or None; got {value}"
)


class FitSettings(NamedTuple):
    """The validated options of one fit (see :func:`~dl_workshop.fit` for their meaning).

    ``tol`` is ``None`` when early stopping is off; ``checkpoint`` is a ``Path`` or ``None``.
    """

    n_steps: int
    step_size: float
    optimizer: optax.GradientTransformation | None
    progress: bool | None
    record_every: int
    tol: float | None
    patience: int
    on_divergence: str
    dtype: np.dtype
    checkpoint_every: int | None
    checkpoint: Path | None
    resume: bool
    batch_size: int | None
    seed: int
    shuffle_window: int | None
    fast_path: bool
    overwrite: bool = False

    @property
    def tol_value(self) -> float:
        """``tol`` as the loop takes it: ``0.0`` disables early stopping."""
        return 0.0 if self.tol is None else self.tol


def check_optimizer(optimizer: Any) -> optax.GradientTransformation | None:
    """``optimizer`` if it is an optax optimizer or ``None``, else ``TypeError``."""
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(OPTIMIZER_TYPE.format(value=describe(optimizer)))
    return optimizer


def check_progress(progress: Any) -> bool | None:
    """``progress`` if it is ``True``, ``False`` or ``None``, else ``TypeError``."""
    if progress not in (None, True, False):
        raise TypeError(f"progress must be True, False or None; got {describe(progress)}")
    return progress


def check_on_divergence(on_divergence: Any) -> str:
    """``on_divergence`` if it is ``"raise"`` or ``"warn"``, else ``ValueError``."""
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn'; got {on_divergence!r}")
    return on_divergence


def check_seed(seed: Any) -> int:
    """A shuffling seed: an integer in ``[0, 2**32)``."""
    seed = check_int(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed}")
    return seed


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False``, else ``TypeError`` naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return value


def check_checkpoint_path(checkpoint: Any) -> Path:
    """The checkpoint file's path: a str or Path, not a folder, in a folder that exists."""
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path (str or Path); got {describe(checkpoint)}")
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"checkpoint must be a file path, not a folder; got {str(path)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"checkpoint's folder {str(path.parent)!r} does not exist; got {str(path)!r}"
        )
    return path


def _checkpoint_options(
    checkpoint: Any, resume: Any, overwrite: Any = False
) -> tuple[Path | None, bool, bool]:
    resume = check_bool(resume, "resume")
    overwrite = check_bool(overwrite, "overwrite")
    if checkpoint is None:
        if resume or overwrite:
            name, what = ("resume", "to resume from") if resume else ("overwrite", "to replace")
            raise ValueError(f"{name}=True needs checkpoint=PATH, the file {what}; got None")
        return None, False, False
    return check_checkpoint_path(checkpoint), resume, overwrite


def _minibatch_options(batch_size: Any, seed: Any, shuffle_window: Any) -> tuple[Any, int, Any]:
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    if shuffle_window is not None:
        shuffle_window = check_int(shuffle_window, "shuffle_window", minimum=1)
    return batch_size, check_seed(seed), shuffle_window


def fit_settings(
    *,
    n_steps: Any = 3000,
    step_size: Any = 0.001,
    optimizer: Any = None,
    progress: Any = None,
    record_every: Any = 0,
    tol: Any = None,
    patience: Any = 1,
    on_divergence: Any = "raise",
    dtype: Any = None,
    checkpoint_every: Any = None,
    checkpoint: Any = None,
    resume: Any = False,
    overwrite: Any = False,
    batch_size: Any = None,
    seed: Any = 0,
    shuffle_window: Any = None,
    fast_path: Any = True,
) -> FitSettings:
    """Validate ``fit``'s options (the defaults are ``fit``'s) into a :class:`FitSettings`.

    Example:
        >>> settings = fit_settings(n_steps=100, dtype="float64")
        >>> settings.n_steps, str(settings.dtype), settings.tol_value
        (100, 'float64', 0.0)
    """
    target = float_dtype(dtype)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    step_size = check_positive(step_size, "step_size")
    record_every = check_int(record_every, "record_every", minimum=0)
    patience = check_int(patience, "patience", minimum=1)
    tol = None if tol is None else check_positive(tol, "tol")
    on_divergence = check_on_divergence(on_divergence)
    optimizer = check_optimizer(optimizer)
    progress = check_progress(progress)
    if checkpoint_every is not None:
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
    checkpoint, resume, overwrite = _checkpoint_options(checkpoint, resume, overwrite)
    batch_size, seed, shuffle_window = _minibatch_options(batch_size, seed, shuffle_window)
    return FitSettings(
        n_steps, step_size, optimizer, progress, record_every, tol, patience, on_divergence,
        target, checkpoint_every, checkpoint, resume, batch_size, seed, shuffle_window,
        check_bool(fast_path, "fast_path"), overwrite,
    )
