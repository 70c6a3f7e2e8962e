"""Users and data scope: docs/security-checklist.md §0 #3 (ASVS 8.2.2, 8.4.1, API1).

The caller's role is scoped "dept" on department A. Users of department B are "not found" on
read, update, delete and reset, and absent from the list and the export; users of A are
served. The export holds exactly the ids the list holds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.permissions import (
    USER_CREATE,
    USER_DELETE,
    USER_EXPORT,
    USER_LIST,
    USER_READ,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import USERS, seed, signed_in
from tests.support.identity import create_dept, create_user

ALL_USER_PERMISSIONS = [
    USER_LIST,
    USER_READ,
    USER_CREATE,
    USER_UPDATE,
    USER_DELETE,
    USER_RESET_PASSWORD,
    USER_EXPORT,
]


@dataclass
class World:
    dept_a: int
    dept_a_child: int
    dept_b: int
    a_users: list[User]
    a_child_user: User
    b_users: list[User]
    no_dept_user: User


@pytest.fixture
async def world(app: FastAPI) -> World:
    async def build(db: AsyncSession) -> World:
        a = await create_dept(db, name="A")
        a_child = await create_dept(db, name="A child", parent=a)
        b = await create_dept(db, name="B")
        return World(
            dept_a=a.id,
            dept_a_child=a_child.id,
            dept_b=b.id,
            a_users=[await create_user(db, dept_id=a.id) for _ in range(2)],
            a_child_user=await create_user(db, dept_id=a_child.id),
            b_users=[await create_user(db, dept_id=b.id) for _ in range(2)],
            no_dept_user=await create_user(db),
        )

    return await seed(app, build)


async def _scoped_admin(
    app: FastAPI, world: World, data_scope: str = "dept"
) -> tuple[User, dict[str, str]]:
    return await signed_in(app, ALL_USER_PERMISSIONS, data_scope=data_scope, dept_id=world.dept_a)


def _ids(response: httpx.Response) -> set[int]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]["items"]}


def _export_ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    return [int(row["id"]) for row in rows]


async def test_dept_scope_hides_other_departments_on_every_operation(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    """§0 #3: B users are 404 on get/update/delete/reset; A users are served."""
    _, headers = await _scoped_admin(app, world)
    b1 = world.b_users[0]
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"name": "Hacked"}),
        ("DELETE", "", None),
        ("POST", "/reset-password", None),
    ):
        response = await client.request(
            method, f"{USERS}/{b1.id}{suffix}", json=body, headers=headers
        )
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["message"] == "User not found"
    async with app.state.sessionmaker() as db:
        stored = await db.get(User, b1.id)
        assert stored is not None
        assert (stored.name, stored.password_hash) == (b1.name, b1.password_hash)
    a1, a2 = world.a_users
    assert (await client.get(f"{USERS}/{a1.id}", headers=headers)).status_code == 200
    patched = await client.patch(f"{USERS}/{a1.id}", json={"name": "Fine"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json()["data"]["name"] == "Fine"
    reset = await client.post(f"{USERS}/{a1.id}/reset-password", headers=headers)
    assert reset.status_code == 200
    assert (await client.delete(f"{USERS}/{a2.id}", headers=headers)).status_code == 204


async def test_dept_scope_list_and_export_hold_the_same_ids(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    """§0 #3: no B id in the list or the export, by default or through filters."""
    admin, headers = await _scoped_admin(app, world)
    expected = {u.id for u in world.a_users} | {admin.id}
    listed = _ids(await client.get(USERS, params={"page_size": 100}, headers=headers))
    assert listed == expected
    exported = _export_ids(await client.get(f"{USERS}/export", headers=headers))
    assert sorted(exported) == exported
    assert set(exported) == listed and len(exported) == len(listed)
    for params in (
        {"dept_id": world.dept_b},
        {"dept_id": world.dept_b, "include_children": False},
        {"username": world.b_users[0].username},
    ):
        assert _ids(await client.get(USERS, params=params, headers=headers)) == set()
        assert (
            _export_ids(await client.get(f"{USERS}/export", params=params, headers=headers)) == []
        )


async def test_dept_and_children_scope_reaches_the_subtree(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    admin, headers = await _scoped_admin(app, world, data_scope="dept_and_children")
    expected = {u.id for u in world.a_users} | {world.a_child_user.id, admin.id}
    assert _ids(await client.get(USERS, params={"page_size": 100}, headers=headers)) == expected
    export = _export_ids(await client.get(f"{USERS}/export", headers=headers))
    assert set(export) == expected
    child = world.a_child_user.id
    assert (await client.get(f"{USERS}/{child}", headers=headers)).status_code == 200
    b = world.b_users[0].id
    assert (await client.get(f"{USERS}/{b}", headers=headers)).status_code == 404


async def test_dept_scope_excludes_sub_departments(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    _, headers = await _scoped_admin(app, world)
    child = world.a_child_user.id
    assert (await client.get(f"{USERS}/{child}", headers=headers)).status_code == 404
    filtered = await client.get(USERS, params={"dept_id": world.dept_a}, headers=headers)
    assert child not in _ids(filtered)


async def test_custom_scope_sees_only_the_listed_departments(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    admin, headers = await signed_in(
        app, ALL_USER_PERMISSIONS, data_scope="custom", scope_dept_ids=[world.dept_b]
    )
    expected = {u.id for u in world.b_users}
    assert _ids(await client.get(USERS, headers=headers)) == expected
    assert set(_export_ids(await client.get(f"{USERS}/export", headers=headers))) == expected
    a = world.a_users[0].id
    assert (await client.get(f"{USERS}/{a}", headers=headers)).status_code == 404
    assert admin.id not in expected


async def test_self_scope_sees_only_oneself(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    me, headers = await signed_in(
        app, ALL_USER_PERMISSIONS, data_scope="self", dept_id=world.dept_a
    )
    assert _ids(await client.get(USERS, headers=headers)) == {me.id}
    assert _export_ids(await client.get(f"{USERS}/export", headers=headers)) == [me.id]
    assert (await client.get(f"{USERS}/{me.id}", headers=headers)).status_code == 200
    a = world.a_users[0].id
    assert (await client.get(f"{USERS}/{a}", headers=headers)).status_code == 404
    assert (
        await client.patch(f"{USERS}/{a}", json={"name": "x"}, headers=headers)
    ).status_code == 404


async def test_dept_scope_without_a_department_sees_nobody(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    """An empty scope fails closed: nothing is listed or exported (never everything)."""
    me, headers = await signed_in(app, [USER_LIST, USER_EXPORT], data_scope="dept")
    assert _ids(await client.get(USERS, headers=headers)) == set()
    assert _export_ids(await client.get(f"{USERS}/export", headers=headers)) == []
    assert me.dept_id is None
