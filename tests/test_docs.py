"""The documentation site: an API page for every public name (generated from
``dl_workshop.__all__``, so a new name needs no edit), every page in the navigation, and a strict
build when the ``docs`` extra is installed (CI installs it and builds the site with the lessons
run; here the lessons are rendered without running, to stay quick)."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dl_workshop

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS_YML = (ROOT / "mkdocs.yml").read_text()


def _gen_pages():
    spec = importlib.util.spec_from_file_location("gen_pages", DOCS / "_scripts" / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented(pages: dict[str, str]) -> dict[str, str]:
    """``{identifier: page}`` of every ``::: identifier`` block."""
    return {
        identifier: path
        for path, text in pages.items()
        for identifier in re.findall(r"^::: (\S+)$", text, flags=re.MULTILINE)
    }


def _resolve(identifier: str):
    module_name, _, name = identifier.rpartition(".")
    while True:
        try:
            return getattr(importlib.import_module(module_name), name)
        except ModuleNotFoundError:  # a class attribute: step up one level
            module_name, _, outer = module_name.rpartition(".")
            name = f"{outer}.{name}"
            obj = importlib.import_module(module_name)
            for part in name.split("."):
                obj = getattr(obj, part)
            return obj


def test_every_public_name_has_an_api_entry_that_is_that_name():
    pages = _gen_pages().api_pages(dl_workshop)
    documented = _documented(pages)
    by_name = {identifier.rpartition(".")[2]: identifier for identifier in documented}
    for name in dl_workshop.__all__:
        assert name in by_name, f"dl_workshop.{name} has no API entry"
        assert _resolve(by_name[name]) is getattr(dl_workshop, name), by_name[name]
    index = pages["api/index.md"]
    assert all(f"[`{name}`]" in index for name in dl_workshop.__all__)


def test_a_new_public_name_gets_an_entry_without_editing_anything():
    import types

    gen = _gen_pages()
    package = types.ModuleType("dl_workshop")
    exec("def predict_proba_demo():\n    '''A new name.'''\n", package.__dict__)
    package.predict_proba_demo.__module__ = "dl_workshop.estimator.classifier"
    package.__all__ = ["predict_proba_demo"]
    pages = gen.api_pages(package)
    assert "::: dl_workshop.estimator.classifier.predict_proba_demo" in pages["api/estimator.md"]


def test_every_page_is_in_the_navigation():
    pages = [
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if "_scripts" not in path.parts
    ]
    assert "index.md" in pages and "performance.md" in pages
    for page in pages:
        assert re.search(rf"^\s*- (.+: )?{re.escape(page)}$", MKDOCS_YML, re.MULTILINE), (
            f"docs/{page} is not in mkdocs.yml's nav"
        )


def test_every_navigation_entry_exists_or_is_generated():
    generated = {"api/index.md", "changelog.md"} | {
        f"lessons/{name}.ipynb" for name, _ in _gen_pages().LESSONS
    }
    entries = re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.(?:md|ipynb))$", MKDOCS_YML, re.MULTILINE)
    assert len(entries) >= 15
    for entry in entries:
        assert entry in generated or (DOCS / entry).is_file(), entry
    for _, notebook in _gen_pages().LESSONS:
        assert (ROOT / "notebooks" / notebook).is_file(), notebook


def _docs_extra_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter",
                   "mkdocs_gen_files"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return module
        if "." in module and importlib.util.find_spec(module) is None:
            return module
    return None


@pytest.mark.skipif(
    _docs_extra_missing() is not None,
    reason=f"the docs extra is not installed (no {_docs_extra_missing()}): "
    "pip install -e '.[docs]'",
)
def test_the_site_builds_strictly_with_an_api_entry_for_every_name(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "DL_WORKSHOP_DOCS_EXECUTE": "false", "DISABLE_MKDOCS_2_WARNING": "true",
           "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    html = "".join(path.read_text() for path in (site / "api").rglob("*.html"))
    for identifier in _documented(_gen_pages().api_pages(dl_workshop)):
        assert f'id="{identifier}"' in html, identifier
    for name, _ in _gen_pages().LESSONS:
        assert (site / "lessons" / name / "index.html").is_file(), name


@pytest.mark.skipif(
    _docs_extra_missing() is not None,
    reason=f"the docs extra is not installed (no {_docs_extra_missing()}): "
    "pip install -e '.[docs]'",
)
def test_the_docstrings_habits_are_read_as_markdown():
    spec = importlib.util.spec_from_file_location(
        "griffe_examples", DOCS / "_scripts" / "griffe_examples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Gradient of :func:`mseloss`, a :class:`~dl_workshop.FitResult`.\n\n    Example:\n"
    assert module.markdown_of(text) == (
        "Gradient of `mseloss`, a `FitResult`.\n\n    Examples:\n"
    )


def test_the_benchmarks_write_the_charts_the_performance_page_shows(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _common import write_chart
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from PIL import Image

    series = {"cold": {"NumPy loop": 0.03, "ours": 0.12}, "warm": {"NumPy loop": 0.03, "ours": 0.0}}
    path = write_chart(tmp_path / "images" / "chart.png", "a test", series, note="quick")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= 600
    page = (DOCS / "performance.md").read_text()
    for image in re.findall(r"\]\((images/[^)]+\.png)\)", page):
        assert (DOCS / image).is_file(), f"docs/{image}: run its benchmark with --chart"
