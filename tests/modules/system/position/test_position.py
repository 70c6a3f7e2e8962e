"""Positions (`/api/v1/system/positions`): CRUD, unique codes, the in-use guard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from app.modules.system.permissions import (
    POSITION_CREATE,
    POSITION_DELETE,
    POSITION_LIST,
    POSITION_READ,
    POSITION_UPDATE,
)
from app.modules.system.position.models import Position
from app.modules.system.user.models import user_position
from tests.support.identity import (
    create_user,
    holder_headers,
    superuser_headers,
)

URL = "/api/v1/system/positions"
ALL_POSITION = [POSITION_LIST, POSITION_READ, POSITION_CREATE, POSITION_UPDATE, POSITION_DELETE]
READ_FIELDS = {"id", "name", "code", "sort", "status", "remark", "created_at", "updated_at"}


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def count_positions(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(Position)) or 0)


async def test_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await holder_headers(app, ALL_POSITION)
    position = await post(client, headers, name=" Engineer ", code="eng", sort=2, remark="IC")
    assert set(position) == READ_FIELDS
    assert (position["name"], position["code"], position["sort"], position["status"]) == (
        "Engineer",
        "eng",
        2,
        "active",
    )
    assert position["remark"] == "IC"

    got = await client.get(f"{URL}/{position['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == position

    patched = await client.patch(
        f"{URL}/{position['id']}",
        json={"name": "Senior engineer", "status": "disabled", "remark": None},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["name"], data["status"], data["remark"], data["code"]) == (
        "Senior engineer",
        "disabled",
        None,
        "eng",
    )

    deleted = await client.delete(f"{URL}/{position['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(f"{URL}/{position['id']}", headers=headers)).status_code == 404
    assert await count_positions(app) == 0


async def test_missing_position_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    response = await client.get(f"{URL}/424242", headers=headers)
    assert response.status_code == 404
    assert response.json()["message"] == "Position not found"
    assert (
        await client.patch(f"{URL}/424242", json={"sort": 1}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{URL}/424242", headers=headers)).status_code == 404


async def test_list_filters_sorting_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    headers = await superuser_headers(app)
    await post(client, headers, name="Manager", code="mgr", sort=2)
    await post(client, headers, name="Engineering manager", code="eng-mgr", sort=1)
    await post(client, headers, name="Clerk", code="clerk", sort=3, status="disabled")

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["code"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["eng-mgr", "mgr", "clerk"]
    assert await listed("name=MANAGER") == ["eng-mgr", "mgr"]
    assert await listed("name=_") == []  # LIKE wildcards are literal
    assert await listed("code=MGR") == ["mgr"]
    assert await listed("status=disabled") == ["clerk"]
    assert await listed("sort=-code") == ["mgr", "eng-mgr", "clerk"]
    assert await listed("sort=name") == ["clerk", "eng-mgr", "mgr"]
    assert await listed("sort=-created_at") == ["clerk", "eng-mgr", "mgr"]

    page = (await client.get(f"{URL}?page=2&page_size=2", headers=headers)).json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    assert [item["code"] for item in page["items"]] == ["clerk"]

    for bad in ("sort=remark", "sort=code%20desc", "status=x", "page=0"):
        response = await client.get(f"{URL}?{bad}", headers=headers)
        assert response.status_code == 422, bad


async def test_duplicate_code_is_409_naming_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    await post(client, headers, name="Manager", code="mgr")
    other = await post(client, headers, name="Clerk", code="clerk")
    for code in ("mgr", "MGR"):
        response = await client.post(URL, json={"name": "Again", "code": code}, headers=headers)
        assert response.status_code == 409
        assert [e["field"] for e in response.json()["errors"]] == ["code"]
    response = await client.patch(f"{URL}/{other['id']}", json={"code": "mgr"}, headers=headers)
    assert response.status_code == 409
    assert [e["field"] for e in response.json()["errors"]] == ["code"]
    assert await count_positions(app) == 2


async def test_delete_refused_while_assigned(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    position = await post(client, headers, name="Manager", code="mgr")
    async with app.state.sessionmaker() as db, db.begin():
        holder = await create_user(db)
        await db.execute(
            insert(user_position).values(user_id=holder.id, position_id=position["id"])
        )

    response = await client.delete(f"{URL}/{position['id']}", headers=headers)
    assert response.status_code == 409
    assert "position is assigned to users" in response.json()["message"]
    assert await count_positions(app) == 1

    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(user_position.delete())
    assert (await client.delete(f"{URL}/{position['id']}", headers=headers)).status_code == 204


async def test_permissions_are_required(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #2: no token is 401, a token without the permission is 403, on every route."""
    async with app.state.sessionmaker() as db, db.begin():
        position = Position(name="P", code="p")
        db.add(position)
    routes = [
        ("GET", URL, None, POSITION_LIST),
        ("GET", f"{URL}/{position.id}", None, POSITION_READ),
        ("POST", URL, {"name": "N", "code": "n"}, POSITION_CREATE),
        ("PATCH", f"{URL}/{position.id}", {"name": "N"}, POSITION_UPDATE),
        ("DELETE", f"{URL}/{position.id}", None, POSITION_DELETE),
    ]
    for method, url, body, needed in routes:
        assert (await client.request(method, url, json=body)).status_code == 401
        others = [code for code in ALL_POSITION if code != needed]
        denied = await client.request(
            method, url, json=body, headers=await holder_headers(app, others)
        )
        assert denied.status_code == 403, (method, url)
    assert await count_positions(app) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "code": "x", "id": 7}, "id"),
        ({"name": "X", "code": "x", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"name": " ", "code": "x"}, "name"),
        ({"name": "X", "code": "x" * 65}, "code"),
        ({"name": "X", "code": "-x"}, "code"),
        ({"name": "X", "code": "x", "status": "on"}, "status"),
        ({"name": "X", "code": "x", "sort": "first"}, "sort"),
        ({"name": "X", "code": "x", "remark": "r" * 501}, "remark"),
    ],
)
async def test_create_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """§0 #4: unknown fields (mass assignment) are a 422 naming them."""
    headers = await superuser_headers(app)
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await count_positions(app) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [({"id": 9}, "id"), ({"code": None}, "code"), ({"updated_at": None}, "updated_at")],
)
async def test_update_rejects_bad_input(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    headers = await superuser_headers(app)
    position = await post(client, headers, name="Manager", code="mgr")
    response = await client.patch(f"{URL}/{position['id']}", json=body, headers=headers)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await client.get(f"{URL}/{position['id']}", headers=headers)).json()["data"] == position
