"""The shape of the code, checked: no import circle, no module over 500 lines, no imports inside the edge's
functions, one route per path.

The import graph is read from the source with ``ast`` (nothing is imported):
an edge ``a -> b`` for every module-level ``import`` in ``a`` of a module ``b``
of ``gateway`` or ``adapters`` (``from p import n`` counts ``p.n`` when that
is a module, else ``p``), imports under ``if TYPE_CHECKING:`` included: a circle
only the type checker follows is still a circle to a reader. A package's
``__init__`` is a module like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import Config
from gateway.http.dataplane import ENDPOINTS
from gateway.http.openapi import endpoints
from tests.fakes import KeywordClassifier

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "adapters")
MAX_LINES = 500
TOO_LONG_FOR_NOW: set[str] = set()  # none: every module is under the limit
EDGE = ("gateway/http/",)  # no imports inside functions here: what the edge needs, it names at the top


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _module_level_imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(node, name, path.name == "__init__.py")
                submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
                # ``from p import m`` of a module ``m`` needs ``m``; ``from p import name`` needs ``p``.
                targets = submodules if len(submodules) == len(node.names) else [source, *submodules]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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
    return found


def test_the_import_graph_has_no_circle() -> None:
    graph = import_graph()
    assert len(graph) > 100 and graph["gateway.app"], "the modules could not be read"
    assert cycles(graph) == []


def test_the_checker_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert {name: n for name, n in long.items() if name not in TOO_LONG_FOR_NOW} == {}


@pytest.mark.parametrize("folder", EDGE)
def test_the_edge_imports_nothing_inside_a_function(folder: str) -> None:
    inside: list[str] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inside += [
                    f"{path.relative_to(ROOT)}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Import | ast.ImportFrom)
                ]
    assert inside == []


def test_one_route_per_path(tmp_path: Path) -> None:
    config = Config(policy=str(ROOT / "tests" / "data" / "routing.yaml"), database_url=f"sqlite:///{tmp_path}/gw.db",
                    var_dir=str(tmp_path), policy_watch_s=0)  # fmt: skip
    app = create_app(config, classifier=KeywordClassifier())  # routes only: the lifespan does not run
    routed = [(method, path) for path, route in endpoints(app.routes) for method in route.methods]
    assert len(routed) == len(set(routed)) > 8
    assert {path for _, path in routed} & set(ENDPOINTS) == set(), "a data-plane path has a FastAPI route too"
