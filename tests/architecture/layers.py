"""The import rules of docs/architecture.md, checked by reading the source (no import runs).

Every `import` and `from ... import` in `app/` (anywhere in the file: inside functions and
`if TYPE_CHECKING:` blocks too) is resolved to the module it names and checked against five
rules; router files are also read for what runs SQL (the core's page readers, statement
builders, `.execute()`-like calls). A violation names the file, the line and the import (or
call), and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORE_IMPORTS_MODULES = "the core (app/core) never imports app.modules"
ROUTER_IMPORTS_REPOSITORY = "a router never imports a repository (go through the service)"
FOREIGN_REPOSITORY = "a module never imports another module's repository (use its service)"
MODULE_CYCLE = "no cycle between modules"
IMPORTS_TESTS = "nothing in app imports tests"
ROUTER_RUNS_SQL = "a router runs no SQL and pages nothing itself (its service does)"

RULES = (
    CORE_IMPORTS_MODULES,
    ROUTER_IMPORTS_REPOSITORY,
    FOREIGN_REPOSITORY,
    MODULE_CYCLE,
    IMPORTS_TESTS,
    ROUTER_RUNS_SQL,
)

# What a router may not name: the core's page readers, SQL statement builders, session calls
# that run a statement.
_PAGE_READERS = {"fetch_page", "paginate", "paginate_rows", "count_rows", "estimate_rows"}
_SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "exists", "func"}
_SQL_CALLS = {"execute", "scalar", "scalars", "stream", "stream_scalars"}


@dataclass(frozen=True, slots=True, order=True)
class Import:
    """One import: the file (relative to the root, `/`-separated), its line, the module."""

    file: str
    line: int
    target: str


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    rule: str
    file: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: import {self.target}: {self.rule}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve_from(root: Path, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(root, path).split(".")
    if path.name != "__init__.py":
        package.pop()
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """The modules `path` imports: `from a.b import c` is `a.b.c` when `c` is a module."""
    file = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=file)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(root, path, node)
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                yield Import(file, node.lineno, full if _is_module(root, full) else base)


def _owner(dotted: str) -> str | None:
    """The module (`app.modules.<name>`) a dotted name belongs to, None outside modules."""
    parts = dotted.split(".")
    if len(parts) >= 3 and parts[:2] == ["app", "modules"]:
        return parts[2]
    return None


def _is_repository(dotted: str) -> bool:
    last = dotted.split(".")[-1]
    return last.startswith("repository") or last == "repositories" or ".repositories." in dotted


def _is_router(file: str) -> bool:
    path = Path(file)
    return path.stem.startswith("router") or "routers" in path.parts[:-1]


def _cycles(imports: list[Import]) -> list[Violation]:
    """Every import between two modules that lie on a common cycle (Tarjan's SCCs)."""
    edges: dict[str, set[str]] = defaultdict(set)
    evidence: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for item in imports:
        source = _owner(_dotted_file(item.file))
        target = _owner(item.target)
        if source and target and source != target:
            edges[source].add(target)
            evidence[source, target].append(item)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component[member] = index[node]
                if member == node:
                    break

    for node in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if node not in index:
            visit(node)
    return [
        Violation(MODULE_CYCLE, item.file, item.line, item.target)
        for (source, target), items in evidence.items()
        if component[source] == component[target]
        for item in items
    ]


def _dotted_file(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def router_sql(root: Path, path: Path) -> Iterator[Violation]:
    """What in a router file reads or writes the database itself (`ROUTER_RUNS_SQL`)."""
    file = path.relative_to(root).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=file)):
        if isinstance(node, ast.ImportFrom) and node.module in (
            "app.core.pagination",
            "sqlalchemy",
        ):
            banned = _PAGE_READERS if node.module == "app.core.pagination" else _SQL_BUILDERS
            for alias in node.names:
                if alias.name in banned:
                    target = f"{node.module}.{alias.name}"
                    yield Violation(ROUTER_RUNS_SQL, file, node.lineno, target)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SQL_CALLS
        ):
            yield Violation(ROUTER_RUNS_SQL, file, node.lineno, f"call .{node.func.attr}()")


def check(root: Path, package: str = "app") -> list[Violation]:
    """Every violation of the rules in `root/<package>`, sorted by file and line."""
    paths = sorted((root / package).rglob("*.py"))
    imports = [item for path in paths for item in imports_of(root, path)]
    found: list[Violation] = [
        violation
        for path in paths
        if _is_router(path.relative_to(root).as_posix())
        for violation in router_sql(root, path)
    ]
    for item in imports:
        source = _dotted_file(item.file)
        target_owner = _owner(item.target)
        # `import app.modules` alone (its empty `__init__`) is how the core finds the module
        # packages (`app.core.modules.local_modules`): it names no module.
        if source.startswith("app.core.") and target_owner is not None:
            found.append(Violation(CORE_IMPORTS_MODULES, item.file, item.line, item.target))
        if _is_router(item.file) and _is_repository(item.target):
            found.append(Violation(ROUTER_IMPORTS_REPOSITORY, item.file, item.line, item.target))
        if (
            target_owner is not None
            and _is_repository(item.target)
            and _owner(source) != target_owner
        ):
            found.append(Violation(FOREIGN_REPOSITORY, item.file, item.line, item.target))
        if item.target == "tests" or item.target.startswith("tests."):
            found.append(Violation(IMPORTS_TESTS, item.file, item.line, item.target))
    found += _cycles(imports)
    return sorted(found, key=lambda v: (v.file, v.line, v.target, v.rule))
