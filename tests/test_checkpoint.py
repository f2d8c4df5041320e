"""Checkpoint and resume: a run cut short and resumed equals an uninterrupted one, bit for bit."""

import contextlib
import os

import numpy as np
import optax
import pytest

import dl_workshop._version
import dl_workshop.fitting.solver
from dl_workshop import (
    DivergenceError,
    LinearParams,
    fit,
    linear_model,
    mseloss,
    save_params,
)
from dl_workshop.fitting.checkpoint import load_checkpoint
from dl_workshop.lesson.data import make_y, x

Y = make_y(x, seed=0)
N_STEPS = 600
EVERY = 100


class CrashError(Exception):
    """Stands in for a crash after some chunks (the checkpoint on disk is all that survives)."""


def crash_after(n_chunks, error=CrashError):
    calls = []

    def callback(state, losses, path_parts):
        calls.append(int(state.t))
        if len(calls) == n_chunks:
            raise error()

    return callback


@contextlib.contextmanager
def after_each_chunk(callback):
    """Call ``callback(state, losses, path_parts)`` after every compiled chunk of a fit (after
    the checkpoint is written), by wrapping the engine's runner as the solver calls it."""
    original = dl_workshop.fitting.solver.run_loop

    def wrapped(*args, callback=None, **kwargs):
        def both(state, losses, path_parts):
            if callback is not None:
                callback(state, losses, path_parts)
            extra(state, losses, path_parts)

        return original(*args, callback=both, **kwargs)

    extra = callback
    dl_workshop.fitting.solver.run_loop = wrapped
    try:
        yield
    finally:
        dl_workshop.fitting.solver.run_loop = original


def fit_observed(*args, callback=None, **kwargs):
    """``fit`` with ``callback`` called after every chunk (None: plain ``fit``)."""
    if callback is None:
        return fit(*args, **kwargs)
    with after_each_chunk(callback):
        return fit(*args, **kwargs)


def run(theta=None, path=None, callback=None, **options):
    # The same chunk length with and without a checkpoint, so the tests share compiled code.
    settings = {"n_steps": N_STEPS, "step_size": 0.01, "progress": False, "checkpoint_every": EVERY}
    settings.update(options)
    if path is not None:
        settings["checkpoint"] = path
    theta = {"w": 0.0, "b": 0.0} if theta is None else theta
    return fit_observed(theta, linear_model, mseloss, x, Y, callback=callback, **settings)


def assert_same_result(a, b):
    assert a.status == b.status and a.n_steps == b.n_steps
    np.testing.assert_array_equal(a.losses, b.losses)
    for leaf_a, leaf_b in zip(a.theta, b.theta, strict=True):
        key_a = a.theta[leaf_a] if isinstance(a.theta, dict) else leaf_a
        key_b = b.theta[leaf_b] if isinstance(b.theta, dict) else leaf_b
        assert np.asarray(key_a).tobytes() == np.asarray(key_b).tobytes()
    if a.path is not None:
        np.testing.assert_array_equal(a.path_steps, b.path_steps)
        for pa, pb in zip(a.path.values(), b.path.values(), strict=True):
            np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"optimizer": optax.adam(0.05), "record_every": 7},
        {"tol": 1e-6, "patience": 2, "n_steps": 5000, "record_every": 50},
        {"dtype": "float64", "optimizer": optax.sgd(0.01, momentum=0.9), "batch_size": 16},
    ],
    ids=["gd", "adam+path", "tol", "float64+momentum+minibatch"],
)
def test_crash_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, options):
    path = tmp_path / "run.npz"
    uninterrupted = run(**options)
    with pytest.raises(CrashError):
        run(path=path, callback=crash_after(2), **options)
    saved = load_checkpoint(path)
    # With a recorded path, the interval is rounded down to a multiple of record_every.
    every = EVERY - EVERY % options.get("record_every", 1)
    assert saved.step == 2 * every and saved.status == "running"
    np.testing.assert_array_equal(saved.losses, uninterrupted.losses[: 2 * every])
    resumed = run(path=path, resume=True, **options)
    assert_same_result(resumed, uninterrupted)
    if not options:  # also equal to a run without checkpoints' chunking
        assert_same_result(resumed, run(checkpoint_every=None))
    # No temporary files are left next to the checkpoint (writes are write-then-rename).
    assert os.listdir(tmp_path) == ["run.npz"]


def test_resume_keeps_the_container_type(tmp_path):
    theta = LinearParams(0.0, 0.0)
    path = tmp_path / "run.npz"
    with pytest.raises(CrashError):
        run(theta, path=path, callback=crash_after(1))
    assert type(load_checkpoint(path).theta) is type(theta)
    resumed = run(theta, path=path, resume=True)
    assert type(resumed.theta) is type(theta)
    np.testing.assert_array_equal(resumed.losses, run(theta).losses)


