"""Data parallelism with jax.sharding: the sharded fit equals the one-device fit."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dl_workshop import linear_model, mseloss
from dl_workshop.fitting.parallel import data_mesh, fit_sharded, shard_rows

SRC = Path(__file__).resolve().parents[1] / "src"

# XLA_FLAGS must be set before JAX initialises, hence a fresh process with four CPU devices.
SCRIPT = textwrap.dedent(
    f"""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    sys.path.insert(0, {str(SRC)!r})
    import jax, numpy as np
    from dl_workshop import fit, linear_model, mseloss
    from dl_workshop.fitting.parallel import fit_sharded, shard_rows
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(4000, 2))).astype(np.float32)
    theta = {{"w": np.zeros((5, 2), np.float32), "b": np.zeros(2, np.float32)}}
    out = {{"devices": len(jax.devices())}}
    for name, kw in [("general", dict(fast_path=False)), ("fast", {{}}),
                     ("minibatch", dict(batch_size=64, seed=3))]:
        one = fit(theta, linear_model, mseloss, x, y, 300, 0.05, progress=False, **kw)
        many = fit_sharded(theta, linear_model, mseloss, x, y, 300, 0.05, progress=False, **kw)
        out[name] = {{
            "loss_diff": float(np.max(np.abs(one.losses - many.losses) / one.losses)),
            "w_diff": float(np.max(np.abs(np.asarray(one.theta["w"]) - many.theta["w"]))),
            "final_loss": float(one.losses[-1]),
        }}
    out["shards"] = len(shard_rows(x).addressable_shards)
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_four_cpu_devices_and_rows_split(four_devices):
    assert four_devices["devices"] == 4
    assert four_devices["shards"] == 4


@pytest.mark.parametrize("path", ["general", "fast", "minibatch"])
def test_sharded_equals_one_device(four_devices, path):
    report = four_devices[path]
    assert report["final_loss"] < 0.05  # the fit converged: the comparison is not vacuous
    assert report["loss_diff"] < 1e-5
    assert report["w_diff"] < 1e-5


def test_fit_sharded_in_process_matches_lstsq():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 2))
    y = x @ np.array([1.5, -0.5]) + 2.0
    result = fit_sharded(
        {"w": np.zeros(2), "b": 0.0},
        linear_model,
        mseloss,
        x,
        y,
        2000,
        0.1,
        progress=False,
        dtype="float64",
    )
    coef, *_ = np.linalg.lstsq(np.column_stack([x, np.ones(256)]), y, rcond=None)
    np.testing.assert_allclose(result.theta["w"], coef[:2], atol=1e-8)
    np.testing.assert_allclose(result.theta["b"], coef[2], atol=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one device"):
        data_mesh([])
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        shard_rows(np.zeros(4), mesh="cpu")
    with pytest.raises(ValueError, match="x must be finite"):
        shard_rows(np.array([1.0, np.inf]))
