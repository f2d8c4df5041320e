"""The layout keeps its promises: layers import downwards only, no cycles, small modules and
functions (see docs/architecture.md). Read from the source's syntax trees, so function-level
imports count as much as module-level ones."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = "dl_workshop"
ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / PACKAGE

#: Layers, lowest first; a module may import modules of its own layer or lower ones only.
#: A name stands for a module or a subpackage and everything in it.
LAYERS = [
    ["_validation", "_precision", "_version", "_moved", "compilation"],
    ["lesson", "io"],
    ["engine", "moments"],
    ["objectives"],
    ["fitting"],
    ["estimator", "teaching"],
    ["answers", "cli", "__main__", "__init__"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    assert top in RANK, f"{module} is in no layer of LAYERS (add it, and to the docs)"
    return RANK[top]


def _resolve(name: str) -> str:
    """The package module that ``import name`` loads (the longest known prefix)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def _targets(node: ast.AST, package: str) -> list[str]:
    """The module names an import statement loads (``from m import n`` loads ``m.n`` when
    that is a module, else ``m``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the package, one level up per extra dot
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports(module: str) -> set[str]:
    """Every package module that ``module`` imports, anywhere in its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _targets(node, package):
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    found.add(_resolve(name))
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


def test_imports_flow_downwards_only():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_module_but_the_top_imports_the_package_root():
    top = {PACKAGE, f"{PACKAGE}.__main__", f"{PACKAGE}.answers"}
    offenders = [m for m, targets in GRAPH.items() if PACKAGE in targets and m not in top]
    assert offenders == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH))


