"""Roles: CRUD through HTTP, validation, the "grant only what you hold" rule, and grants
that change on the holders' next request.

docs/security-checklist.md §0 #4 (mass assignment, escalation), §0 #8 / ASVS 8.3.2 (changes apply at
once),
§0 #12 (sort whitelist); ASVS 8.2.1-8.2.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.menu.models import Menu
from app.modules.system.permissions import (
    ROLE_CREATE,
    ROLE_DELETE,
    ROLE_LIST,
    ROLE_READ,
    ROLE_UPDATE,
    USER_LIST,
)
from app.modules.system.role.models import Role, role_dept, role_menu
from app.modules.system.user.models import user_role
from tests.modules.system.user.helpers import (
    ROLE_FIELDS,
    ROLES,
    USERS,
    menus,
    secret_keys,
    seed,
    signed_in,
    superuser,
)
from tests.support.identity import auth_headers, create_dept, create_role, create_user

ROLE_ADMIN = [ROLE_LIST, ROLE_READ, ROLE_CREATE, ROLE_UPDATE, ROLE_DELETE]


async def _depts(app: FastAPI, *names: str) -> list[int]:
    async def build(db: AsyncSession) -> list[int]:
        return [(await create_dept(db, name=name)).id for name in names]

    return await seed(app, build)


async def _role(app: FastAPI, permissions: Sequence[str] = (), **kw: Any) -> Role:
    return await seed(app, lambda db: create_role(db, permissions=permissions, **kw))


async def _count(app: FastAPI, table: object, role_id: int) -> int:
    async with app.state.sessionmaker() as db:
        column = table.c.role_id  # type: ignore[attr-defined]
        return int((await db.execute(select(func.count()).where(column == role_id))).scalar_one())


# ------------------------------------------------------------------------------- CRUD --


async def test_create_get_and_list_a_role(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    m1, m2 = await menus(app, USER_LIST, ROLE_LIST)
    d1, d2 = await _depts(app, "A", "B")
    body = {
        "name": "Auditors",
        "code": "auditors",
        "sort": 3,
        "data_scope": "custom",
        "dept_ids": [d2, d1, d2],
        "menu_ids": [m2.id, m1.id],
        "require_mfa": True,
        "remark": "read only",
    }
    response = await client.post(ROLES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == ROLE_FIELDS
    assert (data["name"], data["code"], data["status"], data["sort"]) == (
        "Auditors",
        "auditors",
        "active",
        3,
    )
    assert data["data_scope"] == "custom"
    assert data["dept_ids"] == sorted([d1, d2])
    assert data["menu_ids"] == sorted([m1.id, m2.id])
    assert (data["require_mfa"], data["remark"]) == (True, "read only")
    got = await client.get(f"{ROLES}/{data['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == data
    listed = (await client.get(ROLES, headers=headers)).json()["data"]
    assert listed["total"] == 1
    assert listed["items"] == [data]
    assert secret_keys(listed) == []
    assert (await client.get(f"{ROLES}/987654", headers=headers)).status_code == 404


async def test_create_defaults(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    response = await client.post(ROLES, json={"name": "Plain", "code": "plain"}, headers=headers)
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["status"], data["sort"], data["data_scope"]) == ("active", 0, "self")
    assert (data["menu_ids"], data["dept_ids"], data["require_mfa"]) == ([], [], False)


async def test_patch_is_partial_and_replaces_grants(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    m1, m2, m3 = await menus(app, "system:user:read", "system:user:create", "system:user:update")
    d1, d2 = await _depts(app, "A", "B")
    created = await client.post(
        ROLES,
        json={"name": "R", "code": "r", "menu_ids": [m1.id, m2.id], "dept_ids": [d1]},
        headers=headers,
    )
    role_id = created.json()["data"]["id"]
    renamed = await client.patch(f"{ROLES}/{role_id}", json={"name": "R2"}, headers=headers)
    assert renamed.status_code == 200
    data = renamed.json()["data"]
    assert (data["name"], data["code"]) == ("R2", "r")
    assert (data["menu_ids"], data["dept_ids"]) == (sorted([m1.id, m2.id]), [d1])
    replaced = await client.patch(
        f"{ROLES}/{role_id}",
        json={"menu_ids": [m3.id], "dept_ids": [d2], "data_scope": "dept", "sort": 7},
        headers=headers,
    )
    data = replaced.json()["data"]
    assert (data["menu_ids"], data["dept_ids"]) == ([m3.id], [d2])
    assert (data["data_scope"], data["sort"], data["name"]) == ("dept", 7, "R2")
    assert await _count(app, role_menu, role_id) == 1
    cleared = await client.patch(f"{ROLES}/{role_id}", json={"menu_ids": []}, headers=headers)
    assert cleared.json()["data"]["menu_ids"] == []
    assert await _count(app, role_menu, role_id) == 0


async def test_delete_role_in_use_removes_every_link(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    (dept,) = await _depts(app, "A")
    role = await _role(app, [USER_LIST], data_scope="custom", dept_ids=[dept])
    holder = await seed(app, lambda db: create_user(db, roles=[role]))
    response = await client.delete(f"{ROLES}/{role.id}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    for table in (role_menu, role_dept, user_role):
        assert await _count(app, table, role.id) == 0
    assert (await client.get(f"{ROLES}/{role.id}", headers=headers)).status_code == 404
    assert (await client.delete(f"{ROLES}/{role.id}", headers=headers)).status_code == 404
    user = (await client.get(f"{USERS}/{holder.id}", headers=headers)).json()["data"]
    assert user["role_ids"] == []


# ------------------------------------------------------------------------- validation --


async def test_duplicate_code_is_409_naming_code(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    await _role(app, code="editors")
    for code in ("editors", "EDITORS"):
        response = await client.post(ROLES, json={"name": "E", "code": code}, headers=headers)
        assert response.status_code == 409
        assert response.json()["errors"][0]["field"] == "code"
    other = await _role(app, code="other")
    response = await client.patch(f"{ROLES}/{other.id}", json={"code": "Editors"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "code"
    same = await client.patch(f"{ROLES}/{other.id}", json={"code": "OTHER"}, headers=headers)
    assert same.status_code == 200


@pytest.mark.parametrize("field", ["menu_ids", "dept_ids"])
async def test_unknown_ids_are_422_naming_the_field(
    client: httpx.AsyncClient, app: FastAPI, field: str
) -> None:
    _, headers = await superuser(app)
    body = {"name": "X", "code": "x", field: [987654]}
    response = await client.post(ROLES, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    role = await _role(app)
    response = await client.patch(f"{ROLES}/{role.id}", json={field: [987654]}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "Bad Code"}, "code"),
        ({"code": ""}, "code"),
        ({"name": ""}, "name"),
        ({"data_scope": "everything"}, "data_scope"),
        ({"status": "on"}, "status"),
        ({"sort": -1}, "sort"),
        ({"menu_ids": [0]}, "menu_ids.0"),
        ({"id": 5}, "id"),
        ({"version": 5}, "version"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"permissions": ["*"]}, "permissions"),
    ],
)
async def test_create_validation_and_mass_assignment(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, object], field: str
) -> None:
    """§0 #4: unknown fields are a 422, never silently applied."""
    _, headers = await superuser(app)
    response = await client.post(ROLES, json={"name": "N", "code": "n", **body}, headers=headers)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_patch_rejects_nulls_and_unknown_fields(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    role = await _role(app)
    for body, field in (
        ({"name": None}, "name"),
        ({"menu_ids": None}, "menu_ids"),
        ({"data_scope": None}, "data_scope"),
        ({"version": 0}, "version"),  # a precondition (optimistic lock); 0 is impossible
        ({"id": 1}, "id"),
    ):
        response = await client.patch(f"{ROLES}/{role.id}", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field


# ------------------------------------------------------------------------------ lists --


async def test_list_filters_and_sorting(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)

    async def build(db: AsyncSession) -> None:
        await create_role(db, name="Zeta admin", code="zeta", sort=2)
        await create_role(db, name="Alpha admin", code="alpha", sort=2)
        await create_role(db, name="Beta", code="beta", sort=1, status="disabled")

    await seed(app, build)

    async def codes(**params: str) -> list[str]:
        response = await client.get(ROLES, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["code"] for item in response.json()["data"]["items"]]

    assert await codes() == ["beta", "zeta", "alpha"]  # default: sort, then id
    assert await codes(sort="name") == ["alpha", "beta", "zeta"]
    assert await codes(sort="-code") == ["zeta", "beta", "alpha"]
    assert await codes(sort="-sort,code") == ["alpha", "zeta", "beta"]
    assert await codes(name="ADMIN", sort="code") == ["alpha", "zeta"]
    assert await codes(code="ALPHA") == ["alpha"]
    assert await codes(code="alp") == []  # exact, not contains
    assert await codes(status="disabled") == ["beta"]
    for sort in ("remark", "code;DROP TABLE sys_role", "(select 1)"):
        response = await client.get(ROLES, params={"sort": sort}, headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "sort"


# ------------------------------------------------------------------------ permissions --


ROUTES = [
    ("GET", ROLES, ROLE_LIST),
    ("GET", f"{ROLES}/{{id}}", ROLE_READ),
    ("POST", ROLES, ROLE_CREATE),
    ("PATCH", f"{ROLES}/{{id}}", ROLE_UPDATE),
    ("DELETE", f"{ROLES}/{{id}}", ROLE_DELETE),
]


@pytest.mark.parametrize(("method", "path", "code"), ROUTES)
async def test_each_route_needs_its_permission(
    client: httpx.AsyncClient, app: FastAPI, method: str, path: str, code: str
) -> None:
    """§0 #1, #2: 401 without a token, 403 without the permission, served with it."""
    target = await _role(app)
    url = path.format(id=target.id)
    body = {"name": "S", "code": "s-new"} if method in ("POST", "PATCH") else None
    assert (await client.request(method, url, json=body)).status_code == 401
    _, denied_headers = await signed_in(app, [c for c in ROLE_ADMIN if c != code])
    denied = await client.request(method, url, json=body, headers=denied_headers)
    assert denied.status_code == 403
    _, headers = await signed_in(app, [code])
    allowed = await client.request(method, url, json=body, headers=headers)
    assert allowed.status_code in (200, 201, 204), allowed.text


# ------------------------------------------------------------- grant what you hold --


async def test_non_superuser_cannot_put_menus_they_do_not_hold_into_a_role(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #4, ASVS 8.2.3: on create and on update; removing a menu is always allowed."""
    _, headers = await signed_in(app, [*ROLE_ADMIN, USER_LIST])
    held, unheld = await menus(app, USER_LIST, "system:user:delete")
    directory = await seed(app, lambda db: _directory(db))
    body = {"name": "Esc", "code": "esc", "menu_ids": [held.id, unheld.id]}
    response = await client.post(ROLES, json=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "menu_ids"
    assert "permissions you do not hold" in response.json()["message"]
    ok = await client.post(ROLES, json={**body, "menu_ids": [held.id, directory]}, headers=headers)
    assert ok.status_code == 201, ok.text
    role_id = ok.json()["data"]["id"]
    response = await client.patch(
        f"{ROLES}/{role_id}", json={"menu_ids": [held.id, unheld.id]}, headers=headers
    )
    assert response.status_code == 403
    assert await _count(app, role_menu, role_id) == 2
    # A role someone else filled with more than the caller holds is beyond them: stripping
    # it is acting on it too (docs/access-control.md, "power over others").
    strong = await _role(app, [USER_LIST, "system:user:delete"])
    narrowed = await client.patch(
        f"{ROLES}/{strong.id}", json={"menu_ids": [held.id]}, headers=headers
    )
    assert narrowed.status_code == 403
    assert await _count(app, role_menu, strong.id) == 2
    # A role within the caller's power may be narrowed.
    own = await _role(app, [USER_LIST])
    narrowed = await client.patch(f"{ROLES}/{own.id}", json={"menu_ids": []}, headers=headers)
    assert narrowed.status_code == 200
    assert narrowed.json()["data"]["menu_ids"] == []


async def _directory(db: AsyncSession) -> int:
    menu = Menu(type="directory", title="System")
    db.add(menu)
    await db.flush()
    return menu.id


async def test_non_superuser_cannot_enable_a_role_stronger_than_themselves(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Enabling hands a disabled role's grants back to its holders: it is a grant."""
    _, headers = await signed_in(app, [*ROLE_ADMIN, USER_LIST])
    strong = await _role(app, [USER_LIST, "system:user:delete"], status="disabled")
    response = await client.patch(
        f"{ROLES}/{strong.id}", json={"status": "active"}, headers=headers
    )
    assert response.status_code == 403
    weak = await _role(app, [USER_LIST], status="disabled")
    response = await client.patch(f"{ROLES}/{weak.id}", json={"status": "active"}, headers=headers)
    assert response.status_code == 200
    # Disabling the stronger role is acting on it as well: refused; the weaker one is fine.
    disabled = await client.patch(
        f"{ROLES}/{strong.id}", json={"status": "disabled", "name": "Off"}, headers=headers
    )
    assert disabled.status_code == 403
    disabled = await client.patch(
        f"{ROLES}/{weak.id}", json={"status": "disabled"}, headers=headers
    )
    assert disabled.status_code == 200


async def test_superuser_may_put_any_menu_into_a_role(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    (menu,) = await menus(app, "system:role:delete")
    body = {"name": "Any", "code": "any", "menu_ids": [menu.id], "data_scope": "all"}
    assert (await client.post(ROLES, json=body, headers=headers)).status_code == 201


async def test_non_superuser_cannot_grant_a_wider_data_scope(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A "dept" admin of A: no scope "all", no custom B; custom A and relative scopes are fine."""
    a, b = await _depts(app, "A", "B")
    _, headers = await signed_in(app, ROLE_ADMIN, data_scope="dept", dept_id=a)
    for body, field in (
        ({"data_scope": "all"}, "data_scope"),
        ({"data_scope": "custom", "dept_ids": [a, b]}, "dept_ids"),
    ):
        response = await client.post(
            ROLES, json={"name": "W", "code": "wide", **body}, headers=headers
        )
        assert response.status_code == 403, body
        assert response.json()["errors"][0]["field"] == field
    narrow: list[dict[str, Any]] = [
        {"data_scope": "custom", "dept_ids": [a]},
        {"data_scope": "dept"},
        {"data_scope": "self", "dept_ids": [b]},  # stored, ignored outside "custom"
    ]
    for i, body in enumerate(narrow):
        response = await client.post(
            ROLES, json={"name": "N", "code": f"narrow-{i}", **body}, headers=headers
        )
        assert response.status_code == 201, (body, response.text)
    role_id = response.json()["data"]["id"]
    # ...but switching that role to "custom" would make the stored B count.
    response = await client.patch(
        f"{ROLES}/{role_id}", json={"data_scope": "custom"}, headers=headers
    )
    assert response.status_code == 403
    response = await client.patch(f"{ROLES}/{role_id}", json={"data_scope": "all"}, headers=headers)
    assert response.status_code == 403
    async with app.state.sessionmaker() as db:
        stored = await db.get(Role, role_id)
        assert stored is not None and stored.data_scope == "self"


async def test_non_superuser_cannot_widen_a_role_held_outside_their_scope(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A "dept" role held by a user of B reaches B: an admin of A cannot add to it."""
    a, b = await _depts(app, "A", "B")
    _, headers = await signed_in(app, [*ROLE_ADMIN, USER_LIST], data_scope="dept", dept_id=a)
    (held,) = await menus(app, USER_LIST)
    role = await _role(app, data_scope="dept")
    await seed(app, lambda db: create_user(db, dept_id=b, roles=[role]))
    response = await client.patch(
        f"{ROLES}/{role.id}", json={"menu_ids": [held.id]}, headers=headers
    )
    assert response.status_code == 403
    own = await _role(app, data_scope="dept")
    await seed(app, lambda db: create_user(db, dept_id=a, roles=[own]))
    response = await client.patch(
        f"{ROLES}/{own.id}", json={"menu_ids": [held.id]}, headers=headers
    )
    assert response.status_code == 200


# --------------------------------------------------------- changes apply at once --


async def test_removing_a_permission_from_a_role_applies_on_the_next_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #8, ASVS 8.3.2: the holder's old token is refused on its very next request."""
    _, admin = await superuser(app)
    (list_menu, read_menu) = await menus(app, USER_LIST, "system:user:read")
    role = await _role(app, [USER_LIST, "system:user:read"])
    holder = await seed(app, lambda db: create_user(db, roles=[role]))
    headers = await auth_headers(app, holder)
    assert (await client.get(USERS, headers=headers)).status_code == 200
    response = await client.patch(
        f"{ROLES}/{role.id}", json={"menu_ids": [read_menu.id]}, headers=admin
    )
    assert response.status_code == 200
    assert (await client.get(USERS, headers=headers)).status_code == 403
    assert (await client.get(f"{USERS}/{holder.id}", headers=headers)).status_code == 200
    await client.patch(f"{ROLES}/{role.id}", json={"menu_ids": [list_menu.id]}, headers=admin)
    assert (await client.get(USERS, headers=headers)).status_code == 200


async def test_deleting_a_role_removes_its_grants_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, admin = await superuser(app)
    role = await _role(app, [USER_LIST])
    holder = await seed(app, lambda db: create_user(db, roles=[role]))
    headers = await auth_headers(app, holder)
    assert (await client.get(USERS, headers=headers)).status_code == 200
    assert (await client.delete(f"{ROLES}/{role.id}", headers=admin)).status_code == 204
    assert (await client.get(USERS, headers=headers)).status_code == 403


async def test_a_disabled_role_stops_granting_and_an_enabled_one_grants_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, admin = await superuser(app)
    role = await _role(app, [USER_LIST])
    holder = await seed(app, lambda db: create_user(db, roles=[role]))
    headers = await auth_headers(app, holder)
    assert (await client.get(USERS, headers=headers)).status_code == 200
    disabled = await client.patch(f"{ROLES}/{role.id}", json={"status": "disabled"}, headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["data"]["status"] == "disabled"
    assert (await client.get(USERS, headers=headers)).status_code == 403
    await client.patch(f"{ROLES}/{role.id}", json={"status": "active"}, headers=admin)
    assert (await client.get(USERS, headers=headers)).status_code == 200


async def test_changing_a_role_scope_applies_on_the_next_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    a, b = await _depts(app, "A", "B")
    _, admin = await superuser(app)
    role = await _role(app, [USER_LIST], data_scope="all")
    holder = await seed(app, lambda db: create_user(db, roles=[role], dept_id=a))
    b_user = await seed(app, lambda db: create_user(db, dept_id=b))
    headers = await auth_headers(app, holder)

    async def visible() -> set[int]:
        return {i["id"] for i in (await client.get(USERS, headers=headers)).json()["data"]["items"]}

    assert b_user.id in await visible()
    response = await client.patch(f"{ROLES}/{role.id}", json={"data_scope": "dept"}, headers=admin)
    assert response.status_code == 200
    assert await visible() == {holder.id}
