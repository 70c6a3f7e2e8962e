"""The core's route guard (`app.core.guard`) and the identity module behind its interface: the
guard asks whatever `PrincipalResolver` the enabled identity module provides, and no module but
the identity module itself reaches into it to guard a route."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.config import ConfigError, Settings
from app.core.errors import NotAuthenticated
from app.core.guard import install_principal_resolver
from app.core.modules import ModuleSpec
from app.modules.system import module as system_module
from tests.conftest import make_settings
from tests.support.probe import create_probe_app
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
GUARDED = "/__test/guarded"  # require("system:user:list"), tests/support/probe.py


@shared_fixture("the guarded probe app", scope="module")
async def guarded_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The probe app (its `/__test/guarded` route) without a scheduler: a Taskiq worker
    stopped within a second of starting hangs its shutdown (see tests/core/test_metrics.py)."""
    app = create_probe_app(
        make_settings(settings.database_url, scheduler_enabled=False, scheduler_worker=False)
    )
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app


@pytest.fixture
async def probe(guarded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def caller(*permissions: str, password_change_required: bool = False) -> Principal:
    return Principal(
        user_id=7,
        username="plugin-user",
        session_id="s",
        is_superuser=False,
        dept_id=None,
        permissions=frozenset(permissions),
        password_change_required=password_change_required,
    )


async def test_the_guard_asks_the_provided_resolver_and_checks_what_it_answers(
    guarded_app: FastAPI, probe: httpx.AsyncClient
) -> None:
    """Another identity provider (a plugin) plugs in through the resolver slot alone."""
    seen: list[str] = []
    answers: dict[str, Principal] = {
        "holder": caller("system:user:list"),
        "other": caller("system:role:list"),
        "pending": caller("system:user:list", password_change_required=True),
    }

    async def resolver(request: Request, db: AsyncSession, cache: Cache, token: str) -> Principal:
        seen.append(token)
        if token not in answers:
            raise NotAuthenticated("Invalid or expired token")
        return answers[token]

    provided = guarded_app.state.principal_resolver
    assert provided is system_module.principal_resolver  # the system module provides it
    guarded_app.state.principal_resolver = resolver
    try:

        async def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return (await probe.get(GUARDED, headers=headers)).status_code

        assert await status("holder") == 200
        assert await status("other") == 403  # the code is checked by the guard
        assert await status("pending") == 403  # so is a pending password change
        assert await status("nobody") == 401
        assert (await probe.get(GUARDED)).status_code == 401  # no token: resolver not asked
        assert seen == ["holder", "other", "pending", "nobody"]
    finally:
        guarded_app.state.principal_resolver = provided


async def test_without_an_identity_module_every_guarded_route_is_401(
    guarded_app: FastAPI, probe: httpx.AsyncClient
) -> None:
    provided = guarded_app.state.principal_resolver
    install_principal_resolver(guarded_app, [ModuleSpec(name="plain")])
    try:
        response = await probe.get(GUARDED, headers={"Authorization": "Bearer x"})
        assert response.status_code == 401
        assert response.json()["message"] == "No identity module is enabled"
    finally:
        guarded_app.state.principal_resolver = provided


def test_two_identity_modules_are_one_readable_error() -> None:
    other = ModuleSpec(name="ldap", principal_resolver=system_module.principal_resolver)
    with pytest.raises(ConfigError, match="system, ldap all provide the signed-in caller"):
        install_principal_resolver(FastAPI(), [system_module, other])


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_modules_guard_routes_through_the_core_only() -> None:
    """Outside the identity (system) module nothing imports its sign-in dependencies, and
    the generator's router template guards through the core too."""
    offenders = [
        f"{path.relative_to(ROOT)} imports app.modules.system.auth.deps"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if "app.modules.system.auth.deps" in imports_of(path)
        and ROOT / "app" / "modules" / "system" not in path.parents
    ]
    assert offenders == []
    template = ROOT / "app/devtools/generator/templates/router.py.jinja"
    assert "from app.core.guard import require" in template.read_text(encoding="utf-8")


def test_the_core_imports_no_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "app" / "core").rglob("*.py"))
        for name in sorted(imports_of(path))
        if name == "app.modules" or name.startswith("app.modules.")
    ]
    # app.core.modules lists the packages under app/modules (what `*` in MODULES stands for).
    assert offenders == ["app/core/modules.py imports app.modules"]


def test_modules_import_only_the_modules_they_depend_on() -> None:
    """Module imports follow `depends_on`, which `load_modules` refuses with a cycle: so the
    import graph between modules has none (identity is one module; system imports no other)."""
    from app.core.modules import load_module, local_modules

    offenders = []
    for name in local_modules():
        allowed = {name, *load_module(name).depends_on}
        for path in sorted((ROOT / "app" / "modules" / name).rglob("*.py")):
            for imported in sorted(imports_of(path)):
                parts = imported.split(".")
                if parts[:2] == ["app", "modules"] and len(parts) > 2 and parts[2] not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offenders == []
    assert load_module("system").depends_on == ()