def test_the_cycle_detector_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_under_the_line_limit(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"


def _code_lines(node: ast.AST, source: list[str]) -> int:
    """Lines of a function without its docstring, blank lines and comment-only lines."""
    skip = set()
    body = node.body
    first = body[0] if body else None
    value = getattr(first, "value", None)
    if isinstance(first, ast.Expr) and isinstance(getattr(value, "value", None), str):
        skip = set(range(first.lineno, first.end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = source[number - 1].strip()
        if number not in skip and text and not text.startswith("#"):
            count += 1
    return count


def test_functions_are_under_the_line_limit():
    long = []
    for module, path in MODULES.items():
        source = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(source))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = _code_lines(node, source)
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def test_code_lines_skip_docstrings_and_comments():
    source = ['def f():', '    """Doc.', '    more."""', '    # why', '', '    return 1']
    node = ast.parse("\n".join(source)).body[0]
    assert _code_lines(node, source) == 2


#: JAX's x64 switch, by any of its names: only the precision helper may name it.
X64_NAMES = ("enable_x64", "jax_enable_x64")


def _x64_mentions(source: str) -> list[int]:
    """The lines of ``source`` whose code names JAX's x64 switch (an attribute, a name, an
    imported name or a string such as ``jax.config.update("jax_enable_x64", ...)``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.alias):
            names = [node.name.rsplit(".", 1)[-1]]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [n for n in X64_NAMES if n in node.value]
        if any(name in X64_NAMES for name in names):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_only_the_precision_helper_names_jax_s_x64_switch():
    found = [
        f"{module}:{line}"
        for module, path in MODULES.items()
        if module != f"{PACKAGE}._precision"
        for line in _x64_mentions(path.read_text())
    ]
    assert found == [], "use dl_workshop._precision (precision, x64, x64_enabled) instead"


def test_the_x64_check_finds_every_spelling():
    source = (
        "import jax\nfrom jax import enable_x64\nwith jax.enable_x64(True):\n    pass\n"
        "a = jax.config.jax_enable_x64\njax.config.update('jax_enable_x64', True)\nb = 1\n"
    )
    assert _x64_mentions(source) == [2, 3, 5, 6]


#: The one place (a module or subpackage) that may read JAX's internals.
JAX_INTERNALS = f"{PACKAGE}.engine.jaxpr"

#: Modules whose import means reading JAX's internals.
INTERNAL_JAX_MODULES = ("jax.core", "jax.extend", "jax._src", "jaxlib")


def _reads_jax_internals(source: str) -> bool:
    """Whether ``source`` imports ``jax.core``, ``jax.extend``, ``jax._src`` (``from jax import
    core`` too), names them as attributes, or reads a jaxpr's equations (``.eqns``)."""

    def internal(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in INTERNAL_JAX_MODULES)

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            return [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        if isinstance(node, ast.Attribute):
            return [ast.unparse(node)]
        return []

    return any(
        (isinstance(node, ast.Attribute) and node.attr == "eqns")
        or any(internal(name) for name in names(node))
        for node in ast.walk(ast.parse(source))
    )


def _in_place(module: str) -> bool:
    return module == JAX_INTERNALS or module.startswith(JAX_INTERNALS + ".")


def test_only_one_place_reads_jax_internals():
    readers = {m for m, path in MODULES.items() if _reads_jax_internals(path.read_text())}
    assert readers, "nothing reads JAX's internals: the check below is not looking"
    outside = sorted(m for m in readers if not _in_place(m))
    assert not outside, f"only {JAX_INTERNALS} may read JAX's internals; also: {outside}"


def test_the_jax_internals_package_is_used_through_its_surface():
    for module in MODULES:
        if not _in_place(module):
            inner = sorted(t for t in _imports(module) if _in_place(t) and t != JAX_INTERNALS)
            assert not inner, f"{module} imports {inner}: import {JAX_INTERNALS} instead"


@pytest.mark.parametrize("source, reads", [
    ("from jax.extend import core", True),
    ("import jax._src.tree_util", True),
    ("from jax import core", True),
    ("from jax._src import api", True),
    ("x = jax.core.Literal", True),
    ("for e in closed.jaxpr.eqns: pass", True),
    ("import jax\nimport jax.numpy as jnp\nfrom jax import lax", False),
    ("from jax.tree_util import tree_map", False),
    ("from .core import x", False),
])
def test_the_jax_internals_check_finds_readers(source, reads):
    assert _reads_jax_internals(source) is reads


#: What the engine may import of the package outside itself, as docs/architecture.md names it.
ENGINE_IMPORTS = ("_validation", "_precision", "compilation")


def test_the_engine_imports_what_the_architecture_page_names():
    outside = set()
    for module in MODULES:
        if module.startswith(f"{PACKAGE}.engine"):
            outside |= {t for t in GRAPH[module] if not t.startswith(f"{PACKAGE}.engine")}
    allowed = {f"{PACKAGE}.{name}" for name in ENGINE_IMPORTS}
    tops = {".".join(t.split(".")[:2]) for t in outside}
    assert tops == allowed, f"the engine imports {sorted(tops)}; the page names {sorted(allowed)}"
    page = (ROOT / "docs" / "architecture.md").read_text()
    sentence = page[page.index("`engine/` is the compiled loop"):].split("checks this list")[0]
    named = set(re.findall(r"`([_a-z]+)`", sentence))
    assert named == set(ENGINE_IMPORTS), f"the page names {sorted(named)}"


#: Within ``fitting/`` the old layers stay an order: a module imports only those before it.
FITTING_ORDER = [
    ["settings", "multihost"],
    ["choose"],
    ["solver"],
    ["checkpoint"],
    ["optimization"],
    ["streaming", "parallel"],
]

#: The checkers import layers 0-1 only: the grader's kernel agent and the checkers stay light.
CHECKS_MAY_IMPORT = ("_validation", "_precision", "_version", "compilation", "lesson", "io")


def test_the_fitting_modules_keep_their_order():
    rank = {
        f"{PACKAGE}.fitting.{name}": i for i, names in enumerate(FITTING_ORDER) for name in names
    }
    inside = [m for m in MODULES if m.startswith(f"{PACKAGE}.fitting.")]
    assert set(inside) == set(rank), "place every module of fitting/ in FITTING_ORDER"
    later = [f"{m} imports {t}" for m in inside for t in GRAPH[m] if rank.get(t, -1) > rank[m]]
    assert later == []


def test_the_checkers_import_only_the_two_lowest_layers():
    checks = f"{PACKAGE}.teaching.checks"
    found = {
        f"{module} imports {target}"
        for module in MODULES
        if module.startswith(checks)
        for target in GRAPH[module]
        if not target.startswith(checks) and target.split(".")[1] not in CHECKS_MAY_IMPORT
    }
    assert found == set()
