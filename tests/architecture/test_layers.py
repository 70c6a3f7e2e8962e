"""The architecture as a check (docs/architecture.md, "Import rules"): the core never imports
a module, routers never import repositories (nor run SQL), a module never imports another
module's repository, no cycle between modules, nothing in app imports tests. A violation
fails naming the file, the line and the import; each rule fails on a planted violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import BASE_DIR
from tests.architecture.layers import (
    CORE_IMPORTS_MODULES,
    FOREIGN_REPOSITORY,
    IMPORTS_TESTS,
    MODULE_CYCLE,
    ROUTER_IMPORTS_REPOSITORY,
    ROUTER_RUNS_SQL,
    Violation,
    check,
)

# Violations allowed for now, each (file, import): none. Identity is one module
# (app/modules/system/auth) with the route guard in the core (app/core/guard.py), which ended the
# auth <-> system split this list once held. Keep it empty; a stale entry fails below.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def test_app_keeps_the_import_rules() -> None:
    found = check(BASE_DIR)
    broken = [v for v in found if (v.file, v.target) not in ALLOWED]
    assert not broken, "import rules broken (docs/architecture.md):\n" + "\n".join(map(str, broken))
    stale = ALLOWED - {(v.file, v.target) for v in found}
    assert not stale, f"allowed but no longer a violation, remove from ALLOWED: {sorted(stale)}"


# ------------------------------------------------------------------ planted violations --
def plant(root: Path, files: dict[str, str]) -> Path:
    """A small `app` package tree under `root`: every folder a package, each file its source."""
    for name, source in {"app/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if str(folder) != ".":
                (root / folder / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    return root


# A tree that keeps every rule: the violations below are one line added to it.
CLEAN = {
    "app/core/pagination.py": "import sqlalchemy\n",
    "app/core/modules.py": "import app.modules\n",  # discovery: names no module
    "app/modules/shop/models.py": "from app.core import pagination\n",
    "app/modules/shop/repository.py": "from app.modules.shop.models import Item\n",
    "app/modules/shop/service.py": "from app.modules.shop import repository as repo\n",
    "app/modules/shop/router.py": "from app.modules.shop import service\n",
    "app/modules/blog/models.py": "",
    "app/modules/blog/repository.py": "",
    "app/modules/blog/service.py": "from app.modules.shop import service\n",
    "app/modules/blog/router.py": "from app.modules.blog import service\n",
}


def test_the_clean_tree_passes(tmp_path: Path) -> None:
    assert check(plant(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("file", "line", "expected"),
    [
        (
            "app/core/pagination.py",
            "from app.modules.shop.models import Item",
            Violation(CORE_IMPORTS_MODULES, "app/core/pagination.py", 2, "app.modules.shop.models"),
        ),
        (
            "app/core/pagination.py",
            "import app.modules.blog",
            Violation(CORE_IMPORTS_MODULES, "app/core/pagination.py", 2, "app.modules.blog"),
        ),
        (
            "app/modules/shop/router.py",
            "from app.modules.shop import repository as repo",
            Violation(
                ROUTER_IMPORTS_REPOSITORY,
                "app/modules/shop/router.py",
                2,
                "app.modules.shop.repository",
            ),
        ),
        (
            "app/modules/shop/router.py",
            "    from app.modules.shop.repository import find  # inside a function too",
            Violation(
                ROUTER_IMPORTS_REPOSITORY,
                "app/modules/shop/router.py",
                2,
                "app.modules.shop.repository",
            ),
        ),
        (
            "app/modules/blog/service.py",
            "import app.modules.shop.repository",
            Violation(
                FOREIGN_REPOSITORY, "app/modules/blog/service.py", 2, "app.modules.shop.repository"
            ),
        ),
        (
            "app/modules/shop/service.py",
            "from app.modules.blog import models",
            Violation(MODULE_CYCLE, "app/modules/shop/service.py", 2, "app.modules.blog.models"),
        ),
        (
            "app/modules/shop/router.py",
            "from app.core.pagination import PageParams, fetch_page",
            Violation(
                ROUTER_RUNS_SQL, "app/modules/shop/router.py", 2, "app.core.pagination.fetch_page"
            ),
        ),
        (
            "app/modules/shop/router.py",
            "from sqlalchemy import select",
            Violation(ROUTER_RUNS_SQL, "app/modules/shop/router.py", 2, "sqlalchemy.select"),
        ),
        (
            "app/modules/shop/router.py",
            "    rows = await db.execute(statement)",
            Violation(ROUTER_RUNS_SQL, "app/modules/shop/router.py", 2, "call .execute()"),
        ),
        (
            "app/modules/shop/service.py",
            "from tests.support import identity",
            Violation(IMPORTS_TESTS, "app/modules/shop/service.py", 2, "tests.support"),
        ),
    ],
)
def test_each_rule_fails_on_a_planted_violation(
    tmp_path: Path, file: str, line: str, expected: Violation
) -> None:
    source = CLEAN[file] + ("def f() -> None:\n" if line.startswith(" ") else "") + line + "\n"
    if line.startswith(" "):
        expected = Violation(expected.rule, expected.file, 3, expected.target)
    found = check(plant(tmp_path, {**CLEAN, file: source}))
    assert expected in found, found
    assert str(expected).startswith(f"{file}:{expected.line}: import {expected.target}: ")
    assert check(plant(tmp_path / "clean", CLEAN)) == [], "the same tree without the line passes"


def test_a_cycle_names_the_imports_on_both_sides(tmp_path: Path) -> None:
    tree = {**CLEAN, "app/modules/shop/service.py": "from app.modules.blog import service\n"}
    found = check(plant(tmp_path, tree))
    assert found == [
        Violation(MODULE_CYCLE, "app/modules/blog/service.py", 1, "app.modules.shop.service"),
        Violation(MODULE_CYCLE, "app/modules/shop/service.py", 1, "app.modules.blog.service"),
    ]


def test_a_longer_cycle_through_three_modules(tmp_path: Path) -> None:
    tree = {
        **CLEAN,
        "app/modules/news/service.py": "from app.modules.blog import service\n",
        "app/modules/shop/service.py": "import app.modules.news.service\n",
    }
    found = {(v.rule, v.file) for v in check(plant(tmp_path, tree))}
    assert found == {
        (MODULE_CYCLE, "app/modules/blog/service.py"),
        (MODULE_CYCLE, "app/modules/news/service.py"),
        (MODULE_CYCLE, "app/modules/shop/service.py"),
    }


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    tree = {**CLEAN, "app/modules/shop/router.py": "from . import repository\n"}
    found = check(plant(tmp_path, tree))
    assert found == [
        Violation(
            ROUTER_IMPORTS_REPOSITORY,
            "app/modules/shop/router.py",
            1,
            "app.modules.shop.repository",
        )
    ]
