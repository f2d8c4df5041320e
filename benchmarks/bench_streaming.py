"""Stream a Parquet file larger than memory budget through minibatch SGD; report peak RSS.

Writes an N x (D + 1) float32 Parquet file to a temporary folder in chunks (never holding it in
memory), fits ``linear_model`` + ``mseloss`` with ``fit_stream`` for one epoch, prints file
size, times, throughput and the process's peak RSS, then deletes the file. The default size is
about 4.3 GB (32 500 000 rows x 33 columns); the target is a peak RSS below 1.5 GB.

Run from the source tree: ``PYTHONPATH=src python benchmarks/bench_streaming.py`` (``--quick``:
a 25 MB smoke run; ``--rows``, ``--d``, ``--chunk-size``, ``--batch-size``, ``--dir`` to adjust).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from _common import device_name, peak_rss_mb  # noqa: E402

from dl_workshop import linear_model, mseloss  # noqa: E402
from dl_workshop.fitting.streaming import fit_stream  # noqa: E402


def write_file(path, rows, d, block=262_144, seed=0):
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(d).astype(np.float32)
    names = [f"x{i}" for i in range(d)] + ["y"]
    schema = pa.schema([(name, pa.float32()) for name in names])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for start in range(0, rows, block):
            m = min(block, rows - start)
            x = rng.standard_normal((m, d), dtype=np.float32)
            y = x @ w_true + np.float32(0.5) + np.float32(0.1) * rng.standard_normal(m, np.float32)
            columns = [pa.array(col) for col in x.T] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(columns, names=names), row_group_size=65_536)
    return w_true


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a 25 MB file")
    parser.add_argument("--rows", type=int, default=32_500_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=262_144)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--dir", default=None, help="folder for the temporary file (/tmp)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.chunk_size = 200_000, 32_768
    folder = tempfile.mkdtemp(prefix="dlw-stream-", dir=args.dir)
    path = os.path.join(folder, "data.parquet")
    try:
        print(f"streaming benchmark, device {device_name()}")
        start = time.perf_counter()
        w_true = write_file(path, args.rows, args.d)
        t_write = time.perf_counter() - start
        size = os.path.getsize(path)
        print(
            f"wrote {size / 1e9:.2f} GB ({args.rows} rows x {args.d + 1} float32 columns) in "
            f"{t_write:.1f} s; peak RSS after writing {peak_rss_mb():.0f} MB"
        )
        theta = {"w": np.zeros(args.d, np.float32), "b": 0.0}
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        result = fit_stream(
            theta,
            linear_model,
            mseloss,
            path,
            y_columns="y",
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            step_size=0.05,
            seed=0,
            progress=None,
        )
        t_fit = time.perf_counter() - start
        error = float(np.max(np.abs(np.asarray(result.theta["w"]) - w_true)))
        print(f"\n{'quantity':<40}{'value':>16}")
        for name, value in [
            ("file size (GB)", f"{size / 1e9:.2f}"),
            ("rows streamed", f"{args.rows}"),
            ("chunk size (rows)", f"{args.chunk_size}"),
            ("SGD steps (batch size)", f"{result.n_steps} ({args.batch_size})"),
            ("stream + fit time (s)", f"{t_fit:.1f}"),
            ("throughput (MB/s)", f"{size / 1e6 / t_fit:.0f}"),
            ("peak RSS before streaming (MB)", f"{rss_before:.0f}"),
            ("peak RSS after streaming (MB)", f"{peak_rss_mb():.0f}"),
            ("peak RSS / file size", f"{peak_rss_mb() * 1e6 / size:.3f}"),
            ("max |w - w_true|", f"{error:.3g}"),
        ]:
            print(f"{name:<40}{value:>16}")
        print(
            f"\ntarget: peak RSS < 1500 MB for a > 4 GB file: "
            f"{'met' if peak_rss_mb() < 1500 else 'NOT met'} (file {size / 1e9:.2f} GB)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
