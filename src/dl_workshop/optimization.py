"""The optimization loop: gradient descent (or any optax optimizer), compiled with ``jax.lax.scan``.

The loop runs in chunks of steps; each chunk is one compiled call, so a progress bar can advance
between chunks while no Python code runs per step. Inside a chunk every step

1. evaluates the loss and its gradient at the current parameters,
2. checks them for divergence (non-finite or exploding) and for convergence (``tol``),
3. asks the optimizer for an update and applies it.

Steps after the loop has stopped (diverged, converged, or past ``n_steps``) leave the state as it
is, so every chunk has the same length and compiles once.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from dl_workshop._validation import (
    as_data,
    as_params,
    check_finite_data,
    check_int,
    check_positive,
    check_same_length,
    describe,
    float_dtype,
)

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "FitResult",
    "estimate_curvature",
    "fit",
    "gradient_descent",
    "model_optimization_loop",
]

# Status codes carried through the compiled loop.
RUNNING, CONVERGED, DIVERGED = 0, 1, 2
_STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged"}

#: A loss this many times larger than ``max(first loss, 1)`` counts as divergence. The floor of 1
#: keeps a start at the exact solution (first loss ~1e-15) from flagging any later movement, e.g.
#: Adam's first step of about the learning rate; tiny-scale losses that truly diverge still end in
#: inf/NaN, which is caught.
EXPLODE_FACTOR = 1e8

#: Runs estimated to take longer than this many seconds get a progress bar when progress=None.
PROGRESS_THRESHOLD_S = 2.0


class DivergenceError(FloatingPointError):
    """The loss or its gradient became non-finite or exploded during optimization.

    Attributes:
        step: index of the first step whose loss or gradient was bad.
        suggested_step_size: a step size that is stable for this problem (``1/L``), or ``None``
            when the curvature could not be estimated.
        max_stable_step_size: ``2/L``, the largest step for which gradient descent on the local
            quadratic model does not diverge, or ``None``.
        result: the :class:`FitResult` up to the last good step (its parameters are the last
            ones whose loss and gradient were finite).
    """

    def __init__(
        self,
        message: str,
        *,
        step: int,
        suggested_step_size: float | None,
        max_stable_step_size: float | None,
        result: FitResult,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.suggested_step_size = suggested_step_size
        self.max_stable_step_size = max_stable_step_size
        self.result = result


class DivergenceWarning(RuntimeWarning):
    """Warned instead of raising :class:`DivergenceError` when ``on_divergence="warn"``."""


class FitResult(NamedTuple):
    """What :func:`fit` returns.

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


class _LoopState(NamedTuple):
    params: Any
    opt_state: Any
    last_good: Any
    t: jax.Array  # steps completed (updates applied)
    status: jax.Array
    first_loss: jax.Array
    prev_loss: jax.Array
    n_small: jax.Array  # consecutive steps whose relative improvement was below tol


class _Hyper(NamedTuple):
    step_size: jax.Array
    n_steps: jax.Array
    tol: jax.Array
    patience: jax.Array


class FullBatchObjective(NamedTuple):
    """``(params, t, data) -> (loss, grads)`` for ``loss(params, model, x, y)`` on all the data.

    A NamedTuple so that two objectives built from the same model and loss compare equal, and a
    second fit reuses the first one's compiled code.
    """

    model: Callable[[Any, Any], Any]
    loss: Callable[..., Any]

    def __call__(self, params: Any, t: jax.Array, data: tuple[Any, Any]) -> tuple[Any, Any]:
        x, y = data
        return jax.value_and_grad(self.loss)(params, self.model, x, y)


