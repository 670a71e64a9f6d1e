"""The import graph of our packages has no cycle, and every import points the way STYLE.md habit 1 says.

The graph is read from the source with `ast`, so it sees every import a reader sees: at module
level, inside functions, and under `if TYPE_CHECKING:` (a cycle hidden there is still a cycle
for the reader). `from package import name` counts as importing `package.name` when that is a
module. Imports made by string (importlib, entry points) are plugins and not edges.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "booking_core": ROOT / "src" / "booking_core",
    "booking_demo": ROOT / "src" / "booking_demo",
    "dashboard": ROOT / "dashboard",
    "checks": ROOT / "checks",
    "metrics": ROOT / "metrics",
}
OUTER = ("dashboard", "checks", "metrics")  # nothing else imports these
Graph = dict[str, set[str]]


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = path.relative_to(folder).with_suffix("").parts
    return ".".join((package, *parts[: -1 if parts[-1] == "__init__" else None]))


def _modules(packages: dict[str, Path]) -> dict[str, Path]:
    return {
        _module_name(package, folder, path): path
        for package, folder in packages.items()
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The modules one import statement names, relative imports resolved against `module`."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
            base = ".".join([*anchor, *([base] if base else [])])
        submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
        yield from submodules
        if len(submodules) < len(node.names):  # some names are the package's own attributes
            yield base


def import_graph(packages: dict[str, Path] = PACKAGES) -> Graph:
    """Each of our modules -> every module it imports (ours and others')."""
    modules = _modules(packages)
    known = set(modules)
    graph: Graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[module] = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, module, is_package, known)
            if target != module
        }
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of our modules larger than one (Tarjan), each as a sorted list."""
    ours = {m: sorted(t for t in targets if t in graph) for m, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in ours[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([node, *group]))

    for node in sorted(ours):
        if node not in index:
            visit(node)
    return found


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def direction_violations(graph: Graph) -> list[str]:
    """Imports against habit 1: the domain uses only the standard library and itself; nothing
    imports dashboard, checks or metrics from outside; booking_core never imports booking_demo."""
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            top = _top(target)
            if module.startswith("booking_core.domain") and not (
                target.startswith("booking_core.domain") or top in sys.stdlib_module_names or top == "__future__"
            ):
                bad.append(f"{module} -> {target}: the domain imports only the standard library")
            if top in OUTER and _top(module) != top:
                bad.append(f"{module} -> {target}: nothing imports {top}")
            if _top(module) == "booking_core" and top == "booking_demo":
                bad.append(f"{module} -> {target}: the core never imports the demo")
    return bad


def test_the_graph_covers_every_package_and_sees_known_edges() -> None:
    graph = import_graph()
    assert {_top(m) for m in graph} == set(PACKAGES)
    assert "booking_demo.lifecycle" in graph["booking_demo.generator"]  # `from x import y` of a module
    assert "booking_core.domain.errors" in graph["booking_demo.cli"]


def test_no_module_imports_itself_back_through_others() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles among: " + "; ".join(", ".join(group) for group in found)


def test_imports_point_from_the_outer_parts_to_the_domain_only() -> None:
    found = direction_violations(import_graph())
    assert found == [], "imports against the direction:\n" + "\n".join(found)


def _write(folder: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, body in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return {"pkg": folder / "pkg"}


def test_a_cycle_through_a_type_checking_import_is_found(tmp_path: Path) -> None:
    packages = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.c import C\n",
            "pkg/c.py": "def f():\n    from . import a\n",
            "pkg/d.py": "import pkg.a\n",
        },
    )
    assert cycles(import_graph(packages)) == [["pkg.a", "pkg.b", "pkg.c"]]


@pytest.mark.parametrize(
    ("module", "statement"),
    [
        ("booking_core.domain.x", "import sqlalchemy"),
        ("booking_core.domain.x", "from booking_core.adapters import db"),
        ("booking_core.services.x", "from dashboard import charts"),
        ("checks.x", "import metrics.exporter"),
        ("booking_core.cli", "from booking_demo.seed import bulk_seed"),
    ],
)
def test_an_import_against_the_direction_is_named(module: str, statement: str) -> None:
    graph = {module: set(_imported(ast.parse(statement).body[0], module, False, set()))}
    assert len(direction_violations(graph)) == 1
