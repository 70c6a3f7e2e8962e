"""Initial data: idempotent, one button per declared permission code, a working admin."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from app.core.access import registry
from app.core.config import Settings
from app.modules.system.bootstrap import load_initial_data
from app.modules.system.dept.models import Dept
from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role
from app.modules.system.user.models import User

ADMIN_PASSWORD = "a long tea kettle phrase 42"


async def _load(app: FastAPI, settings: Settings) -> None:
    configured = settings.model_copy(update={"init_admin_password": SecretStr(ADMIN_PASSWORD)})
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)


async def _counts(app: FastAPI) -> dict[str, int]:
    async with app.state.sessionmaker() as db:
        return {
            model.__tablename__: int(
                (await db.execute(select(func.count()).select_from(model))).scalar_one()
            )
            for model in (Dept, Menu, Role, User)
        }


async def test_init_is_idempotent_and_covers_every_permission(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient
) -> None:
    await _load(app, settings)
    first = await _counts(app)
    await _load(app, settings)
    assert await _counts(app) == first
    async with app.state.sessionmaker() as db:
        buttons = set(
            (
                await db.execute(select(Menu.permission).where(Menu.permission.is_not(None)))
            ).scalars()
        )
        orphans = (
            await db.execute(
                select(func.count())
                .select_from(Menu)
                .where(Menu.type == "button", Menu.parent_id.is_(None))
            )
        ).scalar_one()
    assert {p.code for p in registry.all()} <= buttons
    assert orphans == 0, "every button hangs under its resource's page"

    response = await client.post(
        "/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).json()[
        "data"
    ]
    assert me["is_superuser"] is True
    assert me["roles"] == ["admin"]
    menus = (
        await client.get("/api/v1/auth/me/menus", headers={"Authorization": f"Bearer {token}"})
    ).json()["data"]
    titles = [m["title"] for m in menus]
    # The built-in modules' menus first (by their sort), then the sample modules' (enabled in
    # tests).
    assert titles[:4] == ["System", "Monitor", "Scheduler", "Files"]


async def test_generated_admin_password_must_be_changed(
    app: FastAPI, settings: Settings, capsys: pytest.CaptureFixture[str], client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, settings.model_copy(update={"init_admin_password": None}))
    printed = capsys.readouterr().out
    password = printed.split("one-time password: ")[1].split()[0]
    response = await client.post(
        "/api/v1/auth/login", data={"username": "admin", "password": password}
    )
    assert response.status_code == 200
    assert response.json()["password_change_required"] is True