def gradient_descent(learning_rate: float) -> optax.GradientTransformation:
    """Plain gradient descent, ``theta <- theta - learning_rate * grad``, as an optax optimizer.

    Args:
        learning_rate: the step size, a number > 0.

    Returns:
        An ``optax.GradientTransformation`` with ``init`` and ``update``; ``update`` returns
        ``-learning_rate * grads`` in the structure of ``grads``.

    Example:
        >>> import optax
        >>> opt = gradient_descent(0.1)
        >>> state = opt.init({"w": 1.0})
        >>> updates, state = opt.update({"w": 2.0}, state)
        >>> round(float(optax.apply_updates({"w": 1.0}, updates)["w"]), 6)
        0.8
    """
    rate = check_positive(learning_rate, "learning_rate")

    def init(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        del params
        return jax.tree_util.tree_map(lambda g: -rate * g, grads), state

    return optax.GradientTransformation(init, update)


def _all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def _select(flag: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _step(state: _LoopState, data: Any, hyper: _Hyper, objective: Any, optimizer: Any):
    loss, grads = objective(state.params, state.t, data)
    active = (state.status == RUNNING) & (state.t < hyper.n_steps)
    first_loss = jnp.where(state.t == 0, loss, state.first_loss)
    exploded = (state.t > 0) & (loss > EXPLODE_FACTOR * jnp.maximum(first_loss, 1.0))
    bad = ~jnp.isfinite(loss) | ~_all_finite(grads) | exploded
    if optimizer is None:
        updates = jax.tree_util.tree_map(lambda g: -hyper.step_size * g, grads)
        opt_state = state.opt_state
    elif isinstance(optimizer, optax.GradientTransformationExtraArgs):
        # Line-search methods (optax.lbfgs) re-evaluate the objective along their direction;
        # transforms that take no extra arguments ignore them.
        updates, opt_state = optimizer.update(
            grads,
            state.opt_state,
            state.params,
            value=loss,
            grad=grads,
            value_fn=lambda p: objective(p, state.t, data)[0],
        )
    else:
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # Relative improvement for early stopping (tol <= 0 disables it).
    scale = jnp.maximum(jnp.abs(state.prev_loss), jnp.finfo(loss.dtype).tiny)
    small = (state.t > 0) & (hyper.tol > 0) & ((state.prev_loss - loss) / scale < hyper.tol)
    n_small = jnp.where(small, state.n_small + 1, 0)
    converged = n_small >= hyper.patience
    go = active & ~bad
    new_state = _LoopState(
        params=_select(go, params, state.params),
        opt_state=_select(go, opt_state, state.opt_state),
        last_good=_select(go, state.params, state.last_good),
        t=jnp.where(go, state.t + 1, state.t),
        status=jnp.where(
            active & bad, DIVERGED, jnp.where(go & converged, CONVERGED, state.status)
        ),
        first_loss=jnp.where(active, first_loss, state.first_loss),
        prev_loss=jnp.where(go, loss, state.prev_loss),
        n_small=jnp.where(go, n_small, state.n_small),
    )
    return new_state, loss


def _run_chunk_impl(state, data, hyper, *, objective, optimizer, chunk_len, block_len, record):
    def steps(carry, length):
        return jax.lax.scan(
            lambda s, _: _step(s, data, hyper, objective, optimizer), carry, None, length=length
        )

    if not record:
        state, losses = steps(state, chunk_len)
        return state, losses, None

    def block(carry, _):
        carry_out, losses = steps(carry, block_len)
        return carry_out, (losses, carry.params)

    state, (losses, path) = jax.lax.scan(block, state, None, length=chunk_len // block_len)
    return state, losses.reshape(-1), path


_run_chunk = jax.jit(
    _run_chunk_impl,
    static_argnames=("objective", "optimizer", "chunk_len", "block_len", "record"),
)


def _chunk_plan(n_steps: int, record_every: int, checkpoint_every: int | None) -> tuple[int, int]:
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
    return chunk, block


def estimate_curvature(
    loss: Callable[..., Any],
    theta: Any,
    model: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    *,
    n_iter: int = 100,
    seed: int = 0,
) -> float:
    """Estimate ``L``, the largest eigenvalue of the Hessian of ``loss`` w.r.t. ``theta``.

    Power iteration on Hessian-vector products (forward-over-reverse ``jax.jvp`` of
    ``jax.grad``): it never forms the Hessian, so it costs about ``n_iter`` gradient evaluations.
    Gradient descent with step size ``s`` is stable on the local quadratic model iff
    ``s < 2 / L``.

    Args:
        loss: ``loss(theta, model, x, y) -> scalar``.
        theta: parameters at which to evaluate the Hessian (any pytree).
        model: the model passed on to ``loss``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        n_iter: number of power iterations.
        seed: seed of the random start vector.

    Returns:
        The estimate of ``L`` (a lower bound that converges to ``L``), as a float.

    Example:
        >>> import numpy as np
        >>> from dl_workshop import linear_model, mseloss
        >>> x = np.linspace(-1, 1, 11)
        >>> round(estimate_curvature(mseloss, (0.0, 0.0), linear_model, x, 2 * x), 3)
        2.0
    """
    _check_loss_callable(loss, "loss")
    if not callable(model):
        raise TypeError(f"model must be a function model(theta, x); got {describe(model)}")
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    params = as_params(theta, "theta")
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    flat = flat.astype(jnp.result_type(float))

    def grad_flat(v):
        return jax.flatten_util.ravel_pytree(jax.grad(loss)(unravel(v), model, x, y))[0]

    @jax.jit
    def power(v0):
        def body(_, v):
            hv = jax.jvp(grad_flat, (flat,), (v,))[1]
            return hv / jnp.maximum(jnp.linalg.norm(hv), 1e-30)

        v = jax.lax.fori_loop(0, n_iter, body, v0)
        hv = jax.jvp(grad_flat, (flat,), (v,))[1]
        return jnp.vdot(v, hv)

    v0 = jax.random.normal(jax.random.key(seed), flat.shape, flat.dtype)
    v0 = v0 / jnp.linalg.norm(v0)
    return float(power(v0))


def _progress_bar(total: int, start: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", leave=False)


def _check_loss_callable(loss_fn: Any, name: str) -> None:
    if not callable(loss_fn):
        raise TypeError(f"{name} must be callable; got {describe(loss_fn)}")


def _abstract(tree: Any) -> tuple[Any, tuple[jax.ShapeDtypeStruct, ...]]:
    """``tree`` as a hashable (treedef, shapes and dtypes) pair."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(
        jax.ShapeDtypeStruct(np.shape(a), a.dtype if hasattr(a, "dtype") else np.result_type(a))
        for a in leaves
    )


def _check_structure(objective: Any, params: Any, data: Any) -> None:
    """Trace the objective once (no computation) to turn shape mismatches into one clear error.

    A trace that succeeded is remembered for the same objective, shapes and dtypes (as
    ``jax.jit`` remembers compiled code), so a repeated fit does not pay for it again.
    """
    key = (objective, _abstract(params), _abstract(data))
    try:
        hash(key)
    except TypeError:  # an unhashable model or loss: trace every time
        _trace_structure(objective, params, data)
        return
    _trace_structure_cached(*key)


@functools.lru_cache(maxsize=256)
def _trace_structure_cached(objective: Any, params: Any, data: Any) -> None:
    def tree(abstract: Any) -> Any:
        return jax.tree_util.tree_unflatten(abstract[0], abstract[1])

    _trace_structure(objective, tree(params), tree(data))


def _trace_structure(objective: Any, params: Any, data: Any) -> None:
    try:
        loss_shape, _ = jax.eval_shape(
            lambda p, d: objective(p, jnp.zeros((), jnp.int32), d), params, data
        )
    except (ValueError, TypeError) as exc:
        if _raised_by_us(exc):
            # JAX appends a note about its hidden frames to the message: keep our sentence.
            raise type(exc)(_first_line(exc)) from None
        shapes = jax.tree_util.tree_map(lambda a: tuple(a.shape), params)
        raise ValueError(
            f"the model and loss could not be evaluated on theta with shapes {shapes} and x of "
            f"shape {tuple(data[0].shape)}: {_first_line(exc)}"
        ) from exc
    except Exception as exc:
        shapes = jax.tree_util.tree_map(lambda a: tuple(a.shape), params)
        raise ValueError(
            f"the model and loss failed on theta with shapes {shapes}: "
            f"{type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    if loss_shape.shape != ():
        raise ValueError(f"loss must return a scalar; it returned shape {loss_shape.shape}")


def _raised_by_us(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a ``raise`` statement of this package (whose messages are
    clear). JAX hides its own frames, so an error from inside JAX (or a call with the wrong
    number of arguments) shows our call site as the innermost frame: hence the ``raise`` test."""
    import linecache

    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or "dl_workshop" not in tb.tb_frame.f_code.co_filename:
        return False
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
    return line.startswith("raise")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _initial_state(params: Any, optimizer: Any, dtype: Any) -> _LoopState:
    """The loop state before step 0 (also the template a checkpoint is restored into)."""
    opt_state = optimizer.init(params) if optimizer is not None else optax.EmptyState()
    zero = jnp.zeros((), dtype)
    return _LoopState(
        params=params,
        opt_state=opt_state,
        last_good=params,
        t=jnp.zeros((), jnp.int32),
        status=jnp.asarray(RUNNING, jnp.int32),
        first_loss=zero,
        prev_loss=zero,
        n_small=jnp.zeros((), jnp.int32),
    )


def _iter_chunks(n_steps: int, chunk: int, start: int) -> Iterator[int]:
    done = start
    while done < n_steps:
        yield done
        done += chunk


def fit(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    n_steps: int = 3000,
    step_size: float = 0.001,
    *,
    optimizer: optax.GradientTransformation | None = None,
    progress: bool | None = None,
    record_every: int = 0,
    tol: float | None = None,
    patience: int = 1,
    on_divergence: str = "raise",
    dtype: Any = None,
    objective: Callable[..., Any] | None = None,
    data: Any = None,
    callback: Callable[[_LoopState, np.ndarray, list[Any]], None] | None = None,
    checkpoint_every: int | None = None,
    initial_state: tuple[_LoopState, np.ndarray, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    batch_size: int | None = None,
    seed: int = 0,
    shuffle_window: int | None = None,
    fast_path: bool = True,
) -> FitResult:
    """Optimize ``theta`` to minimize ``loss(theta, model, x, y)``; return losses, path and status.

    The steps run compiled (``jax.jit`` over ``jax.lax.scan``), in chunks so that a progress bar
    can advance; there is no Python-level work per step.

    Args:
        theta: starting parameters, any pytree (dict, tuple, list, NamedTuple) of numbers or
            arrays that ``model`` accepts. It is not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``, e.g. :func:`~dl_workshop.mseloss`.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``; integers are cast to float.
        y: targets, shape ``(n,)`` or ``(n, d_out)``, same ``n`` as ``x``.
        n_steps: maximum number of steps, >= 1.
        step_size: learning rate of the built-in gradient descent, > 0 (ignored when
            ``optimizer`` is given: the optax optimizer carries its own).
        optimizer: any ``optax.GradientTransformation`` (e.g. ``optax.adam(0.1)``); ``None`` means
            plain gradient descent with ``step_size``.
        progress: ``True`` always shows a tqdm progress bar, ``False`` never, ``None`` only when
            the run is estimated to take more than two seconds.
        record_every: record the parameters every this many steps into ``FitResult.path``
            (``0``: do not record; ``1``: every step).
        tol: stop when the relative improvement ``(prev - loss) / |prev|`` stays below ``tol``
            for ``patience`` consecutive steps; ``None`` runs all ``n_steps``.
        patience: consecutive steps below ``tol`` needed to stop, >= 1.
        on_divergence: ``"raise"`` a :class:`DivergenceError`, or ``"warn"`` and return the
            result up to the last good step.
        dtype: ``"float32"`` or ``"float64"``; ``None`` uses JAX's default (float32 unless
            x64 is enabled). float64 is enabled for this call only.
        objective: advanced: ``(params, t, data) -> (loss, grads)`` replacing the full-batch
            ``value_and_grad(loss)``; used by the fast and minibatch paths.
        data: advanced: the data pytree passed to ``objective`` (default ``(x, y)``).
        callback: advanced: called on the host after each chunk with the loop state, the
            losses so far and the list of recorded path chunks (checkpointing uses it).
        checkpoint_every: write the checkpoint every this many steps (default: about 20
            checkpoints per run); without ``checkpoint``, the chunk length, so that callbacks
            fall on multiples of it.
        initial_state: advanced: ``(state, losses, path_parts)`` to resume from.
        checkpoint: path of a checkpoint file (``.npz``), written atomically every
            ``checkpoint_every`` steps and when the run is interrupted (Ctrl-C); see
            :mod:`dl_workshop.checkpoint`.
        resume: with ``checkpoint``, continue from that file if it exists (it must come from the
            same problem and settings, else ``ValueError``); a resumed run gives the same
            parameters and losses as an uninterrupted one. ``False`` starts over.
        batch_size: minibatch SGD: each step uses ``batch_size`` rows (``None``: all rows).
            Rows are reshuffled every epoch from ``seed``; the batch of step ``t`` is picked
            inside the compiled loop, so runs are deterministic and resumable. The order is
            defined in :mod:`dl_workshop.streaming` (``fit_stream`` reproduces it from files).
        seed: seed of the minibatch shuffling, an integer >= 0.
        shuffle_window: shuffle within consecutive windows of this many rows instead of across
            all rows (what streaming from a file with ``chunk_size=shuffle_window`` does).
        fast_path: with ``model=linear_model`` and ``loss=mseloss`` (full batch), optimize on
            the data's sufficient statistics (:mod:`dl_workshop.fastpath`): the same iterates
            and losses to float tolerance, each step ``O(d²)`` instead of ``O(n d)``. ``False``
            always runs the general path.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError, TypeError: for invalid arguments, naming the argument.
        DivergenceError: when the loss or gradient becomes non-finite or explodes (with
            ``on_divergence="raise"``).

    Example:
        >>> from dl_workshop import fit, linear_model, mseloss
        >>> from dl_workshop.data import x, make_y
        >>> result = fit({"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0),
        ...              n_steps=3000, step_size=0.05, progress=False)
        >>> round(float(result.theta["w"]), 1), round(float(result.theta["b"]), 1)
        (2.0, 20.1)
    """
    if checkpoint is not None or resume:
        from dl_workshop.checkpoint import fit_with_checkpoint

        return fit_with_checkpoint(fit, **_fit_arguments(locals()))
    target = float_dtype(dtype)
    if target == np.dtype(np.float64) and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return fit(
                theta,
                model,
                loss,
                x,
                y,
                n_steps,
                step_size,
                optimizer=optimizer,
                progress=progress,
                record_every=record_every,
                tol=tol,
                patience=patience,
                on_divergence=on_divergence,
                dtype=dtype,
                objective=objective,
                data=data,
                callback=callback,
                checkpoint_every=checkpoint_every,
                initial_state=initial_state,
                batch_size=batch_size,
                seed=seed,
                shuffle_window=shuffle_window,
                fast_path=fast_path,
            )
    if not callable(model):
        raise TypeError(f"model must be a function model(theta, x); got {describe(model)}")
    _check_loss_callable(loss, "loss")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    step_size = check_positive(step_size, "step_size")
    record_every = check_int(record_every, "record_every", minimum=0)
    patience = check_int(patience, "patience", minimum=1)
    tol_value = 0.0 if tol is None else check_positive(tol, "tol")
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"on_divergence must be 'raise' or 'warn'; got {on_divergence!r}")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-2)) or None; "
            f"got {describe(optimizer)}"
        )
    if progress not in (None, True, False):
        raise TypeError(f"progress must be True, False or None; got {describe(progress)}")
    if checkpoint_every is not None:
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)

    params = as_params(theta, "theta", dtype=target)
    if data is None:
        # Host arrays stay NumPy until the path is chosen: the fast path reads them once with
        # BLAS and never needs a copy inside JAX.
        # The finite check comes after the path is chosen: the fast path's statistics are
        # finite only for finite data, so it needs no separate pass over the data.
        x_arr = as_data(x, "x", dtype=target, host=True, check_finite=False)
        y_arr = as_data(y, "y", dtype=target, host=True, check_finite=False)
        check_same_length(x_arr, y_arr)
        data = unchecked = (x_arr, y_arr)
    else:
        unchecked = None
    if objective is None:
        objective = FullBatchObjective(model, loss)
        _check_structure(objective, params, data)
    # Divergence advice (the curvature estimate) needs the full-batch problem.
    full_objective, full_data = objective, data
    if batch_size is not None:
        from dl_workshop.streaming import minibatch_problem

        objective, data = minibatch_problem(
            objective, data, batch_size=batch_size, seed=seed, shuffle_window=shuffle_window
        )
    elif isinstance(objective, FullBatchObjective):
        from dl_workshop.fastpath import fast_path_problem

        objective, data = fast_path_problem(objective, params, data, target, enabled=fast_path)
        if objective is not full_objective:
            unchecked = None  # only finite data gives the (finite) fast-path statistics
    if unchecked is not None:
        check_finite_data(unchecked[0], "x")
        check_finite_data(unchecked[1], "y")
    # Whatever the chosen path steps over goes into JAX once (a no-op for arrays already there).
    loop_device = _host_loop_device(objective, data)
    if loop_device is None:
        data = jax.tree_util.tree_map(jnp.asarray, data)
    else:
        data = jax.device_put(data, loop_device)

    chunk, block = _chunk_plan(n_steps, record_every, checkpoint_every)
    hyper = _Hyper(
        step_size=jnp.asarray(step_size, target),
        n_steps=jnp.asarray(n_steps, jnp.int32),
        tol=jnp.asarray(tol_value, target),
        patience=jnp.asarray(patience, jnp.int32),
    )
    if initial_state is not None:
        state, previous_losses, path_parts = initial_state
        loss_parts = [np.asarray(previous_losses)]
        path_parts = list(path_parts)
    else:
        state = _initial_state(params, optimizer, target)
        loss_parts, path_parts = [], []
    if loop_device is not None:
        # Compiled code runs on the device of its (committed) inputs.
        state, hyper = jax.device_put((state, hyper), loop_device)

    start = int(state.t)
    bar = _progress_bar(n_steps, start) if progress else None
    interrupted = False
    chunk_times: list[float] = []
    try:
        for done in _iter_chunks(n_steps, chunk, start):
            if int(state.status) != RUNNING:
                break
            before = int(state.t)
            t0 = time.perf_counter()
            state, losses, path = _run_chunk(
                state,
                data,
                hyper,
                objective=objective,
                optimizer=optimizer,
                chunk_len=chunk,
                block_len=block,
                record=bool(record_every),
            )
            ran = int(state.t) - before
            loss_parts.append(np.asarray(losses)[:ran])
            if record_every:
                path_parts.append(path)
            chunk_times.append(time.perf_counter() - t0)
            if callback is not None:
                callback(
                    state, np.concatenate(loss_parts) if loss_parts else np.zeros(0), path_parts
                )
            remaining_chunks = (n_steps - int(state.t)) / chunk
            if bar is not None:
                bar.update(int(state.t) - bar.n)
            elif (
                progress is None
                and len(chunk_times) >= 2
                and int(state.status) == RUNNING
                # The first chunk includes compilation, so estimate from the latest one.
                and chunk_times[-1] * remaining_chunks > PROGRESS_THRESHOLD_S
            ):
                bar = _progress_bar(n_steps, int(state.t))
            del done
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn(
            f"interrupted by the user after {int(state.t)} of {n_steps} steps; returning the "
            "parameters and losses so far",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        if bar is not None:
            bar.update(int(state.t) - bar.n)
            bar.close()

    status_code = int(state.status)
    n_run = int(state.t)
    losses = np.concatenate(loss_parts) if loss_parts else np.zeros(0, dtype=target)
    losses = losses[:n_run]
    final = state.last_good if status_code == DIVERGED else state.params
    path = path_steps = None
    if record_every:
        steps = np.arange(0, n_run, record_every)
        flat_path = (
            jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts), *path_parts)
            if path_parts
            else None
        )
        if flat_path is not None:
            path = jax.tree_util.tree_map(
                lambda p, f: jnp.concatenate([p[: len(steps)], f[None]]), flat_path, final
            )
        else:
            path = jax.tree_util.tree_map(lambda f: f[None], final)
            steps = np.zeros(0, dtype=int)
        path_steps = np.append(steps, n_run)
    if loop_device is not None:
        # Back to the default device, uncommitted, like every other result of fit.
        final, path = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)), (final, path))
    status = "interrupted" if interrupted else _STATUS_NAMES[status_code]
    result = FitResult(final, losses, n_run, status, path, path_steps)
    if status_code == DIVERGED and not interrupted:
        _report_divergence(
            result,
            loss,
            model,
            full_data,
            full_objective,
            params,
            step_size,
            optimizer,
            on_divergence,
        )
    return result


