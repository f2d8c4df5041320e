"""``fit``'s options: declared once in :data:`OPTIONS`, validated once into a :class:`FitSettings`.

:data:`OPTIONS` is the one list of ``fit``'s options: for each, its default, its check, what it
means (the text of the ``Args`` of the front doors' help), which front doors take it, whether a
checkpoint records it, and its command-line flag if it has one. Everything else is built from
it: :class:`FitSettings` (one field per option), :func:`fit_settings`, the signatures and option
docs of the front doors (:func:`takes_options`: :func:`~dl_workshop.fit`,
:func:`~dl_workshop.fitting.optimization.fit_objective`, streaming, sharding), the run a checkpoint
records and the flags of ``dl-workshop fit``. Adding an option is one entry here plus the code
where it acts.

Every front door turns its keyword arguments into one ``FitSettings`` here; the layers below
take the settings as given and never check them again. Each check raises a ``ValueError`` or
``TypeError`` that names the argument, the constraint and the value received.
"""

from __future__ import annotations

import collections
import functools
import inspect
import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import optax

from dl_workshop._validation import check_int, check_positive, describe, float_dtype

#: The message for an ``optimizer`` that is not an optax optimizer.
OPTIMIZER_TYPE = (
    "optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-2)) or None; got {value}"
)


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



# ---------------------------------------------------------------------------------------------
# The declaration

#: The front doors, by the name their options are declared for.
FIT, OBJECTIVE, STREAM = "fit", "fit_objective", "fit_stream"
_ALL = frozenset({FIT, OBJECTIVE, STREAM})
_RUN = frozenset({FIT, OBJECTIVE})

#: ``Option.recorded``: a checkpoint must match it to be resumed / records it but may differ.
MATCH, KEPT = "match", "kept"


class Flag(NamedTuple):
    """An option's flag on ``dl-workshop fit`` (``store_true`` when its default is ``False``)."""

    flag: str
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None


class Option(NamedTuple):
    """One option of ``fit``: its default, its check and everything said about it."""

    default: Any
    annotation: str  # as the signature shows it
    check: Callable[[Any, str], Any]  # (value, name) -> the validated value
    doc: str
    doors: frozenset[str] = _RUN
    recorded: str | None = MATCH
    flag: Flag | None = None
    positional: bool = False  # may be passed by position, after the data (fit, fit_objective)


def _integer(minimum: int) -> Callable[[Any, str], int]:
    return lambda value, name: check_int(value, name, minimum=minimum)


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda value, name: None if value is None else check(value, name)


