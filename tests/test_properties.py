"""Property-based tests: whatever the shapes, dtypes, containers and step sizes, ``fit`` returns
finite results or raises one of its documented errors, never an error from inside JAX/XLA and
never silent NaN."""

import traceback

import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dl_workshop import DivergenceError, LinearParams, fit, linear_model, mseloss

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CONTAINERS = {
    "dict": lambda w, b: {"w": w, "b": b},
    "tuple": lambda w, b: (w, b),
    "list": lambda w, b: [w, b],
    "LinearParams": LinearParams,
}
DTYPES = ["int32", "int64", "float32", "float64", "list"]
OPTIMIZERS = {"gd": None, "sgd-momentum": optax.sgd(0.01, momentum=0.9), "adam": optax.adam(0.1)}


def raised_by_dl_workshop(exc: BaseException) -> bool:
    """Whether the innermost frame that raised ``exc`` is this package's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "dl_workshop" in frames[-1].filename


@st.composite
def problems(draw):
    # Few distinct sizes: each new shape compiles the loop again (~0.3 s).
    n = draw(st.sampled_from([1, 5, 17]))
    d_in = draw(st.sampled_from([None, 1, 3]))
    d_out = draw(st.sampled_from([None, 2])) if d_in is not None else None
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3, 1e20]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x_shape = (n,) if d_in is None else (n, d_in)
    y_shape = (n,) if d_out is None else (n, d_out)
    x = rng.normal(size=x_shape) * scale
    y = rng.normal(size=y_shape) * scale
    dtype = draw(st.sampled_from(DTYPES))
    if dtype == "list":
        x, y = x.tolist(), y.tolist()
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow float32: inf
            x, y = x.astype(dtype), y.astype(dtype)
    if d_in is None:
        w, b = float(rng.normal()), float(rng.normal())
    elif d_out is None:
        w, b = rng.normal(size=d_in), float(rng.normal())
    else:
        w, b = rng.normal(size=(d_in, d_out)), rng.normal(size=d_out)
    container = draw(st.sampled_from(sorted(CONTAINERS)))
    return CONTAINERS[container](w, b), x, y


@settings(SETTINGS, max_examples=12)
@given(
    problem=problems(),
    n_steps=st.sampled_from([1, 20]),
    step_size=st.floats(1e-6, 1e3),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    tol=st.sampled_from([None, 1e-4]),
)
def test_fit_returns_finite_results_or_a_documented_error(
    problem, n_steps, step_size, optimizer, tol
):
    theta, x, y = problem
    before = repr(theta)
    try:
        result = fit(
            theta,
            linear_model,
            mseloss,
            x,
            y,
            n_steps,
            step_size,
            optimizer=OPTIMIZERS[optimizer],
            tol=tol,
            progress=False,
        )
    except DivergenceError as exc:
        # Documented: the step, and the run up to the last finite parameters.
        assert 0 <= exc.step <= n_steps and f"diverged at step {exc.step}" in str(exc)
        result = exc.result
        assert result.n_steps == exc.step
    assert repr(theta) == before  # the caller's parameters are not modified
    assert type(result.theta) is type(theta)
    assert len(result.losses) == result.n_steps <= n_steps
    assert np.all(np.isfinite(result.losses))
    for leaf in result.theta.values() if isinstance(theta, dict) else result.theta:
        assert np.all(np.isfinite(np.asarray(leaf)))
    if result.status == "max_steps":
        assert result.n_steps == n_steps


JUNK = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.booleans(),
    st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10),
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.lists(st.text(max_size=2), min_size=1, max_size=4),
    st.just([[1.0, 2.0], [3.0]]),  # ragged
    st.just({"a": 1}),
    st.just(np.zeros((2, 2, 2))),
    st.just(np.array([], dtype=float)),
    st.just(np.array([1.0, np.nan, 2.0])),
    st.just(np.array([1 + 2j, 3j])),
    st.just(object()),
)


@SETTINGS
@given(where=st.sampled_from(["x", "y", "w", "b", "theta"]), junk=JUNK)
def test_junk_anywhere_gets_a_clear_error_from_dl_workshop(where, junk):
    x, y = np.linspace(0, 1, 4), np.linspace(1, 2, 4)
    theta = {"w": 0.5, "b": 0.0}
    if where in ("w", "b"):
        theta[where] = junk
    args = {"x": x, "y": y, "theta": theta}
    if where in args and where not in ("w", "b"):
        args[where] = junk
    with pytest.raises((TypeError, ValueError)) as info:
        fit(args["theta"], linear_model, mseloss, args["x"], args["y"], 5, 0.1, progress=False)
    message = str(info.value)
    # One sentence naming the argument, from our own checks (never JAX's internals).
    name = "theta" if where in ("w", "b", "theta") else where
    assert name in message and "\n" not in message.strip(), message
    assert raised_by_dl_workshop(info.value), message


@SETTINGS
@given(
    hyper=st.sampled_from(["n_steps", "step_size", "tol", "patience", "record_every"]),
    value=st.one_of(
        st.integers(-5, 0),
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 < v < 1e300),
        st.text(max_size=3),
        st.booleans(),
        st.none(),
        st.just([1, 2]),
    ),
)
def test_out_of_range_hyperparameters_are_named(hyper, value):
    if hyper == "record_every" and (value == 0 or value is None):
        return  # 0 disables recording: valid
    if hyper == "tol" and value is None:
        return  # None disables early stopping: valid
    options = {"n_steps": 5, "step_size": 0.1, hyper: value}
    with pytest.raises((TypeError, ValueError), match=rf"^{hyper} must be "):
        fit((0.0, 0.0), linear_model, mseloss, [1.0, 2.0], [3.0, 5.0], progress=False, **options)
