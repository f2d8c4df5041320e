"""Crash tests in real processes: ``dl-workshop fit`` killed with SIGKILL mid-run, resumed,
interrupted with Ctrl-C (SIGINT), resumed again, ends with the same parameters as an
uninterrupted run, bit for bit; and the same seed gives the same bytes in separate processes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from dl_workshop.cli import main
from dl_workshop.estimator import load_model
from dl_workshop.fitting.checkpoint import load_checkpoint
from dl_workshop.io.persistence import load_params

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

MAX_ITER = 30000  # a run of about a thousand checkpoint files: a signal lands mid-run
EVERY = 30


def fit_argv(data, *extra):
    # Plain gradient descent with a small step: thousands of iterations, each checkpoint a
    # file write, so the run lasts long enough to be killed in the middle.
    return [
        "fit", str(data), "--target", "y", "--optimizer", "gd", "--learning-rate", "0.0001",
        "--max-iter", str(MAX_ITER), "--tol", "1e-30", "--seed", "0", *extra,
    ]  # fmt: skip


def start(argv):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-m", "dl_workshop", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_checkpoint(process, path, beyond, timeout=180.0):
    """Poll until ``path`` holds a checkpoint past step ``beyond``; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run ended (code {process.returncode}) before it could be stopped")
        if path.exists():
            try:
                if load_checkpoint(path).step > beyond:
                    return
            except (ValueError, OSError):
                pass  # replaced while being read: try again
        time.sleep(0.005)
    process.kill()
    pytest.fail(f"no checkpoint past step {beyond} within {timeout} s")


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 3.0 + 0.1 * rng.normal(size=60)
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y}).to_csv(path, index=False)
    return path


def test_sigkill_then_ctrl_c_then_resume_equals_an_uninterrupted_run(data, tmp_path, capsys):
    checkpoint = tmp_path / "run.npz"
    options = ["--checkpoint", str(checkpoint), "--checkpoint-every", str(EVERY)]

    killed = start(fit_argv(data, *options))
    wait_for_checkpoint(killed, checkpoint, beyond=0)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    after_kill = load_checkpoint(checkpoint).step
    assert EVERY <= after_kill < MAX_ITER  # killed mid-run, the last complete file survived

    interrupted = start(fit_argv(data, *options, "--resume"))
    wait_for_checkpoint(interrupted, checkpoint, beyond=after_kill)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dl-workshop"), err
    assert "interrupted" in lines[0]
    after_ctrl_c = load_checkpoint(checkpoint).step
    assert after_kill < after_ctrl_c < MAX_ITER

    resumed_dir, reference_dir = tmp_path / "resumed", tmp_path / "reference"
    assert main(fit_argv(data, *options, "--resume", "--out", str(resumed_dir))) == 0
    assert main(fit_argv(data, "--out", str(reference_dir))) == 0
    capsys.readouterr()
    resumed = load_model(resumed_dir / "model.npz")
    reference = load_model(reference_dir / "model.npz")
    assert resumed.n_iter_ == reference.n_iter_ == MAX_ITER
    assert resumed.coef_.tobytes() == reference.coef_.tobytes()
    assert np.asarray(resumed.intercept_).tobytes() == np.asarray(reference.intercept_).tobytes()
    np.testing.assert_array_equal(resumed.loss_curve_, reference.loss_curve_)


SCRIPT = """
import sys
import optax
from dl_workshop import fit, initialize_linear_params, linear_model, make_y, mseloss, save_params
from dl_workshop.lesson.data import x

output, seed = sys.argv[1], int(sys.argv[2])
theta = initialize_linear_params(seed=seed)
y = make_y(x, seed=seed)
result = fit(theta, linear_model, mseloss, x, y, 400, optimizer=optax.adam(0.05), progress=False)
save_params(output, result.theta)
"""


def test_the_same_seed_gives_the_same_bytes_in_separate_processes(tmp_path, monkeypatch):
    outputs = [tmp_path / f"process_{i}.npz" for i in range(2)]
    processes = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(path), "7"], stderr=subprocess.PIPE)
        for path in outputs
    ]
    # Meanwhile, in this process: the same seed, and another one.
    for name, seed in (("here_7", "7"), ("here_8", "8")):
        monkeypatch.setattr(sys, "argv", ["-c", str(tmp_path / f"{name}.npz"), seed])
        exec(SCRIPT, {"__name__": "__script__"})
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()
    first, second, here = (load_params(p) for p in [*outputs, tmp_path / "here_7.npz"])
    for name in ("w", "b"):
        assert first[name].dtype == second[name].dtype == here[name].dtype
        assert first[name].tobytes() == second[name].tobytes() == here[name].tobytes()
    # A different seed gives different parameters: the comparison above can fail.
    assert load_params(tmp_path / "here_8.npz")["w"].tobytes() != first["w"].tobytes()
