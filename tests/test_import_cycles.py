"""No import cycle between the modules of harness, baselines and sparse_impl, at module or function level.

The test reads the source with `ast` (nothing is imported), so it also sees imports inside functions, which
would otherwise hide a cycle until the function runs. Imports under `if TYPE_CHECKING:` do not count: they
never run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["Edge", "module_files", "import_edges", "import_graph", "cycles"]

_REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "baselines", "sparse_impl")


@dataclass(frozen=True)
class Edge:
    """One import statement of `source` that loads `target`, with the line it is on (for the failure message)."""

    source: str
    target: str
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    """The dotted module name of a source file under the repository root (a package is its __init__)."""
    parts = list(path.relative_to(_REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_files(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    return {_module_name(p): p for package in packages for p in sorted((_REPO / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` test is `TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under `node` that can run, with whether it sits inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), in_function)
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
            continue
        inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _imports(child, inside)


def _base_package(module: str, path: Path, level: int) -> str:
    """The package a relative import of `level` dots in `module` starts from."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def _targets(statement: ast.Import | ast.ImportFrom, module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The known modules an import statement loads: a submodule named in `from pkg import x` counts as
    itself, any other name as the package's __init__."""
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.name in known:
                yield alias.name
        return
    base = statement.module or ""
    if statement.level:
        package = _base_package(module, path, statement.level)
        base = f"{package}.{base}" if base else package
    for alias in statement.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:
            yield submodule
        elif base in known:
            yield base


def import_edges(files: dict[str, Path] | None = None) -> list[Edge]:
    """Every import between the packages' modules (self-imports left out)."""
    files = files if files is not None else module_files()
    known = set(files)
    edges = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for statement, in_function in _imports(tree):
            edges += [Edge(module, target, statement.lineno, in_function)
                      for target in _targets(statement, module, path, known) if target != module]
    return edges


def import_graph(edges: list[Edge]) -> dict[str, set[str]]:
    """The module graph: each module to the modules it imports."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _describe(component: list[str], edges: list[Edge]) -> str:
    """The imports that hold one cycle together, one per line."""
    members = set(component)
    inner = sorted({(e.source, e.target, e.line, e.in_function) for e in edges
                    if e.source in members and e.target in members})
    return "\n".join(f"  {s}:{line} -> {t}" + (" (in a function)" if f else "") for s, t, line, f in inner)


def test_no_import_cycle() -> None:
    edges = import_edges()
    found = cycles(import_graph(edges))
    assert not found, "import cycles:\n" + "\n\n".join(_describe(c, edges) for c in found)


def test_backends_read_models_only_through_their_protocol() -> None:
    """sparse_impl.backends types a model as ModelView, so it never imports sparse_impl.models."""
    edges = import_edges()
    assert not [e for e in edges if e.source.startswith("sparse_impl.backends")
                and e.target.startswith("sparse_impl.models")]


def test_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from pkg.a import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    files = {
        "pkg": package / "__init__.py", "pkg.a": package / "a.py",
        "pkg.b": package / "b.py", "pkg.c": package / "c.py",
    }
    edges = import_edges(files)
    assert {(e.source, e.target, e.in_function) for e in edges} == {
        ("pkg", "pkg.a", False), ("pkg.a", "pkg.b", False), ("pkg.b", "pkg.a", True)}
    assert cycles(import_graph(edges)) == [["pkg.a", "pkg.b"]]
