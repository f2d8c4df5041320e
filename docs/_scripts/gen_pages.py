"""Pages the site builds from the project itself (run by mkdocs-gen-files at every build).

* ``api/<group>.md``: one page per part of the package, with a ``::: dl_workshop.NAME`` block
  (mkdocstrings renders its docstring) for every name in ``dl_workshop.__all__``; a new public
  name lands on the page of the module that defines it, with nothing to edit here.
* ``api/index.md``: every public name, its one-line summary and its page.
* ``lessons/<lesson>.ipynb``: the solutions notebooks of ``notebooks/`` (the exercises'
  answers filled in), rendered by mkdocs-jupyter.
* ``changelog.md``: ``CHANGELOG.md``.

``api_pages`` is a pure function so that ``tests/test_docs.py`` checks the coverage without
MkDocs.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Lessons in the chapter's order: (page name, notebook).
LESSONS = (
    ("gradient-based-optimization", "gradient-based-optimization-solutions.ipynb"),
    ("optimizing-linear-models", "optimizing-linear-models-solutions.ipynb"),
    ("logistic-regression", "logistic-regression-solutions.ipynb"),
)

#: Titles of the API pages, by the part of the package a name comes from; a part missing here
#: gets a page titled by its module name.
GROUP_TITLES = {
    "model": "Models and parameters",
    "losses": "Losses",
    "logistic": "Logistic regression",
    "polynomial": "The polynomial lesson",
    "sampling": "Random draws",
    "data": "Data",
    "optimization": "Fitting: fit, fit_objective, model_optimization_loop",
    "engine": "The compiled loop: results, divergence, optimizers",
    "objectives": "Objectives and sufficient statistics",
    "checkpoint": "Checkpoints",
    "persistence": "Saving parameters",
    "checks": "Checkers, hints and solutions",
    "estimator": "The scikit-learn estimator",
    "streaming": "Streaming",
    "chunks": "Streaming",
    "parallel": "Several devices",
    "plots": "Plots",
    "diagrams": "Diagrams",
    "widgets": "Sliders",
    "constants": "Constants",
}


#: The folders that group the package by role; a page is one of their modules.
ROLES = ("lesson", "io", "fitting", "teaching")


def group_of(obj: object) -> str:
    """The part of the package that defines ``obj`` (its first module below ``dl_workshop``),
    or ``"constants"`` for values such as numbers and strings."""
    module = getattr(obj, "__module__", None) if (
        inspect.isclass(obj) or inspect.isroutine(obj)
    ) else None
    if not module or not module.startswith("dl_workshop."):
        return "constants"
    parts = module.split(".")[1:]
    # the role folders (lesson/, io/, fitting/, teaching/) group modules; a page is a module
    part = parts[1] if parts[0] in ROLES and len(parts) > 1 else parts[0]
    return {"chunks": "streaming"}.get(part, part)


def summary_of(obj: object) -> str:
    """The first line of ``obj``'s docstring (empty for a value without its own)."""
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return ""
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return re.sub(r":\w+:`~?([^`]+)`", lambda m: f"`{m[1].rsplit('.', 1)[-1]}`", first)


def identifier_of(namespace: object, name: str) -> str:
    """Where mkdocstrings finds ``name``'s docstring: the module that defines a class or
    function, else the module that holds the value (``__init__`` loads some names lazily, out
    of the reach of a static reading of the package)."""
    obj = getattr(namespace, name)
    module = getattr(obj, "__module__", None) if (
        inspect.isclass(obj) or inspect.isroutine(obj)
    ) else None
    if module and getattr(sys.modules.get(module), name, None) is obj:
        return f"{module}.{name}"  # also a function made by a transformation (jax.grad)
    if module:
        return f"{module}.{obj.__qualname__}"
    owner = getattr(namespace, "_LAZY_OWNER", {}).get(name)
    package = namespace.__name__
    return f"{package}.{owner}.{name}" if owner else f"{package}.{name}"


def api_pages(namespace: object) -> dict[str, str]:
    """``{path under docs/: Markdown}`` of the API reference for ``namespace.__all__``."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in namespace.__all__:
        groups[group_of(getattr(namespace, name))].append(name)
    pages = {}
    index = [
        "# API reference",
        "",
        "Every public name of `dl_workshop` (`from dl_workshop import NAME`), generated from the",
        "docstrings, whose examples the test suite runs.",
        "",
        "| name | what it is | page |",
        "|---|---|---|",
    ]
    order = list(GROUP_TITLES)
    for group in sorted(groups, key=lambda g: (g == "constants", order.index(g) if g in order
                                               else len(order), g)):
        title = GROUP_TITLES.get(group, f"dl_workshop.{group}")
        lines = [f"# {title}", ""]
        for name in groups[group]:
            identifier = identifier_of(namespace, name)
            lines += [f"::: {identifier}", ""]
            summary = summary_of(getattr(namespace, name)).replace("|", "\\|")
            index.append(
                f"| [`{name}`]({group}.md#{identifier}) | {summary} | [{title}]({group}.md) |"
            )
        pages[f"api/{group}.md"] = "\n".join(lines)
    pages["api/index.md"] = "\n".join(index) + "\n"
    return pages


def _generate() -> None:  # pragma: no cover - runs inside mkdocs build
    import mkdocs_gen_files

    import dl_workshop

    for path, text in api_pages(dl_workshop).items():
        with mkdocs_gen_files.open(path, "w") as page:
            page.write(text)
    for name, notebook in LESSONS:
        with mkdocs_gen_files.open(f"lessons/{name}.ipynb", "w") as page:
            page.write((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    with mkdocs_gen_files.open("changelog.md", "w") as page:
        page.write((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))


if __name__ in ("__main__", "<run_path>"):
    _generate()