def _by_value(check: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    return lambda value, _name: check(value)


#: Every option of ``fit``, in the order of its signature.
OPTIONS: dict[str, Option] = {
    "n_steps": Option(3000, "int", _integer(1), "maximum number of steps, >= 1.",
        positional=True),
    "step_size": Option(0.001, "float", check_positive, "learning rate of the built-in gradient "
        "descent, > 0 (ignored when ``optimizer`` is given: the optax optimizer carries its "
        "own).", _ALL, positional=True),
    "optimizer": Option(None, "optax.GradientTransformation | None", _by_value(check_optimizer),
        "any ``optax.GradientTransformation`` (e.g. ``optax.adam(0.1)``); ``None`` means plain "
        "gradient descent with ``step_size``.", _ALL),
    "progress": Option(None, "bool | None", _by_value(check_progress), "``True`` always shows a "
        "tqdm progress bar, ``False`` never, ``None`` only when the run is estimated to take "
        "more than two seconds.", _ALL, None),
    "record_every": Option(0, "int", _integer(0), "record the parameters every this many steps "
        "into ``FitResult.path`` (``0``: do not record; ``1``: every step)."),
    "tol": Option(None, "float | None", _optional(check_positive), "stop when the relative "
        "improvement ``(prev - loss) / |prev|`` stays below ``tol`` for ``patience`` "
        "consecutive steps; ``None`` runs all steps.", _ALL),
    "patience": Option(1, "int", _integer(1), "consecutive steps below ``tol`` needed to stop, "
        ">= 1.", _ALL),
    "on_divergence": Option("raise", "str", _by_value(check_on_divergence), "``\"raise\"`` a "
        ":class:`~dl_workshop.DivergenceError`, or ``\"warn\"`` and return the result up to "
        "the last good step.", _ALL, None),
    "dtype": Option(None, "Any", _by_value(float_dtype), "``\"float32\"`` or ``\"float64\"``; "
        "``None`` uses JAX's default (float32 unless x64 is enabled). float64 is enabled for "
        "this call only.", _ALL),
    "checkpoint_every": Option(None, "int | None", _optional(_integer(1)), "write the checkpoint "
        "every this many steps (default: about 20 checkpoints per run); without "
        "``checkpoint``, the chunk length, so that callbacks fall on multiples of it.",
        recorded=KEPT, flag=Flag("--checkpoint-every", "iterations between checkpoints "
        "(default: about 20 per fit)", "K", int)),
    "checkpoint": Option(None, "str | os.PathLike[str] | None", _optional(_by_value(
        check_checkpoint_path)), "path of a checkpoint file (``.npz``), written atomically "
        "every ``checkpoint_every`` steps and when the run is interrupted (Ctrl-C); see "
        ":mod:`dl_workshop.fitting.checkpoint`. A file already there must be a checkpoint of this "
        "library (anything else is refused with ``ValueError`` before the fit, and left "
        "alone); one written by another run needs ``overwrite=True``.", recorded=None,
        flag=Flag("--checkpoint", "write the optimizer's state to this .npz file as it runs "
        "(atomically) and on Ctrl-C", "PATH")),
    "resume": Option(False, "bool", check_bool, "with ``checkpoint``, continue from that file if "
        "it exists (it must come from the same problem and settings, else ``ValueError``); a "
        "resumed run gives the same parameters and losses as an uninterrupted one. ``False`` "
        "starts over.", recorded=None, flag=Flag("--resume", "continue from --checkpoint if "
        "it exists (same data and options); the result equals an uninterrupted run's")),
    "overwrite": Option(False, "bool", check_bool, "with ``checkpoint``, replace a checkpoint "
        "written by another run (another problem or other settings) instead of refusing it.",
        recorded=None, flag=Flag("--overwrite-checkpoint", "replace a checkpoint of another "
        "run at --checkpoint (a file there that is not a checkpoint is always refused)")),
    "batch_size": Option(None, "int | None", _optional(_integer(1)), "minibatch SGD: each step "
        "uses ``batch_size`` rows (``None``: all rows). Rows are reshuffled every epoch from "
        "``seed``; the batch of step ``t`` is picked inside the compiled loop, so runs are "
        "deterministic and resumable. The order is defined in :mod:`dl_workshop.fitting.streaming` "
        "(``fit_stream`` reproduces it from files).", frozenset({FIT})),
    "seed": Option(0, "int", _by_value(check_seed), "seed of the minibatch shuffling, an "
        "integer in ``[0, 2**32)``.", frozenset({FIT, STREAM})),
    "shuffle_window": Option(None, "int | None", _optional(_integer(1)), "shuffle within "
        "consecutive windows of this many rows instead of across all rows (what streaming "
        "from a file with ``chunk_size=shuffle_window`` does).", frozenset({FIT})),
    "fast_path": Option(True, "bool", check_bool, "with ``model=linear_model`` and "
        "``loss=mseloss`` (full batch), optimize on the data's sufficient statistics "
        "(:mod:`dl_workshop.objectives.fastpath`): the same iterates and losses to float "
        "tolerance, each "
        "step ``O(d²)`` instead of ``O(n d)``. ``False`` always runs the general path.",
        frozenset({FIT})),
}


class FitSettings(collections.namedtuple("FitSettings", list(OPTIONS))):
    """The validated options of one fit: one field per entry of :data:`OPTIONS`.

    ``tol`` is ``None`` when early stopping is off; ``checkpoint`` is a ``Path`` or ``None``;
    ``dtype`` a NumPy dtype.
    """

    __slots__ = ()

    @property
    def tol_value(self) -> float:
        """``tol`` as the loop takes it: ``0.0`` disables early stopping."""
        return 0.0 if self.tol is None else self.tol


def fit_settings(**options: Any) -> FitSettings:
    """Validate ``fit``'s options (the defaults are ``fit``'s) into a :class:`FitSettings`.

    Example:
        >>> settings = fit_settings(n_steps=100, dtype="float64")
        >>> settings.n_steps, str(settings.dtype), settings.tol_value
        (100, 'float64', 0.0)
    """
    for name in options:
        if name not in OPTIONS:
            raise TypeError(f"fit_settings() got an unexpected keyword argument {name!r}")
    values = {
        name: option.check(options.get(name, option.default), name)
        for name, option in OPTIONS.items()
    }
    if values["checkpoint"] is None:
        for name, what in (("resume", "to resume from"), ("overwrite", "to replace")):
            if values[name]:
                raise ValueError(f"{name}=True needs checkpoint=PATH, the file {what}; got None")
    return FitSettings(**values)


fit_settings.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option.default)
        for name, option in OPTIONS.items()
    ],
    return_annotation=FitSettings,
)


