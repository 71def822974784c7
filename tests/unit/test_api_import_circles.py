"""Issue 23: no import circle among api/'s modules, function-level imports included (they may not hide one)."""

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def _module(path: Path) -> str:
    parts = list(path.relative_to(API.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):  # every import, at any depth
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {target for target in targets if target in modules and target != name}
    return found


def _graph() -> dict[str, set[str]]:
    paths = [p for p in API.rglob("*.py") if "migrations" not in p.parts]
    modules = {_module(p) for p in paths}
    return {_module(p): _imports(p, modules) for p in paths}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    circles, done = [], set()

    def visit(module, trail):
        if module in trail:
            circles.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return circles


def test_the_walk_sees_the_imports():
    graph = _graph()
    assert "api.errors" in graph["api.hub"]
    assert "api.hub" in graph["api.endpoints.webhooks"]


def test_the_walk_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_circle_inside_api():
    assert _circles(_graph()) == []
