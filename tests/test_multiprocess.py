"""Two JAX processes on loopback: equal shards give the one-process fit, unequal ones raise on
both processes (never two different answers, never a hang).

Each process is a subprocess with a timeout, on CPU, its coordinator on 127.0.0.1 at a free
port; both are killed by pid when the test ends, whatever happened.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dl_workshop import fit, linear_model, mseloss

SRC = Path(__file__).resolve().parents[1] / "src"
# Rows per process above two blocks of the sharded statistics (8192 rows), plus a tail.
N, D = 34_000, 4

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    process_id, port, counts, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    counts = [int(c) for c in counts.split(",")]
    n, d = sum(counts), int(sys.argv[5])
    import jax
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=process_id, initialization_timeout=60)
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec
    from dl_workshop import fit, linear_model, mseloss
    from dl_workshop.fitting.parallel import BATCH_AXIS, data_mesh, fit_sharded

    rng = np.random.default_rng(0)  # the same global data in every process; each takes its rows
    x_all = rng.normal(size=(n, d)).astype(np.float32)
    noise = 0.1 * rng.normal(size=n)
    y_all = (x_all @ np.linspace(-1, 1, d) + 0.5 + noise).astype(np.float32)
    start = sum(counts[:process_id])
    rows = NamedSharding(data_mesh(), PartitionSpec(BATCH_AXIS))
    x = jax.make_array_from_process_local_data(rows, x_all[start : start + counts[process_id]])
    y = jax.make_array_from_process_local_data(rows, y_all[start : start + counts[process_id]])
    theta = {"w": np.zeros(d, np.float32), "b": 0.0}
    result = {}
    for name, call, kw in [("fast", fit, {}), ("general", fit, {"fast_path": False}),
                           ("sharded", fit_sharded, {})]:
        began = time.perf_counter()
        try:
            r = call(theta, linear_model, mseloss, x, y, 200, 0.1, progress=False, **kw)
            result[name] = {"losses": np.asarray(r.losses).tolist(),
                            "w": np.asarray(r.theta["w"]).tolist(), "b": float(r.theta["b"])}
        except ValueError as exc:
            result[name] = {"error": str(exc), "seconds": time.perf_counter() - began}
    with open(out, "w") as f:
        json.dump(result, f)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two(tmp_path: Path, counts: tuple[int, int], timeout: float = 150) -> list[dict]:
    script = tmp_path / "two_processes.py"
    script.write_text(SCRIPT)
    env = {
        **{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(SRC),
    }
    port, outs = _free_port(), [tmp_path / f"out{i}.json" for i in range(2)]
    procs = []
    try:
        for i in range(2):
            counts_arg = f"{counts[0]},{counts[1]}"
            args = [sys.executable, str(script), str(i), str(port), counts_arg, str(outs[i])]
            args.append(str(D))
            procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
        deadline = time.monotonic() + timeout
        logs = [p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0] for p in procs]
    finally:
        for p in procs:  # by pid, whatever happened above
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    return [json.loads(out.read_text()) for out in outs]


@pytest.fixture(scope="module")
def one_process():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = (x @ np.linspace(-1, 1, D) + 0.5 + 0.1 * rng.normal(size=N)).astype(np.float32)
    theta = {"w": np.zeros(D, np.float32), "b": 0.0}
    return {
        name: fit(theta, linear_model, mseloss, x, y, 200, 0.1, progress=False, **kw)
        for name, kw in [("fast", {}), ("general", {"fast_path": False})]
    }


def test_equal_shards_match_one_process(tmp_path, one_process):
    results = _run_two(tmp_path, (N // 2, N // 2))
    for result in results:
        for name in ("fast", "general", "sharded"):
            ref = one_process["general" if name == "general" else "fast"]
            assert "error" not in result[name], result[name]
            np.testing.assert_allclose(result[name]["losses"], ref.losses, rtol=1e-5)
            np.testing.assert_allclose(result[name]["w"], ref.theta["w"], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result[name]["b"], ref.theta["b"], rtol=1e-5, atol=1e-6)
    assert results[0] == results[1]  # replicated: every process returns the same fit


def test_unequal_shards_raise_on_both_processes(tmp_path):
    results = _run_two(tmp_path, (N // 2 + 1, N // 2 - 1))
    expected = (
        f"process 0 holds {N // 2 + 1} rows of a global {N + 2}, "
        f"process 1 holds {N // 2 - 1} rows of a global {N - 2}"
    )
    for result in results:
        for name in ("fast", "general", "sharded"):
            error = result[name].get("error", "")
            assert expected in error and "global_shape=" in error, result[name]
            assert result[name]["seconds"] < 10
