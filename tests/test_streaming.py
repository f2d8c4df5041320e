"""Minibatch SGD in memory and streamed from files: a defined order, bounded memory."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from dl_workshop import DivergenceError, fit, linear_model, mseloss
from dl_workshop.fitting.streaming import fit_stream, iter_chunks, shuffle_positions, window_key

SRC = Path(__file__).resolve().parents[1] / "src"


def _data(n=600, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)).astype(np.float32)
    return x, y


THETA = {"w": np.zeros(3, np.float32), "b": 0.0}


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1001])
def test_shuffle_is_a_permutation_and_numpy_equals_jax(size):
    key = window_key(5, 2, 3)
    rows = shuffle_positions(np.arange(size), size, key)
    assert sorted(rows.tolist()) == list(range(size))
    rows_jax = shuffle_positions(jnp.arange(size), size, window_key(5, 2, 3, xp=jnp), xp=jnp)
    np.testing.assert_array_equal(rows, np.asarray(rows_jax))
    if size > 7:
        assert not np.array_equal(rows, np.arange(size))
        other = shuffle_positions(np.arange(size), size, window_key(5, 3, 3))
        assert not np.array_equal(rows, other)


def _hand_sgd(x, y, batch_size, seed, window, n_steps, step_size):
    """A NumPy SGD loop over the documented batch order (the reference)."""
    n = len(x)
    per_epoch = n // batch_size
    w, b = np.zeros(x.shape[1]), 0.0
    losses = []
    orders = {}
    for t in range(n_steps):
        epoch, j = divmod(t, per_epoch)
        order = orders.get(epoch)
        if order is None:
            order = orders[epoch] = np.concatenate(
                [
                    start
                    + shuffle_positions(np.arange(m), m, window_key(seed, epoch, start // window))
                    for start in range(0, n, window)
                    for m in [min(window, n - start)]
                ]
            )
        rows = order[j * batch_size : (j + 1) * batch_size]
        r = x[rows] @ w + b - y[rows]
        losses.append(np.mean(r * r))
        w = w - step_size * 2 * x[rows].T @ r / batch_size
        b = b - step_size * 2 * np.mean(r)
    return np.array(losses), w, b


@pytest.mark.parametrize("window", [None, 128])
def test_in_memory_minibatch_matches_a_hand_written_loop(window):
    x, y = _data()
    steps = 3 * (600 // 50)
    result = fit(
        THETA,
        linear_model,
        mseloss,
        x,
        y,
        steps,
        0.05,
        batch_size=50,
        seed=11,
        shuffle_window=window,
        progress=False,
        dtype="float64",
    )
    losses, w, b = _hand_sgd(x, y, 50, 11, window or 600, steps, 0.05)
    # A different row in any batch would show at the 1e-2 level.
    np.testing.assert_allclose(result.losses, losses, rtol=1e-6)
    np.testing.assert_allclose(result.theta["w"], w, rtol=1e-6)
    np.testing.assert_allclose(result.theta["b"], b, rtol=1e-6)


def test_seed_changes_the_order_and_is_reproducible():
    x, y = _data()

    def run(s):
        return fit(
            THETA,
            linear_model,
            mseloss,
            x,
            y,
            30,
            0.05,
            batch_size=40,
            seed=s,
            progress=False,
        ).losses

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_streaming_a_file_equals_in_memory_minibatch(tmp_path, suffix):
    x, y = _data()
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(target=y)
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, row_group_size=97)
    else:
        frame.to_csv(path, index=False)
    epochs, batch, window = 3, 32, 150
    in_memory = fit(
        THETA,
        linear_model,
        mseloss,
        x,
        y,
        epochs * (600 // batch),
        0.05,
        batch_size=batch,
        seed=7,
        shuffle_window=window,
        progress=False,
    )
    streamed = fit_stream(
        THETA,
        linear_model,
        mseloss,
        path,
        y_columns="target",
        batch_size=batch,
        n_epochs=epochs,
        step_size=0.05,
        seed=7,
        chunk_size=window,
        progress=False,
    )
    assert streamed.n_steps == in_memory.n_steps == 54
    np.testing.assert_allclose(streamed.losses, in_memory.losses, rtol=1e-5)
    np.testing.assert_allclose(streamed.theta["w"], in_memory.theta["w"], rtol=1e-5)


def test_streaming_chunks_of_any_size_equals_in_memory():
    x, y = _data(n=500)
    # Chunks of uneven sizes are re-cut into windows of exactly chunk_size rows.
    cuts = [0, 13, 200, 201, 377, 500]
    chunks = [(x[a:b], y[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    streamed = fit_stream(
        THETA,
        linear_model,
        mseloss,
        chunks,
        batch_size=64,
        n_epochs=2,
        step_size=0.05,
        seed=3,
        chunk_size=100,
        progress=False,
    )
    in_memory = fit(
        THETA,
        linear_model,
        mseloss,
        x,
        y,
        2 * (500 // 64),
        0.05,
        batch_size=64,
        seed=3,
        shuffle_window=100,
        progress=False,
    )
    np.testing.assert_allclose(streamed.losses, in_memory.losses, rtol=1e-5)


def test_iter_chunks_cuts_exact_windows_and_selects_columns(tmp_path):
    frame = pd.DataFrame({"u": np.arange(10.0), "v": -np.arange(10.0), "t": np.ones(10)})
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=3)
    chunks = list(iter_chunks(path, x_columns="u", y_columns=["t"], chunk_size=4))
    assert [len(cx) for cx, _ in chunks] == [4, 4, 2]
    assert chunks[0][0].shape == (4,) and chunks[0][1].shape == (4, 1)
    np.testing.assert_array_equal(np.concatenate([cx for cx, _ in chunks]), np.arange(10.0))
    everything = next(iter_chunks(path, y_columns="t", chunk_size=100))[0]
    np.testing.assert_array_equal(everything, frame[["u", "v"]].to_numpy())


def test_streaming_divergence_raises_with_the_losses_so_far():
    x, y = _data()
    with pytest.raises(DivergenceError) as info:
        fit_stream(
            THETA,
            linear_model,
            mseloss,
            [(x * 100, y)],
            batch_size=50,
            n_epochs=2,
            step_size=1.0,
            chunk_size=200,
            progress=False,
        )
    assert info.value.result.status == "diverged"
    assert np.all(np.isfinite(info.value.result.losses))


def test_streaming_bad_input(tmp_path):
    x, y = _data()
    pd.DataFrame({"a": [1.0, 2.0], "y": [0.0, 1.0]}).to_parquet(tmp_path / "d.parquet")
    one_shot = iter([(x, y)])
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit_stream(THETA, linear_model, mseloss, one_shot, batch_size=10, n_epochs=2)
    with pytest.raises(ValueError, match="fewer rows than batch_size"):
        fit_stream(THETA, linear_model, mseloss, [(x[:5], y[:5])], batch_size=10)
    with pytest.raises(ValueError, match="y_columns is required"):
        list(iter_chunks(tmp_path / "d.parquet", chunk_size=2))
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in the data"):
        list(iter_chunks(tmp_path / "d.parquet", x_columns="nope", y_columns="y"))
    with pytest.raises(FileNotFoundError, match="not found"):
        list(iter_chunks("/nonexistent/file.parquet", y_columns="y"))
    with pytest.raises(ValueError, match="same number of rows"):
        list(iter_chunks([(x, y[:-1])]))
    with pytest.raises(TypeError, match="batch_size must be an integer >= 1; got 2.5"):
        fit_stream(THETA, linear_model, mseloss, [(x, y)], batch_size=2.5)


def test_fit_batch_size_bad_input():
    x, y = _data()
    with pytest.raises(
        ValueError, match=r"batch_size must be at most the number of samples \(600\)"
    ):
        fit(THETA, linear_model, mseloss, x, y, batch_size=601)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got -1"):
        fit(THETA, linear_model, mseloss, x, y, batch_size=10, seed=-1)
    # A custom objective decides which data each step uses: it is fit_objective's, not fit's.
    with pytest.raises(TypeError, match="unexpected keyword argument 'objective'"):
        fit(THETA, linear_model, mseloss, x, y, batch_size=10, objective=lambda p, t, d: (0.0, p))


def test_streaming_memory_is_bounded_by_the_chunk(tmp_path):
    # A 64 MB Parquet file streamed in 4096-row chunks must not raise the peak RSS by more than a
    # small fraction of the file; measured in a fresh process so nothing else pollutes the peak.
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        import numpy as np, pyarrow as pa, pyarrow.parquet as pq
        sys.path.insert(0, {str(SRC)!r})
        from dl_workshop import linear_model, mseloss
        from dl_workshop.fitting.streaming import fit_stream
        path = {str(tmp_path / "big.parquet")!r}
        rng = np.random.default_rng(0)
        names = [f"x{{i}}" for i in range(31)] + ["y"]
        with pq.ParquetWriter(path, pa.schema([(c, pa.float32()) for c in names])) as out:
            for _ in range(32):
                block = rng.normal(size=(16384, 32)).astype(np.float32)
                out.write_table(pa.table(dict(zip(names, block.T))), row_group_size=8192)
        theta = {{"w": np.zeros(31, np.float32), "b": 0.0}}
        small = [(np.ones((256, 31), np.float32), np.ones(256, np.float32))]
        fit_stream(theta, linear_model, mseloss, small, batch_size=256, chunk_size=4096,
                   progress=False)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = fit_stream(theta, linear_model, mseloss, path, y_columns="y", batch_size=256,
                            chunk_size=4096, step_size=0.01, progress=False)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"growth_kb": after - before, "steps": result.n_steps}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["steps"] == 32 * 16384 // 256
    assert report["growth_kb"] < 24 * 1024, report  # the file is 64 MB