def recorded_options(settings: FitSettings) -> dict[str, Any]:
    """The options a checkpoint records (``Option.recorded``), by name, as in ``settings``."""
    return {
        name: getattr(settings, name)
        for name, option in OPTIONS.items()
        if option.recorded is not None
    }


def kept_options() -> set[str]:
    """The recorded options that a resumed run may change (they do not change the result)."""
    return {name for name, option in OPTIONS.items() if option.recorded == KEPT}


# ---------------------------------------------------------------------------------------------
# Front doors built from the declaration

_ARGS = re.compile(r"^( *)Args:\n", re.MULTILINE)


def _option_docs(names: list[str], indent: str) -> str:
    """The ``Args`` entries of ``names``, in a docstring's indentation."""
    return "".join(
        textwrap.fill(
            f"{name}: {OPTIONS[name].doc}", width=96, initial_indent=indent + "    ",
            subsequent_indent=indent + "        ", break_on_hyphens=False,
        ) + "\n"
        for name in names
    )


def _with_option_docs(doc: str, names: list[str]) -> str:
    """``doc`` with the options' entries appended to its ``Args`` section."""
    found = _ARGS.search(doc)
    if found is None:
        return doc
    end = doc.find("\n\n", found.end())
    end = len(doc) if end < 0 else end + 1
    return doc[:end] + _option_docs(names, found.group(1)) + doc[end:]


def _door_signature(
    function: Callable[..., Any], names: list[str], positional: list[str]
) -> inspect.Signature:
    """``function``'s parameters but ``settings``, with the options' put in their places:
    ``positional`` ones after its positional parameters, the rest keyword-only at the end."""
    own = [p for p in inspect.signature(function).parameters.values() if p.name != "settings"]
    kind = inspect.Parameter

    def option(name: str, how: Any) -> inspect.Parameter:
        return kind(name, how, default=OPTIONS[name].default, annotation=OPTIONS[name].annotation)

    return inspect.Signature(
        [p for p in own if p.kind == kind.POSITIONAL_OR_KEYWORD]
        + [option(name, kind.POSITIONAL_OR_KEYWORD) for name in positional]
        + [p for p in own if p.kind == kind.KEYWORD_ONLY]
        + [option(name, kind.KEYWORD_ONLY) for name in names if name not in positional],
        return_annotation=inspect.signature(function).return_annotation,
    )


def takes_options(
    door: str, *, positional: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make ``function(..., settings)`` a front door taking the options declared for ``door``.

    The door's signature (``help``, ``inspect.signature``) is ``function``'s own parameters
    with every option of ``door`` added (with ``positional``, those declared ``positional`` may
    be passed by position, after ``function``'s positional parameters; the others are
    keyword-only), with the declared
    defaults; the options' docs are appended to its docstring's ``Args``. A call validates the
    options once (:func:`fit_settings`) and passes ``function`` the :class:`FitSettings` as
    ``settings``.
    """
    names = [name for name, option in OPTIONS.items() if door in option.doors]
    by_position = [name for name in names if positional and OPTIONS[name].positional]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = _door_signature(function, names, by_position)

        @functools.wraps(function)
        def front_door(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{function.__name__}() {exc}") from None
            arguments = bound.arguments
            options = {name: arguments.pop(name) for name in names if name in arguments}
            return function(**arguments, settings=fit_settings(**options))

        front_door.__signature__ = signature  # type: ignore[attr-defined]
        front_door.__doc__ = _with_option_docs(function.__doc__ or "", names)
        return front_door

    return decorate
