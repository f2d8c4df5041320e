"""The linear model y = x·w + b and its parameters theta = (w, b)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dl_workshop._validation import as_array, check_int, describe, unpack_linear_params
from dl_workshop.lesson.sampling import generator

__all__ = ["LinearParams", "initialize_linear_params", "linear_model"]


class LinearParams(NamedTuple):
    """Parameters of a linear model, a pytree that works everywhere a dict or tuple does.

    Attributes:
        w: weights, a scalar, shape ``(d_in,)`` or ``(d_in, d_out)``.
        b: bias, a scalar or shape ``(d_out,)``.

    Example:
        >>> theta = LinearParams(w=2.0, b=20.0)
        >>> theta.w
        2.0
    """

    w: Any
    b: Any


def linear_model(theta: Any, x: Any) -> jax.Array:
    """Predict with a linear model: ``w * x + b`` (scalar form) or ``x @ w + b`` (matrix form).

    Pure and differentiable: ``jax.grad`` and ``jax.jit`` work through it.

    Args:
        theta: the parameters ``(w, b)`` as a dict ``{"w": w, "b": b}``, a 2-tuple or list
            ``(w, b)`` or a NamedTuple with fields ``w`` and ``b`` (e.g. :class:`LinearParams`).
            Scalar form: ``w`` and ``b`` scalars. Matrix form: ``w`` of shape ``(d_in, d_out)``
            or ``(d_in,)``, ``b`` of shape ``(d_out,)`` or a scalar.
        x: inputs, shape ``(n,)`` for scalar ``w``, or ``(n, d_in)`` in matrix form (a 1-D ``x``
            with ``w`` of shape ``(1, d_out)`` or ``(1,)`` is read as one input column).

    Returns:
        Predictions of shape ``(n,)`` (scalar form, or ``w`` of shape ``(d_in,)``) or
        ``(n, d_out)`` (``w`` of shape ``(d_in, d_out)``).

    Raises:
        ValueError: if ``theta`` lacks ``w`` or ``b`` or the shapes of ``x``, ``w`` and ``b``
            do not fit together.
        TypeError: if ``theta`` is not one of the accepted containers.

    Example:
        >>> import numpy as np
        >>> linear_model({"w": 2.0, "b": 1.0}, np.array([0.0, 1.0, 2.0]))
        Array([1., 3., 5.], dtype=float32)
    """
    w, b = unpack_linear_params(theta)
    w = as_array(w, "theta's w")
    b = as_array(b, "theta's b")
    x = as_array(x, "x")
    if w.ndim == 0:
        prediction = w * x
    else:
        if w.ndim > 2:
            raise ValueError(f"theta's w must have at most 2 dimensions; got shape {w.shape}")
        if x.ndim == 1 and w.shape[0] == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ValueError(
                f"x must have shape (n, {w.shape[0]}) to match w of shape {w.shape} "
                f"(matrix form: x @ w); got x of shape {x.shape}"
            )
        prediction = jnp.matmul(x, w, precision="highest")
    n_outputs = prediction.shape[1] if prediction.ndim == 2 else 1
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] not in (1, n_outputs)):
        raise ValueError(
            f"theta's b must be a scalar or have shape ({n_outputs},) to match predictions of "
            f"shape {prediction.shape}; got b of shape {b.shape}"
        )
    if prediction.ndim == 1 and b.ndim == 1:
        b = b[0]
    return prediction + b


def initialize_linear_params(
    n_inputs: int | None = None,
    n_outputs: int | None = None,
    *,
    seed: int | None = None,
    key: jax.Array | None = None,
) -> dict[str, Any]:
    """Draw starting values for ``w`` and ``b`` from a standard normal distribution.

    Args:
        n_inputs: number of input features ``d_in``. ``None`` (and ``n_outputs=None``) gives the
            lesson's scalar form: ``w`` and ``b`` are single floats.
        n_outputs: number of outputs ``d_out``. ``None`` with ``n_inputs`` given means one
            output: ``w`` of shape ``(n_inputs,)`` and a scalar ``b``.
        seed: seed for NumPy's generator; the same seed gives the same parameters. Without
            ``seed`` and ``key`` the values come from NumPy's global generator, so
            ``np.random.seed(...)`` (the lesson's ``npr.seed``) makes them repeatable.
        key: a JAX PRNG key (``jax.random.key(0)``), used instead of ``seed``.

    Returns:
        ``{"w": w, "b": b}``: floats (scalar form), or ``w`` of shape ``(n_inputs, n_outputs)``
        and ``b`` of shape ``(n_outputs,)``; ``w`` of shape ``(n_inputs,)`` and scalar ``b``
        when only ``n_inputs`` is given.

    Example:
        >>> theta = initialize_linear_params(seed=0)
        >>> sorted(theta)
        ['b', 'w']
        >>> initialize_linear_params(3, 2, seed=0)["w"].shape
        (3, 2)
    """
    if seed is not None and key is not None:
        raise ValueError(f"pass either seed or key, not both; got seed={seed!r} and a key")
    if n_inputs is None and n_outputs is not None:
        raise ValueError(
            f"n_inputs is required when n_outputs is given; got n_inputs=None, "
            f"n_outputs={n_outputs!r}"
        )
    if n_inputs is None:
        w_shape: tuple[int, ...] = ()
        b_shape: tuple[int, ...] = ()
    else:
        d_in = check_int(n_inputs, "n_inputs", minimum=1)
        if n_outputs is None:
            w_shape, b_shape = (d_in,), ()
        else:
            d_out = check_int(n_outputs, "n_outputs", minimum=1)
            w_shape, b_shape = (d_in, d_out), (d_out,)
    if key is not None:
        try:
            w_key, b_key = jax.random.split(key)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"key must be a JAX PRNG key such as jax.random.key(0); got {describe(key)}"
            ) from exc
        w = np.asarray(jax.random.normal(w_key, w_shape))
        b = np.asarray(jax.random.normal(b_key, b_shape))
    else:
        rng = generator(seed)
        w = rng.normal(size=w_shape)
        b = rng.normal(size=b_shape)
    if not w_shape:
        return {"w": float(w), "b": float(b)}
    return {"w": w, "b": b if b_shape else float(b)}
