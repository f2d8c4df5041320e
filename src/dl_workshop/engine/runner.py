"""The chunked runner: compiled chunks of steps, with a progress bar, a callback and Ctrl-C.

The loop runs in chunks of steps; each chunk is one compiled call (``jax.jit`` over
``jax.lax.scan``), so a progress bar can advance between chunks while no Python code runs per
step. How a chunk is compiled depends on the data: small problems on the CPU with compiler
options that halve their compilation (:mod:`~dl_workshop.compilation.options`), large ones with
their row products fused (:mod:`~dl_workshop.engine.jaxpr.dots`); at most ``MAX_COMPILED_LOOPS``
compiled loops are kept, and JAX's persistent compilation cache keeps them across processes
(:mod:`dl_workshop.compilation`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from dl_workshop.compilation.cache import enable_compile_cache
from dl_workshop.compilation.executables import call_key, clear_in_memory, executable
from dl_workshop.compilation.loops import LoopBound
from dl_workshop.compilation.options import SMALL_PROBLEM_OPTIONS, call_small, small_options_usable
from dl_workshop.engine.jaxpr import fused_row_products, wants_fused_row_products
from dl_workshop.engine.objective import Objective, as_objective
from dl_workshop.engine.shapecheck import nbytes, on_host_cpu
from dl_workshop.engine.state import RUNNING, LoopState, Start, fresh_optimizer_state, loop_start
from dl_workshop.engine.step import step

#: Runs estimated to take longer than this many seconds get a progress bar when progress=None.
PROGRESS_THRESHOLD_S = 2.0


class ChunkPlan(NamedTuple):
    """How the steps are cut into compiled calls (all static: they select compiled code)."""

    n_steps: int
    chunk: int  # steps per compiled call
    block: int  # steps between path records (== chunk without recording)
    record: bool


class LoopOutcome(NamedTuple):
    """What the runner hands back: the last state and what was recorded on the host."""

    state: LoopState
    loss_parts: list[np.ndarray]
    path_parts: list[Any]
    interrupted: bool


def chunk_plan(n_steps: int, record_every: int, checkpoint_every: int | None) -> ChunkPlan:
    """Chunk length (steps per compiled call) and block length (steps between path records)."""
    if checkpoint_every:
        chunk = checkpoint_every
    else:
        # About 20 chunks: enough for a smooth progress bar, few enough that the per-call
        # overhead (~0.1 ms) is noise. Rounded to a power of two so nearby n_steps share code.
        chunk = max(1, 2 ** math.ceil(math.log2(max(1, n_steps / 20))))
        chunk = min(chunk, 2 ** math.ceil(math.log2(n_steps)))
    block = record_every if record_every else chunk
    chunk = max(block, (chunk // block) * block)
    return ChunkPlan(n_steps, chunk, block, bool(record_every))


def _run_chunk_impl(
    state, data, hyper, *, objective, optimizer, chunk_len, block_len, record, fused=False
):
    if fused:  # the data's row products as multiply-and-sums, see engine.jaxpr.dots
        objective = objective._replace(
            value_and_grad=fused_row_products(objective.value_and_grad))
    state = fresh_optimizer_state(state, optimizer)

    def steps(carry, length):
        return jax.lax.scan(
            lambda s, _: step(s, data, hyper, objective, optimizer), carry, None, length=length
        )

    if not record:
        state, losses = steps(state, chunk_len)
        return state, losses, None

    def block(carry, _):
        carry_out, losses = steps(carry, block_len)
        return carry_out, (losses, carry.params)

    state, (losses, path) = jax.lax.scan(block, state, None, length=chunk_len // block_len)
    return state, losses.reshape(-1), path


_STATIC = ("objective", "optimizer", "chunk_len", "block_len", "record", "fused")

run_chunk = jax.jit(_run_chunk_impl, static_argnames=_STATIC)

#: Data of at most this many bytes makes a small problem (:mod:`~dl_workshop.compilation.options`).
SMALL_PROBLEM_BYTES = 1 << 22

_run_chunk_small = jax.jit(
    _run_chunk_impl, static_argnames=_STATIC, compiler_options=SMALL_PROBLEM_OPTIONS
)


def _drop_compiled_loops() -> None:
    run_chunk.clear_cache()
    _run_chunk_small.clear_cache()
    clear_in_memory()


#: The compiled loops kept (at most ``MAX_COMPILED_LOOPS``, see :mod:`~dl_workshop.compilation`).
_loops = LoopBound(_drop_compiled_loops)


def _signature(static: dict[str, Any], *args: Any) -> Any:
    """What selects a compiled loop: the static arguments and the arguments' shapes."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    shapes = tuple((np.shape(a), str(getattr(a, "dtype", type(a)))) for a in leaves)
    return tuple(sorted(static.items())), treedef, shapes


def _chunk_function(data: Any) -> Callable[..., Any]:
    """The compiled chunk for ``data``: with ``SMALL_PROBLEM_OPTIONS`` for small CPU data."""
    leaves = jax.tree_util.tree_leaves(data)
    small = nbytes(*leaves) <= SMALL_PROBLEM_BYTES and all(on_host_cpu(a) for a in leaves)
    return _run_chunk_small if small and small_options_usable() else run_chunk


