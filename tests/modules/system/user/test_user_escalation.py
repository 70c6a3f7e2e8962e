"""Users: the anti-escalation rules, one test (or more) each.

docs/security-checklist.md §0 #4 and §1.3 "self-protection rules"; ASVS 8.2.1-8.2.3, 8.3.2, 15.3.3.

1. Nobody grants what they do not hold (permissions and data scope of assigned roles).
2. Only a superuser manages a superuser; more generally a non-superuser manages only users
   whose roles are within their own power. `is_superuser` is never settable.
3. Nobody changes their own roles, department or status, resets their own password or
   deletes themselves here.
4. The last active superuser cannot be disabled or deleted.
5. A department outside the caller's scope cannot be assigned (403 naming `dept_id`); an
   unknown one is a 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.permissions import (
    ROLE_DELETE,
    USER_CREATE,
    USER_DELETE,
    USER_LIST,
    USER_READ,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.role.models import Role
from app.modules.system.user.models import User, user_role
from tests.modules.system.user.helpers import GOOD_PASSWORD, USERS, seed, signed_in, superuser
from tests.support.identity import create_dept, create_role, create_user

MANAGE = [USER_LIST, USER_READ, USER_CREATE, USER_UPDATE, USER_DELETE, USER_RESET_PASSWORD]
GRANT_DENIED = "You cannot grant a role with permissions you do not hold"


def _user_factory(**fields: Any) -> Callable[[AsyncSession], Awaitable[User]]:
    async def build(db: AsyncSession) -> User:
        return await create_user(db, **fields)

    return build


def _new(username: str, **fields: object) -> dict[str, object]:
    return {"username": username, "name": "New", "password": GOOD_PASSWORD, **fields}


async def _role(
    app: FastAPI,
    permissions: Sequence[str],
    data_scope: str = "all",
    dept_ids: Sequence[int] = (),
    **kw: object,
) -> Role:
    return await seed(
        app,
        lambda db: create_role(
            db, permissions=permissions, data_scope=data_scope, dept_ids=dept_ids, **kw
        ),
    )


async def _role_ids(app: FastAPI, user_id: int) -> list[int]:
    async with app.state.sessionmaker() as db:
        rows = await db.execute(
            select(user_role.c.role_id).where(user_role.c.user_id == user_id).order_by("role_id")
        )
        return list(rows.scalars())


async def _count_users(app: FastAPI, username: str) -> int:
    async with app.state.sessionmaker() as db:
        rows = await db.execute(select(User.id).where(User.username == username))
        return len(rows.all())


# --------------------------------------------------------------- 1. grant what you hold --


async def test_rule1_cannot_assign_a_role_with_permissions_you_do_not_hold(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #4, ASVS 8.2.3: create and update both refuse; nothing is written."""
    _, headers = await signed_in(app, MANAGE)
    stronger = await _role(app, [USER_LIST, ROLE_DELETE])
    equal = await _role(app, [USER_LIST, USER_READ])
    response = await client.post(
        USERS, json=_new("escalate", role_ids=[stronger.id]), headers=headers
    )
    assert response.status_code == 403
    assert response.json()["message"] == GRANT_DENIED
    assert response.json()["errors"][0]["field"] == "role_ids"
    assert await _count_users(app, "escalate") == 0
    target = await seed(app, lambda db: create_user(db))
    for role_ids in ([stronger.id], [equal.id, stronger.id]):
        response = await client.patch(
            f"{USERS}/{target.id}", json={"role_ids": role_ids}, headers=headers
        )
        assert response.status_code == 403
        assert response.json()["message"] == GRANT_DENIED
    assert await _role_ids(app, target.id) == []
    ok = await client.post(USERS, json=_new("peer", role_ids=[equal.id]), headers=headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["data"]["role_ids"] == [equal.id]
    patched = await client.patch(
        f"{USERS}/{target.id}", json={"role_ids": [equal.id]}, headers=headers
    )
    assert patched.status_code == 200


async def test_rule1_disabled_roles_and_menus_still_count(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A disabled role grants again once someone enables it: it is checked all the same."""
    _, headers = await signed_in(app, MANAGE)
    dormant = await _role(app, [ROLE_DELETE], status="disabled")
    response = await client.post(
        USERS, json=_new("dormant", role_ids=[dormant.id]), headers=headers
    )
    assert response.status_code == 403


async def test_rule1_wildcard_grants_cover_what_they_match(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await signed_in(app, ["system:user:*"])
    user_admin = await _role(app, [USER_DELETE, USER_LIST])
    role_admin = await _role(app, [ROLE_DELETE])
    ok = await client.post(USERS, json=_new("wild1", role_ids=[user_admin.id]), headers=headers)
    assert ok.status_code == 201
    denied = await client.post(USERS, json=_new("wild2", role_ids=[role_admin.id]), headers=headers)
    assert denied.status_code == 403


async def test_rule1_cannot_grant_a_wider_data_scope(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A "dept" admin of A cannot hand out scope all, custom B, or A's subtree."""

    async def build(db: AsyncSession) -> tuple[int, int]:
        a = await create_dept(db, name="A")
        await create_dept(db, name="A child", parent=a)
        b = await create_dept(db, name="B")
        return a.id, b.id

    a, b = await seed(app, build)
    _, headers = await signed_in(app, MANAGE, data_scope="dept", dept_id=a)
    for scope, dept_ids in (("all", []), ("custom", [b]), ("dept_and_children", [])):
        role = await _role(app, [USER_LIST], data_scope=scope, dept_ids=dept_ids)
        response = await client.post(
            USERS, json=_new(f"wide_{scope}", dept_id=a, role_ids=[role.id]), headers=headers
        )
        assert response.status_code == 403, scope
        assert response.json()["message"] == "You cannot grant a data scope wider than your own"
    for scope, dept_ids in (("dept", []), ("custom", [a]), ("self", [])):
        role = await _role(app, [USER_LIST], data_scope=scope, dept_ids=dept_ids)
        response = await client.post(
            USERS, json=_new(f"narrow_{scope}", dept_id=a, role_ids=[role.id]), headers=headers
        )
        assert response.status_code == 201, (scope, response.text)


async def test_rule1_superuser_may_assign_any_role(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    strong = await _role(app, [ROLE_DELETE, USER_DELETE])
    response = await client.post(USERS, json=_new("anyrole", role_ids=[strong.id]), headers=headers)
    assert response.status_code == 201
    assert response.json()["data"]["role_ids"] == [strong.id]


# ---------------------------------------------------------- 2. superusers and stronger --


async def test_rule2_only_a_superuser_manages_a_superuser(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§1.3 "a user cannot edit the super-admin": 403 for edit, disable, reset and delete."""
    _, headers = await signed_in(app, MANAGE)
    root = await seed(app, lambda db: create_user(db, is_superuser=True, name="Root"))
    for method, suffix, body in (
        ("PATCH", "", {"name": "Owned"}),
        ("PATCH", "", {"status": "disabled"}),
        ("POST", "/reset-password", None),
        ("DELETE", "", None),
    ):
        response = await client.request(
            method, f"{USERS}/{root.id}{suffix}", json=body, headers=headers
        )
        assert response.status_code == 403, (method, suffix)
        assert response.json()["message"] == "Only a superuser can manage a superuser"
    async with app.state.sessionmaker() as db:
        stored = await db.get(User, root.id)
        assert stored is not None
        assert (stored.name, stored.status, stored.password_hash) == (
            "Root",
            "active",
            root.password_hash,
        )
    # Reading is not managing.
    assert (await client.get(f"{USERS}/{root.id}", headers=headers)).status_code == 200


async def test_rule2_a_superuser_outside_the_scope_is_404(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The scope is checked first: a superuser in another department is not found."""
    a, b = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(app, MANAGE, data_scope="dept", dept_id=a)
    root = await seed(app, lambda db: create_user(db, is_superuser=True, dept_id=b))
    response = await client.patch(f"{USERS}/{root.id}", json={"name": "x"}, headers=headers)
    assert response.status_code == 404
    assert (await client.delete(f"{USERS}/{root.id}", headers=headers)).status_code == 404


async def _two_depts(db: AsyncSession) -> tuple[int, int]:
    return (await create_dept(db, name="A")).id, (await create_dept(db, name="B")).id


async def test_rule2_a_superuser_manages_another_superuser(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await superuser(app)
    other, _ = await superuser(app)
    response = await client.patch(f"{USERS}/{other.id}", json={"name": "Peer"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["is_superuser"] is True
    reset = await client.post(f"{USERS}/{other.id}/reset-password", headers=headers)
    assert reset.status_code == 200


async def test_rule2_is_superuser_is_never_settable(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #4: even a superuser cannot make one through the API (422, nothing written)."""
    _, headers = await superuser(app)
    response = await client.post(USERS, json=_new("wannabe", is_superuser=True), headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "is_superuser"
    assert await _count_users(app, "wannabe") == 0
    user = await seed(app, lambda db: create_user(db))
    response = await client.patch(
        f"{USERS}/{user.id}", json={"is_superuser": True}, headers=headers
    )
    assert response.status_code == 422
    async with app.state.sessionmaker() as db:
        stored = await db.get(User, user.id)
        assert stored is not None and stored.is_superuser is False


async def test_rule2_cannot_manage_a_user_stronger_than_yourself(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Resetting the password of a user holding more than you would hand you their power."""
    a, _ = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(app, MANAGE, data_scope="dept", dept_id=a)
    strong_perms = await _role(app, [USER_LIST, ROLE_DELETE], data_scope="self")
    wide_scope = await _role(app, [USER_LIST], data_scope="all")
    for role in (strong_perms, wide_scope):
        target = await seed(app, _user_factory(dept_id=a, roles=[role]))
        for method, suffix, body in (
            ("PATCH", "", {"name": "x"}),
            ("POST", "/reset-password", None),
            ("DELETE", "", None),
        ):
            response = await client.request(
                method, f"{USERS}/{target.id}{suffix}", json=body, headers=headers
            )
            assert response.status_code == 403, (role.data_scope, method, suffix)
            assert "permissions you do not hold" in response.json()["message"]
    weaker = await _role(app, [USER_LIST], data_scope="dept")
    target = await seed(app, lambda db: create_user(db, dept_id=a, roles=[weaker]))
    response = await client.post(f"{USERS}/{target.id}/reset-password", headers=headers)
    assert response.status_code == 200


# ----------------------------------------------------------------------- 3. yourself --


async def test_rule3_nobody_changes_their_own_roles_dept_or_status(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    dept = await seed(app, lambda db: create_dept(db))
    me, headers = await signed_in(app, MANAGE)
    mine = await _role_ids(app, me.id)
    other = await _role(app, [USER_LIST])
    bodies: list[dict[str, Any]] = [
        {"role_ids": []},
        {"role_ids": [*mine, other.id]},
        {"status": "disabled"},
        {"dept_id": dept.id},
    ]
    for body in bodies:
        response = await client.patch(f"{USERS}/{me.id}", json=body, headers=headers)
        assert response.status_code == 403, body
        assert "use your profile" in response.json()["message"]
    assert await _role_ids(app, me.id) == mine
    for method, suffix in (("DELETE", ""), ("POST", "/reset-password")):
        response = await client.request(method, f"{USERS}/{me.id}{suffix}", headers=headers)
        assert response.status_code == 403
        assert "use your profile" in response.json()["message"]
    # Harmless fields, or the same roles sent back by a form, are fine.
    ok = await client.patch(
        f"{USERS}/{me.id}",
        json={"name": "Me", "role_ids": mine, "status": "active"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert (await client.get(USERS, headers=headers)).status_code == 200


async def test_rule3_applies_to_superusers_too(client: httpx.AsyncClient, app: FastAPI) -> None:
    me, headers = await superuser(app)
    await superuser(app)  # not the last one: rule 3 alone refuses
    assert (await client.delete(f"{USERS}/{me.id}", headers=headers)).status_code == 403
    response = await client.patch(f"{USERS}/{me.id}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 403
    assert (await client.get(USERS, headers=headers)).status_code == 200


# -------------------------------------------------------------- 4. last superuser --


async def test_rule4_the_last_active_superuser_cannot_be_disabled_or_deleted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """409. Reaching it needs a caller who is no longer an active superuser in the database
    but still holds a live principal (e.g. disabled a moment ago on another node)."""
    caller, headers = await superuser(app)
    last = await seed(app, lambda db: create_user(db, is_superuser=True))
    inactive = await seed(app, lambda db: create_user(db, is_superuser=True, status="disabled"))
    assert (await client.get(USERS, headers=headers)).status_code == 200  # principal cached
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == caller.id).values(status="disabled"))
    response = await client.patch(
        f"{USERS}/{last.id}", json={"status": "disabled"}, headers=headers
    )
    assert response.status_code == 409
    assert "last active superuser" in response.json()["message"]
    assert (await client.delete(f"{USERS}/{last.id}", headers=headers)).status_code == 409
    # A disabled superuser is not "the last active" one.
    assert (await client.delete(f"{USERS}/{inactive.id}", headers=headers)).status_code == 204
    async with app.state.sessionmaker() as db:
        stored = await db.get(User, last.id)
        assert stored is not None and stored.status == "active"
    # With another active superuser, it goes through.
    await seed(app, lambda db: create_user(db, is_superuser=True))
    response = await client.patch(
        f"{USERS}/{last.id}", json={"status": "disabled"}, headers=headers
    )
    assert response.status_code == 200


# ----------------------------------------------------------------- 5. departments --


async def test_rule5_cannot_place_a_user_outside_your_scope(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """403 naming `dept_id` (the caller named the department; see the service docstring)."""
    a, b = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(app, MANAGE, data_scope="dept", dept_id=a)
    for dept_id in (b, None):
        response = await client.post(USERS, json=_new("placed", dept_id=dept_id), headers=headers)
        assert response.status_code == 403, dept_id
        assert response.json()["errors"][0]["field"] == "dept_id"
    assert await _count_users(app, "placed") == 0
    target = await seed(app, lambda db: create_user(db, dept_id=a))
    for dept_id in (b, None):
        response = await client.patch(
            f"{USERS}/{target.id}", json={"dept_id": dept_id}, headers=headers
        )
        assert response.status_code == 403
        assert response.json()["errors"][0]["field"] == "dept_id"
    unknown = await client.patch(f"{USERS}/{target.id}", json={"dept_id": 987654}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "dept_id"
    ok = await client.post(USERS, json=_new("placed", dept_id=a), headers=headers)
    assert ok.status_code == 201
    assert ok.json()["data"]["dept_id"] == a


# -------------------------------------------------------------------- invalidation --


async def test_removing_a_role_from_a_user_applies_on_their_next_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """ASVS 8.3.2: the old token's next request is 403."""
    _, admin = await superuser(app)
    holder, holder_headers = await signed_in(app, [USER_LIST])
    assert (await client.get(USERS, headers=holder_headers)).status_code == 200
    response = await client.patch(f"{USERS}/{holder.id}", json={"role_ids": []}, headers=admin)
    assert response.status_code == 200
    assert (await client.get(USERS, headers=holder_headers)).status_code == 403
    granted = await _role(app, [USER_LIST])
    await client.patch(f"{USERS}/{holder.id}", json={"role_ids": [granted.id]}, headers=admin)
    assert (await client.get(USERS, headers=holder_headers)).status_code == 200


async def test_moving_a_user_changes_their_scope_on_the_next_request(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    a, b = await seed(app, lambda db: _two_depts(db))
    _, admin = await superuser(app)
    mover, headers = await signed_in(app, [USER_LIST], data_scope="dept", dept_id=a)
    b_user = await seed(app, lambda db: create_user(db, dept_id=b))

    async def visible() -> set[int]:
        response = await client.get(USERS, headers=headers)
        return {item["id"] for item in response.json()["data"]["items"]}

    assert await visible() == {mover.id}
    response = await client.patch(f"{USERS}/{mover.id}", json={"dept_id": b}, headers=admin)
    assert response.status_code == 200
    assert await visible() == {b_user.id, mover.id}


async def test_a_disabled_role_grants_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, admin = await superuser(app)
    holder, headers = await signed_in(app)
    role = await _role(app, [USER_LIST], status="disabled")
    response = await client.patch(
        f"{USERS}/{holder.id}", json={"role_ids": [role.id]}, headers=admin
    )
    assert response.status_code == 200
    assert (await client.get(USERS, headers=headers)).status_code == 403
