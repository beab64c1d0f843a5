"""The pipeline's shape (STYLE.md): packages depend one way, and no module imports itself back.

The import graph is read from the source (every ``import`` statement, also those inside
functions, which the CLI uses to start fast), so that a lazy import cannot hide a cycle.
Imports under ``if TYPE_CHECKING:`` are annotations only and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import contagion_cli

PACKAGE = Path(contagion_cli.__file__).parent
ROOT = PACKAGE.name

#: What each part of the package may import from the others ("" is the package's __init__).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "atomic": set(),
    "timings": set(),
    "heap": set(),
    "generate": {"atomic"},
    "schema": {"errors"},
    "load": {"errors", "timings", "heap", "schema"},
    "compile": {"errors", "schema", "load"},
    "jit_cache": set(),
    "jit_link": {"errors"},
    "kernel": {"compile", "jit_cache", "jit_link"},
    "results": {"errors", "schema"},
    "engine": {"errors", "timings", "compile", "kernel", "jit_cache", "results"},
    "batch": {"errors", "timings", "schema", "load", "compile", "engine", "results"},
    "gates": {"errors", "schema", "load", "compile", "engine", "results", "batch"},
    "render": {"errors", "atomic", "results", "batch", "gates"},
    "cli": {
        "errors", "atomic", "timings", "heap", "generate", "schema", "load", "compile", "engine",
        "results", "batch", "gates", "render",
    },
}  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = file
    return found


MODULES = _modules()


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement outside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            is_package = MODULES[module].name == "__init__.py"
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" for a in node.names]
    out = []
    for name in names:
        if name != ROOT and not name.startswith(ROOT + "."):
            continue
        while name not in MODULES:  # ``from .x import a_function``: the module is .x
            name = name.rsplit(".", 1)[0]
        if name != module:
            out.append(name)
    return out


def import_graph() -> dict[str, set[str]]:
    return {
        m: {t for node in _runtime_imports(ast.parse(f.read_text())) for t in _targets(m, node)}
        for m, f in MODULES.items()
    }


def _part(module: str) -> str:
    """``contagion_cli.batch.sweep`` -> ``batch``; the root package -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert _cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a planted cycle a -> b -> c -> a is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_every_part_is_known():
    """A new top-level module or package must say what it may import (ALLOWED)."""
    assert {_part(m) for m in MODULES} - {"", "__main__"} <= set(ALLOWED)


def test_packages_depend_one_way():
    wrong = []
    for module, targets in import_graph().items():
        part = _part(module)
        if part in ("", "__main__"):
            continue
        for target in targets:
            other = _part(target)
            if other in ("", part) or other in ALLOWED[part]:
                continue
            wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_schema_is_pure():
    """STYLE.md: the schema is a pure function of a dict: no numpy, no I/O, no YAML."""
    banned = {"numpy", "yaml", "pyarrow", "pathlib", "io", "os", "open"}
    for module, file in MODULES.items():
        if _part(module) != "schema":
            continue
        tree = ast.parse(file.read_text())
        for node in _runtime_imports(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            assert not {n.split(".")[0] for n in names} & banned, (module, names)
        calls = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert "open" not in calls, module
