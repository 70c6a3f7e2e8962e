"""The core's modules import one another without a loop (errors -> retry -> middleware ->
idempotency -> errors was one): each can be read, and imported, on its own."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "app" / "core"


def core_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_imports(path: Path, known: set[str]) -> set[str]:
    """Every app.core module `path` imports, at the top or inside a function (a lazy import
    hides a loop, it does not cut it); `if TYPE_CHECKING:` imports are annotations only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
        for child in guard.body
        for node in ast.walk(child)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {name for name in names if name in known}
    return found - {core_name(path)}


def test_the_core_has_no_import_loop() -> None:
    paths = sorted(CORE.rglob("*.py"))
    known = {core_name(path) for path in paths}
    graph = {core_name(path): core_imports(path, known) for path in paths}
    # A package imports its own submodules through its __init__; that is not a loop.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not t.startswith(f"{name}.")}
    loops: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            loops.append([*path[path.index(name) :], name])
            return
        for target in sorted(graph.get(name, ())):
            if len(loops) < 5:
                visit(target, [*path, name])

    for name in sorted(graph):
        visit(name, [])
    assert loops == [], "\n".join(" -> ".join(loop) for loop in loops)