def test_ctrl_c_saves_the_latest_state_and_returns_what_it_has(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.warns(
        RuntimeWarning, match=r"interrupted by the user after 300 of 600 steps; saved"
    ):
        partial = run(path=path, callback=crash_after(3, KeyboardInterrupt))
    assert partial.status == "interrupted" and partial.n_steps == 3 * EVERY
    assert load_checkpoint(path).step == 3 * EVERY
    resumed = run(path=path, resume=True)
    assert_same_result(resumed, run())


def test_resume_without_a_file_starts_fresh_and_a_finished_run_resumes_to_itself(tmp_path):
    path = tmp_path / "run.npz"
    first = run(path=path, resume=True)
    info = load_checkpoint(path)
    assert info.status == "finished" and info.step == N_STEPS
    assert float(info.theta["w"]) == float(first.theta["w"])
    np.testing.assert_array_equal(info.losses, first.losses)
    calls = []
    again = run(path=path, resume=True, callback=lambda *args: calls.append(args))
    assert calls == []  # nothing left to run
    assert_same_result(again, first)


def test_default_interval_writes_about_twenty_checkpoints(tmp_path):
    seen = []
    fit_observed(
        (0.0, 0.0),
        linear_model,
        mseloss,
        x,
        Y,
        1000,
        0.01,
        progress=False,
        checkpoint=tmp_path / "run.npz",
        callback=lambda state, losses, path: seen.append(int(state.t)),
    )
    assert seen == list(range(50, 1001, 50))


def test_a_diverged_run_checkpoints_its_last_finite_parameters(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(DivergenceError) as info:
        run(path=path, step_size=1.0)
    saved = load_checkpoint(path)
    assert saved.status == "diverged" and saved.step == info.value.step
    assert float(saved.theta["w"]) == float(info.value.result.theta["w"])
    # Resuming replays the same divergence rather than continuing from non-finite numbers.
    with pytest.raises(DivergenceError, match=f"diverged at step {info.value.step}"):
        run(path=path, step_size=1.0, resume=True)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_steps": 700}, r"n_steps: checkpoint 600, this run 700"),
        ({"step_size": 0.02}, r"step_size: checkpoint 0.01, this run 0.02"),
        ({"optimizer": optax.adam(0.05)}, r"optimizer: checkpoint 'built-in gradient descent'"),
        ({"dtype": "float64"}, r"dtype: checkpoint 'float32', this run 'float64'"),
        ({"tol": 1e-3}, r"tol: checkpoint None, this run 0.001"),
        ({"theta": {"w": np.zeros(1), "b": 0.0}}, r"theta_shapes: checkpoint \[\[\], \[\]\]"),
        ({"theta": (0.0, 0.0)}, r"theta: checkpoint"),
        ({"y": Y + 1.0}, r"the data \(x, y\) differ"),
        ({"loss": lambda t, m, x, y: mseloss(t, m, x, y)}, r"loss: checkpoint 'dl_workshop"),
    ],
)
def test_resuming_a_checkpoint_from_another_run_is_refused(tmp_path, change, match):
    path = tmp_path / "run.npz"
    with pytest.raises(CrashError):
        run(path=path, callback=crash_after(1))
    before = path.read_bytes()
    settings = {"n_steps": N_STEPS, "step_size": 0.01, "progress": False}
    args = {"theta": {"w": 0.0, "b": 0.0}, "loss": mseloss, "y": Y}
    for key, value in change.items():
        (args if key in args else settings)[key] = value
    with pytest.raises(ValueError, match=r"cannot resume from .*different run .*" + match):
        fit(
            args["theta"],
            linear_model,
            args["loss"],
            x,
            args["y"],
            checkpoint=path,
            resume=True,
            **settings,
        )
    assert path.read_bytes() == before  # the refused checkpoint is left alone


def test_another_learning_rate_of_the_same_optax_optimizer_is_refused(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(CrashError):
        run(path=path, optimizer=optax.adam(0.05), callback=crash_after(1))
    with pytest.raises(ValueError, match=r"optimizer: it gives other updates.*learning rate"):
        run(path=path, optimizer=optax.adam(0.1), resume=True)
    # The same settings in a new optimizer object resume fine.
    assert run(path=path, optimizer=optax.adam(0.05), resume=True).n_steps == N_STEPS


def test_a_checkpoint_from_another_version_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    with pytest.raises(CrashError):
        run(path=path, callback=crash_after(1))
    monkeypatch.setattr(dl_workshop._version, "__version__", "99.0")
    with pytest.raises(ValueError, match=r"written by dl-workshop .*, this is 99.0; pass resume"):
        run(path=path, resume=True)


def test_corrupted_truncated_or_foreign_checkpoints_give_one_clear_error(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(CrashError):
        run(path=path, callback=crash_after(1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read .* corrupted or truncated"):
        run(path=path, resume=True)
    with pytest.raises(ValueError, match=r"corrupted or truncated"):
        load_checkpoint(path)
    params = save_params(tmp_path / "params.npz", {"w": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match=r"holds a 'params', not a 'checkpoint'"):
        run(path=params, resume=True)
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_checkpoint(tmp_path / "missing.npz")


def test_resume_needs_a_checkpoint_and_checkpoint_needs_a_file_path(tmp_path):
    with pytest.raises(ValueError, match=r"resume=True needs checkpoint=PATH"):
        run(resume=True)
    with pytest.raises(TypeError, match=r"checkpoint must be a file path .*got 3"):
        run(path=3)
    with pytest.raises(ValueError, match=r"not a folder"):
        run(path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"checkpoint's folder .* does not exist"):
        run(path=tmp_path / "no" / "run.npz")
    with pytest.raises(ValueError, match=r"checkpoint_every must be an integer >= 1; got 0"):
        run(path=tmp_path / "run.npz", checkpoint_every=0)
    with pytest.raises(TypeError, match=r"resume must be True or False; got 'yes'"):
        run(path=tmp_path / "run.npz", resume="yes")
