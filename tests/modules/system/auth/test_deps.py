"""The warm path: authentication and authorization make zero database queries with a shared
cache (one, the revocation epoch, with the in-process cache of the lite shape), yet every
change to sessions, users, roles or menus is seen on the very next request (ASVS 8.3.2)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, update

from app.modules.system.auth import authz
from app.modules.system.role.models import role_menu
from app.modules.system.user.models import User
from tests.support.identity import auth_headers, create_role, create_user
from tests.support.queries import counting


async def test_warm_request_makes_no_query_and_changes_apply_next_request(
    probe_app: FastAPI, probe: httpx.AsyncClient
) -> None:
    async with probe_app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["system:user:list"])
        user = await create_user(db, roles=[role])
    headers = await auth_headers(probe_app, user)
    with counting(probe_app) as statements:
        assert (await probe.get("/__test/guarded", headers=headers)).status_code == 200
        assert statements, "the first request builds the principal from the database"
        statements.clear()
        for _ in range(3):
            assert (await probe.get("/__test/guarded", headers=headers)).status_code == 200
        if probe_app.state.cache.backend == "memory":
            # The lite shape: one primary-key read per request, nothing else.
            assert len(statements) == 3, statements
            assert all("auth_revocation_epoch" in statement for statement in statements)
        else:
            assert statements == []

    # Revoke the grant behind the API's back, then invalidate as the services do.
    async with probe_app.state.sessionmaker() as db, db.begin():
        await db.execute(delete(role_menu).where(role_menu.c.role_id == role.id))
    await authz.invalidate_all(probe_app.state.cache)
    assert (await probe.get("/__test/guarded", headers=headers)).status_code == 403

    async with probe_app.state.sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == user.id).values(status="disabled"))
    await authz.invalidate_user(probe_app.state.cache, user.id)
    assert (await probe.get("/__test/guarded", headers=headers)).status_code == 401


async def test_missing_and_malformed_credentials_are_401(probe: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer a.b.c"},
    ):
        response = await probe.get("/__test/guarded", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
