"""Seconds per notebook of ``dl-workshop grade``, with and without the sandbox.

Grades the lesson's solutions notebook (``notebooks/optimizing-linear-models-solutions.ipynb``)
``--repeats`` times in each mode, interleaved (sandbox, no sandbox, sandbox, ...) so that a
busy machine slows both alike, and prints the median seconds per notebook of each mode and
their difference: what the sandbox (bubblewrap, limits, the process watchdog) adds. Every
exercise must pass in both modes (else the script fails).

Run: ``python benchmarks/bench_grade.py`` (``--quick``: a small notebook of the lesson
"gradient-based optimization", one run per mode).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from dl_workshop.teaching.checks import solution
from dl_workshop.teaching.checks.grade import grade_notebooks
from dl_workshop.teaching.checks.sandbox import unavailable

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "optimizing-linear-models-solutions.ipynb"


def _small_notebook(folder: Path) -> Path:
    """The four exercises of "gradient-based optimization", right, after one import cell."""
    cells = [nbformat.v4.new_code_cell("import jax.numpy as jnp\nfrom jax import grad")]
    for name in ("f", "df", "descend", "dfdw"):
        tags = {"tags": ["solution", f"ex-{name}"]}
        cells.append(nbformat.v4.new_code_cell(solution(name), metadata=tags))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    path = folder / "small.ipynb"
    nbformat.write(notebook, path)
    return path


def _seconds(path: Path, sandboxed: bool, timeout: float) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        grade = grade_notebooks([path], out, timeout=timeout, progress=False, sandboxed=sandboxed)[
            0
        ]
        seconds = time.perf_counter() - start
    failed = {name: s for name, s in grade.statuses.items() if s != "pass"}
    if failed:
        sys.exit(
            f"not every exercise passed ({'sandbox' if sandboxed else 'no sandbox'}): {failed}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small notebook, one run each")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (default 3)")
    args = parser.parse_args()
    reason = unavailable()
    if reason is not None:
        sys.exit(f"no sandbox here: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        path = _small_notebook(Path(folder)) if args.quick else LESSON
        repeats = 1 if args.quick else args.repeats
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeats):
            for sandboxed in (True, False):
                times[sandboxed].append(_seconds(path, sandboxed, timeout=120.0))
    with_box, without = statistics.median(times[True]), statistics.median(times[False])
    print(f"notebook: {path.name}, {repeats} run(s) per mode, every exercise passes")
    print(f"{'mode':<22}{'s per notebook':>16}")
    print(f"{'sandbox (bwrap)':<22}{with_box:>16.2f}")
    print(f"{'no sandbox':<22}{without:>16.2f}")
    print(f"{'added by the sandbox':<22}{with_box - without:>16.2f}")


if __name__ == "__main__":
    main()
