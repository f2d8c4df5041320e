"""Build each lesson's two notebooks from its single source, so they can never drift apart.

Each source, ``notebooks/source/<lesson>.py`` (:data:`LESSONS`), is a jupytext "percent" script
holding both versions: a cell tagged ``exercise`` appears only in the exercise notebook (the stub
the learner fills in), a cell tagged ``solution`` only in the solutions notebook; every other
cell, including the ``check_...`` call after each exercise, appears in both. An exercise and its
solution share a second tag ``ex-<name>``, so tests can fill an exercise notebook with the
solutions.

Usage (from the repository root)::

    python notebooks/build_exercises.py          # (re)write both .ipynb files
    python notebooks/build_exercises.py --check  # exit 1 if a committed notebook is stale

The output is deterministic (fixed cell ids, no outputs, fixed metadata), so a test can compare
the committed notebooks with a fresh build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
#: The chapter's lessons in order: source stem (``source/<stem>.py``) -> notebooks' stem.
LESSONS = {
    "gradient_optimization": "gradient-based-optimization",
    "optimizing_linear_models": "optimizing-linear-models",
    "logistic_regression": "logistic-regression",
}
SOURCE = HERE / "source" / "optimizing_linear_models.py"
STEM = "optimizing-linear-models"


def versions(stem: str) -> dict[str, tuple[Path, str]]:
    """version -> (output file, tag of the cells that version leaves out), for a lesson."""
    return {
        "exercises": (HERE / f"{stem}-exercises.ipynb", "solution"),
        "solutions": (HERE / f"{stem}-solutions.ipynb", "exercise"),
    }


#: The first lesson's versions ("Optimizing linear models").
VERSIONS = versions(STEM)
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def exercise_name(cell: nbformat.NotebookNode) -> str | None:
    """The ``<name>`` of a cell's ``ex-<name>`` tag, or ``None`` for a shared cell."""
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag.startswith("ex-"):
            return tag[3:]
    return None


def build(version: str, source: Path = SOURCE) -> nbformat.NotebookNode:
    """The ``"exercises"`` or ``"solutions"`` notebook built from ``source``."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {sorted(VERSIONS)}; got {version!r}")
    _, left_out = VERSIONS[version]
    full = jupytext.read(source, fmt="py:percent")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = METADATA
    for index, cell in enumerate(full.cells):
        tags = list(cell.metadata.get("tags", []))
        if left_out in tags:
            continue
        metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=metadata)
        else:
            new = nbformat.v4.new_code_cell(cell.source, metadata=metadata)
        # Ids from the source position: stable across builds and unique within each version.
        new["id"] = f"cell-{index:03d}"
        notebook.cells.append(new)
    nbformat.validate(notebook)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """The notebook as the exact text written to disk."""
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report whether the notebooks are up to date"
    )
    args = parser.parse_args(argv)
    stale = []
    outputs = [
        (version, path, HERE / "source" / f"{source}.py")
        for source, stem in LESSONS.items()
        for version, (path, _) in versions(stem).items()
    ]
    for version, path, source in outputs:
        text = render(build(version, source))
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run python notebooks/build_exercises.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
