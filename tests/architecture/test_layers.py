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

# Today's violations, each (file, import), to be emptied, not extended. All of them are the
# split of identity between `auth` and `system`: auth reads system's users, roles and menus
# (and its role/menu/user repositories, in auth/power.py) while system imports auth for the
# route guard, hashing, sessions and power checks. Folding auth into one identity module with
# the route guard in the core removes every entry; a stale entry fails below.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        # auth -> system
        ("app/modules/auth/authz.py", "app.modules.system.dept.models"),
        ("app/modules/auth/authz.py", "app.modules.system.menu.models"),
        ("app/modules/auth/authz.py", "app.modules.system.role.models"),
        ("app/modules/auth/authz.py", "app.modules.system.user.models"),
        ("app/modules/auth/mfa.py", "app.modules.system.user.models"),
        ("app/modules/auth/power.py", "app.modules.system.menu.exceptions"),
        ("app/modules/auth/power.py", "app.modules.system.menu.repository"),
        ("app/modules/auth/power.py", "app.modules.system.role.exceptions"),
        ("app/modules/auth/power.py", "app.modules.system.role.repository"),
        ("app/modules/auth/power.py", "app.modules.system.user.exceptions"),
        ("app/modules/auth/power.py", "app.modules.system.user.models"),
        ("app/modules/auth/power.py", "app.modules.system.user.repository"),
        ("app/modules/auth/repository.py", "app.modules.system.menu.models"),
        ("app/modules/auth/repository.py", "app.modules.system.role.models"),
        ("app/modules/auth/repository.py", "app.modules.system.user.models"),
        ("app/modules/auth/router.py", "app.modules.system.login_log.recorder"),
        ("app/modules/auth/router.py", "app.modules.system.menu.schemas"),
        ("app/modules/auth/router.py", "app.modules.system.param.reader"),
        ("app/modules/auth/router.py", "app.modules.system.user.models"),
        ("app/modules/auth/schemas.py", "app.modules.system.user.schemas"),
        ("app/modules/auth/service.py", "app.modules.system.menu.schemas"),
        ("app/modules/auth/service.py", "app.modules.system.menu.service"),
        ("app/modules/auth/service.py", "app.modules.system.param.reader"),
        ("app/modules/auth/service.py", "app.modules.system.user.models"),
        # system -> auth
        ("app/modules/system/commands.py", "app.modules.auth.authz"),
        ("app/modules/system/commands.py", "app.modules.auth.mfa"),
        ("app/modules/system/commands.py", "app.modules.auth.sessions"),
        ("app/modules/system/dept/router.py", "app.modules.auth.deps"),
        ("app/modules/system/dept/service.py", "app.modules.auth.authz"),
        ("app/modules/system/dept/service.py", "app.modules.auth.power"),
        ("app/modules/system/dept/service.py", "app.modules.auth.sessions"),
        ("app/modules/system/dict/router.py", "app.modules.auth.deps"),
        ("app/modules/system/login_log/router.py", "app.modules.auth.deps"),
        ("app/modules/system/menu/router.py", "app.modules.auth.deps"),
        ("app/modules/system/menu/service.py", "app.modules.auth.authz"),
        ("app/modules/system/menu/service.py", "app.modules.auth.power"),
        ("app/modules/system/notice/router.py", "app.modules.auth.deps"),
        ("app/modules/system/operation_log/router.py", "app.modules.auth.deps"),
        ("app/modules/system/param/router.py", "app.modules.auth.deps"),
        ("app/modules/system/position/router.py", "app.modules.auth.deps"),
        ("app/modules/system/role/router.py", "app.modules.auth.deps"),
        ("app/modules/system/role/service.py", "app.modules.auth.authz"),
        ("app/modules/system/role/service.py", "app.modules.auth.power"),
        ("app/modules/system/user/router.py", "app.modules.auth.deps"),
        ("app/modules/system/user/service.py", "app.modules.auth.authz"),
        ("app/modules/system/user/service.py", "app.modules.auth.mfa"),
        ("app/modules/system/user/service.py", "app.modules.auth.power"),
        ("app/modules/system/user/service.py", "app.modules.auth.sessions"),
    }
)


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
