"""docs/accuracy.md's NIST tables are what ``benchmarks/nist_accuracy.py`` measures now.

Regenerated here and compared cell by cell: our columns to 0.3 digits (the refined fit is the
float64 solution of the data, the same on any machine), the other libraries' to a digit (they
depend on the LAPACK underneath), the rest exactly. Rewrite the page with
``python benchmarks/nist_accuracy.py --write docs/accuracy.md``.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import nist_accuracy  # noqa: E402

#: Allowed difference per column (absent: the cell must be equal).
TOLERANCES = {"ours": 0.3, "`accuracy_`": 0.3, "iterations": 3,
              "ours, `degree=`": 0.3, "`accuracy_`, `degree=`": 0.3, "iterations, `degree=`": 3,
              "`numpy.linalg.lstsq`": 1.0, "Householder QR (numpy)": 1.0,
              "Householder QR": 1.0, "scikit-learn `LinearRegression`": 1.0,
              "scikit-learn": 1.0}


def parse(text: str) -> list[list[dict]]:
    """The Markdown tables of ``text``: a list of rows (column name -> cell) per table."""
    tables, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            tables.append([])
        elif set(line) - set("|-"):
            tables[-1].append(dict(zip(header, cells, strict=True)))
    return tables


def test_the_parser_reads_markdown_tables():
    tables = parse("| a | b |\n|---|---|\n| 1 | x |\n\n| c |\n|---|\n| 2 |\n")
    assert tables == [[{"a": "1", "b": "x"}], [{"c": "2"}]]


def test_the_accuracy_page_is_up_to_date(shared_dir):
    folder = shared_dir / "data" / "nist-strd"
    if not (folder / "certified.json").is_file():
        pytest.skip(f"NIST StRD reference data not found at {folder}")
    fresh = parse(nist_accuracy.tables(nist_accuracy.measure(folder, nist_accuracy.NAMES)))
    page = parse(nist_accuracy.section(ROOT / "docs" / "accuracy.md"))
    assert [len(t) for t in page] == [len(t) for t in fresh], "the page's tables have other rows"
    stale = []
    for table_page, table_fresh in zip(page, fresh, strict=True):
        for row_page, row_fresh in zip(table_page, table_fresh, strict=True):
            assert row_page.keys() == row_fresh.keys()
            for column, cell in row_fresh.items():
                tolerance = TOLERANCES.get(column)
                numbers = nist_accuracy.NONE not in (cell, row_page[column])
                same = (cell == row_page[column] if tolerance is None or not numbers
                        else abs(float(cell) - float(row_page[column])) <= tolerance)
                if not same:
                    stale.append(f"{row_fresh.get('dataset')} {row_fresh.get('parameter', '')} "
                                 f"{column}: page {row_page[column]}, now {cell}")
    assert not stale, "docs/accuracy.md is stale (rewrite it with `python " \
        "benchmarks/nist_accuracy.py --write docs/accuracy.md`):\n" + "\n".join(stale)