#: Largest ``d * d * k`` of a fast-path problem whose steps run on the host CPU even when the
#: default device is an accelerator.
_HOST_LOOP_MAX_SIZE = 2**16


def _host_loop_device(objective: Any, data: Any) -> Any:
    """The CPU device when the steps should run there instead of on the default accelerator.

    The fast path's problem is a few ``d x d`` numbers; on a GPU each of its steps costs a
    few kernel launches (3 000 steps of the lesson took 74 ms on an H200) where the host CPU
    needs about 3 µs a step. ``None`` means: run where the data is.
    """
    from dl_workshop.fastpath import LinearMSEObjective

    if not isinstance(objective, LinearMSEObjective) or jax.default_backend() == "cpu":
        return None
    if data.cov.size * data.w_star.shape[1] > _HOST_LOOP_MAX_SIZE:
        return None
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:  # no CPU backend in this process
        return None


def _nonfinite_at_start(objective: Any, params: Any, data: Any) -> str:
    """Which of loss and gradient is non-finite at ``params`` (a phrase for the message)."""
    try:
        loss, grads = objective(params, jnp.zeros((), jnp.int32), data)
        loss_ok, grads_ok = bool(jnp.isfinite(loss)), bool(_all_finite(grads))
    except Exception:  # the diagnosis is advice; never let it hide the divergence itself
        return "the loss or its gradient is not finite"
    if not loss_ok:
        return f"the loss is {float(loss)}"
    if not grads_ok:
        return f"the loss is finite ({float(loss):.4g}) but its gradient has NaN or inf"
    return "the loss or its gradient is not finite"