def _call_chunk(function: Callable[..., Any], *args: Any, **static: Any) -> Any:
    """``function(*args, **static)``; the default options if XLA refuses the small ones."""
    if function is run_chunk:
        return run_chunk(*args, **static)
    return call_small(function, run_chunk, *args, **static)


def _progress_bar(total: int, start: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", leave=False)


def _chunk_starts(n_steps: int, chunk: int, start: int) -> Iterator[int]:
    done = start
    while done < n_steps:
        yield done
        done += chunk


class _Progress:
    """The progress bar: always, never, or (``None``) once the run looks longer than 2 s."""

    def __init__(self, mode: bool | None, n_steps: int, start: int) -> None:
        self.mode, self.n_steps = mode, n_steps
        self.bar = _progress_bar(n_steps, start) if mode else None
        self.chunk_times: list[float] = []

    def update(self, state: LoopState, seconds: float, chunk: int) -> None:
        self.chunk_times.append(seconds)
        t = int(state.t)
        if self.bar is not None:
            self.bar.update(t - self.bar.n)
        elif (
            self.mode is None
            and len(self.chunk_times) >= 2
            and int(state.status) == RUNNING
            # The first chunk includes compilation, so estimate from the latest one.
            and self.chunk_times[-1] * (self.n_steps - t) / chunk > PROGRESS_THRESHOLD_S
        ):
            self.bar = _progress_bar(self.n_steps, t)

    def close(self, state: LoopState) -> None:
        if self.bar is not None:
            self.bar.update(int(state.t) - self.bar.n)
            self.bar.close()


def _compiled_chunk(objective, optimizer, plan, *args) -> Callable[..., Any]:
    """The compiled chunk for this run, called as ``chunk(state, data, hyper)``; turns on the
    persistent compilation cache first.

    When every static part is the library's own
    (:func:`~dl_workshop.compilation.executables.call_key`), the executable itself is kept
    across processes; otherwise ``jax.jit`` compiles it (and JAX's persistent cache keeps the
    compilation).
    """
    enable_compile_cache()
    function = _chunk_function(args[1])
    static = dict(
        objective=objective, optimizer=optimizer, chunk_len=plan.chunk, block_len=plan.block,
        record=plan.record, fused=wants_fused_row_products(args[1]),
    )
    with contextlib.suppress(TypeError):  # unhashable static arguments: jax.jit reports them
        _loops.keep((function is run_chunk, _signature(static, *args)))
    small = function is not run_chunk
    key = call_key(f"{__name__}._run_chunk_impl(small={small})", args, static)
    if key is not None:
        with contextlib.suppress(jax.errors.JaxRuntimeError):  # e.g. refused small options
            return executable(function, key, args, static)
    return functools.partial(_call_chunk, function, **static)


def run_loop(
    objective: Objective,
    data: Any,
    params: Any,
    settings: Any,
    *,
    callback: Callable[[LoopState, np.ndarray, list[Any]], None] | None = None,
    start: Start | None = None,
    device: Any = None,
) -> LoopOutcome:
    """Run chunks until ``n_steps``, convergence or divergence; Ctrl-C stops between chunks.

    ``objective`` is an :class:`~dl_workshop.engine.objective.Objective`, or a function
    ``(params, t, data) -> (loss, grads)`` (its ``value_and_grad``).
    The loop's state starts from ``params``, or from ``start`` (a resumed run: its state and the
    losses and path of the steps run before it), and is put on ``device`` with the
    hyperparameters when one is given (compiled code runs on the device of its inputs).
    ``settings`` holds the options (a :class:`~dl_workshop.fitting.settings.FitSettings`; read:
    ``n_steps``, ``step_size``, ``optimizer``, ``progress``, ``record_every``, ``tol``,
    ``patience``, ``dtype``, ``checkpoint_every``). ``callback(state, losses so far, path
    parts)`` runs on the host after every chunk (checkpointing uses it).
    """
    plan = chunk_plan(settings.n_steps, settings.record_every, settings.checkpoint_every)
    state, hyper, history = loop_start(params, settings, start)
    if device is not None:
        state, hyper = jax.device_put((state, hyper), device)
    chunk = _compiled_chunk(as_objective(objective), settings.optimizer, plan, state, data, hyper)
    loss_parts, path_parts = history
    bar = _Progress(settings.progress, plan.n_steps, int(state.t))
    interrupted = False
    try:
        for _ in _chunk_starts(plan.n_steps, plan.chunk, int(state.t)):
            if int(state.status) != RUNNING:
                break
            before, t0 = int(state.t), time.perf_counter()
            state, losses, path = chunk(state, data, hyper)
            loss_parts.append(np.asarray(losses)[: int(state.t) - before])
            if plan.record:
                path_parts.append(path)
            if callback is not None:
                callback(state, np.concatenate(loss_parts), path_parts)
            bar.update(state, time.perf_counter() - t0, plan.chunk)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close(state)
    return LoopOutcome(state, loss_parts, path_parts, interrupted)