def _fit_arguments(scope: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a :func:`fit` call, read from its ``locals()`` at entry."""
    import inspect

    return {name: scope[name] for name in inspect.signature(fit).parameters}


def _report_divergence(
    result, loss, model, data, objective, params, step_size, optimizer, on_divergence
) -> None:
    step = result.n_steps
    curvature = None
    if isinstance(objective, FullBatchObjective) and step > 0:
        try:
            curvature = estimate_curvature(loss, params, model, *data)
        except Exception:  # the estimate is advice; never let it hide the divergence itself
            curvature = None
    last = f"{result.losses[-1]:.4g}" if len(result.losses) else "n/a"
    what = "step_size" if optimizer is None else "the optimizer's learning rate"
    used = f"step_size={step_size:g}" if optimizer is None else "the optax optimizer given"
    message = (
        f"optimization diverged at step {step}: the loss or its gradient became non-finite or "
        f"exploded (last finite loss {last}) with {used}."
    )
    max_stable = suggested = None
    if step == 0:
        # No update has been applied yet, so no step size can be the cause.
        message = (
            f"optimization diverged at step 0: {_nonfinite_at_start(objective, params, data)} at "
            "the starting parameters, before any update; check theta, the model and the loss "
            "(e.g. a log or sqrt of values <= 0, or a division by zero)."
        )
    elif curvature is not None and np.isfinite(curvature) and curvature > 0:
        max_stable, suggested = 2.0 / curvature, 1.0 / curvature
        advice = (
            f"use {what} = {suggested:.4g} (1/L)"
            if optimizer is None
            else f"use learning_rate = {suggested:.4g} (1/L) with optax.sgd, or a smaller "
            "learning rate with adaptive optimizers"
        )
        message += (
            f" The largest stable step size for gradient descent here is 2/L = {max_stable:.4g}"
            f" (L = {curvature:.4g}, the largest eigenvalue of the loss's Hessian); {advice}, "
            "or standardize the features."
        )
    else:
        message += f" Use a smaller {what}, or standardize the features."
    if on_divergence == "warn":
        warnings.warn(message, DivergenceWarning, stacklevel=3)
        return
    raise DivergenceError(
        message,
        step=step,
        suggested_step_size=suggested,
        max_stable_step_size=max_stable,
        result=result,
    )


def model_optimization_loop(
    theta: Any,
    model: Callable[[Any, Any], Any],
    loss: Callable[..., Any],
    x: Any,
    y: Any,
    n_steps: int = 3000,
    step_size: float = 0.001,
    *,
    optimizer: optax.GradientTransformation | None = None,
    progress: bool | None = None,
    **options: Any,
) -> tuple[np.ndarray, Any]:
    """The lesson's loop: optimize ``theta`` for ``n_steps`` and record the loss at every step.

    A thin wrapper of :func:`fit` that returns the lesson's ``(losses, theta)``; every keyword
    of :func:`fit` (``tol``, ``record_every``, ``dtype``, ...) is accepted.

    Args:
        theta: starting parameters (dict, tuple/list or NamedTuple); not modified.
        model: ``model(theta, x) -> predictions``.
        loss: ``loss(theta, model, x, y) -> scalar``.
        x: inputs, shape ``(n,)`` or ``(n, d_in)``.
        y: targets, shape ``(n,)`` or ``(n, d_out)``.
        n_steps: number of steps, >= 1.
        step_size: gradient-descent step size, > 0.
        optimizer: an optax optimizer to use instead of plain gradient descent.
        progress: progress bar: ``True``, ``False`` or ``None`` (only for long runs).
        **options: further keyword arguments of :func:`fit`.

    Returns:
        ``(losses, theta)``: a NumPy array of shape ``(n_steps,)`` with the loss of each step,
        and the optimized parameters in the container type of the ``theta`` given.

    Example:
        >>> from dl_workshop import linear_model, mseloss, model_optimization_loop
        >>> from dl_workshop.data import x, make_y
        >>> losses, theta = model_optimization_loop(
        ...     {"w": 0.0, "b": 0.0}, linear_model, mseloss, x, make_y(x, seed=0), n_steps=3000)
        >>> losses.shape
        (3000,)
    """
    result = fit(
        theta,
        model,
        loss,
        x,
        y,
        n_steps,
        step_size,
        optimizer=optimizer,
        progress=progress,
        **options,
    )
    return result.losses, result.theta
