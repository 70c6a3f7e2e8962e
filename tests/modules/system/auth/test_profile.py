"""The caller's own account: profile, password change, forced change after an admin reset.

ASVS 6.2.3 (current password needed), 7.4.3 (other sessions end), 6.4.1 (forced change).
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import bearer, login
from tests.support.identity import DEFAULT_PASSWORD, create_user

NEW = "a different long passphrase"


async def _access(
    client: httpx.AsyncClient, username: str = "alice", password: str = DEFAULT_PASSWORD
) -> str:
    response = await login(client, username, password)
    assert response.status_code == 200, response.json()
    token: str = response.json()["access_token"]
    return token


async def test_profile_edit_allows_only_own_fields(client: httpx.AsyncClient, alice: User) -> None:
    token = await _access(client)
    ok = await client.patch("/api/v1/auth/me", headers=bearer(token), json={"name": "Alice B."})
    assert ok.status_code == 200
    assert ok.json()["data"]["name"] == "Alice B."
    for field, value in (
        ("is_superuser", True),
        ("status", "active"),
        ("roles", ["admin"]),
        ("dept_id", 1),
    ):
        response = await client.patch("/api/v1/auth/me", headers=bearer(token), json={field: value})
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["field"] == field


async def test_password_change_needs_the_current_one_and_ends_other_sessions(
    client: httpx.AsyncClient, alice: User
) -> None:
    """docs/security-checklist.md §0 #8, ASVS 6.2.3, 7.4.3: the current password is required; the
    other
    sessions end, the current one goes on."""
    here = await _access(client)
    elsewhere = await _access(client)
    wrong = await client.put(
        "/api/v1/auth/me/password",
        headers=bearer(here),
        json={"current_password": "not it at all", "new_password": NEW},
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "current_password"
    weak = await client.put(
        "/api/v1/auth/me/password",
        headers=bearer(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "password123"},
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "new_password"
    done = await client.put(
        "/api/v1/auth/me/password",
        headers=bearer(here),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW},
    )
    assert done.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(here))).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(elsewhere))).status_code == 401
    assert (await login(client, "alice")).status_code == 401
    assert (await login(client, "alice", NEW)).status_code == 200


async def test_forced_change_blocks_everything_but_the_own_account(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="fresh", must_change_password=True, is_superuser=True)
    response = await login(client, "fresh")
    assert response.json()["password_change_required"] is True
    token = response.json()["access_token"]
    assert (await client.get("/api/v1/system/users", headers=bearer(token))).status_code == 403
    me = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.json()["data"]["password_change_required"] is True
    changed = await client.put(
        "/api/v1/auth/me/password",
        headers=bearer(token),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW},
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/system/users", headers=bearer(token))).status_code == 200
    async with app.state.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.username == "fresh"))).scalar_one()
    assert user.must_change_password is False


async def test_me_menus_is_the_tree_of_granted_pages(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    from sqlalchemy import insert

    from app.modules.system.menu.models import Menu
    from app.modules.system.role.models import role_menu
    from tests.support.identity import create_role

    async with app.state.sessionmaker() as db, db.begin():
        root = Menu(type="directory", title="System", name="Sys", path="/system", sort=1)
        hidden = Menu(type="directory", title="Secret", name="Sec", path="/secret", sort=2)
        db.add_all([root, hidden])
        await db.flush()
        page = Menu(
            type="menu",
            title="Users",
            name="SysUser",
            path="/system/users",
            parent_id=root.id,
            permission="system:user:list",
        )
        other = Menu(
            type="menu", title="Vault", name="Vault", path="/secret/vault", parent_id=hidden.id
        )
        db.add_all([page, other])
        await db.flush()
        role = await create_role(db)
        await db.execute(insert(role_menu).values(role_id=role.id, menu_id=page.id))
        await create_user(db, username="carol", roles=[role])
    token = await _access(client, "carol")
    tree = (await client.get("/api/v1/auth/me/menus", headers=bearer(token))).json()["data"]
    assert [node["title"] for node in tree] == ["System"]
    assert [child["title"] for child in tree[0]["children"]] == ["Users"]


UNSAFE_NAMES = [
    "Alice\nFAKE LOG LINE",
    "\x1b[31mAlice\x1b[0m",
    "Ali\x00ce",
    "Alice\u202eecilA",
    "Alice\u2066x\u2069",
    "Alice\u2028B",
]


async def test_profile_name_is_checked_like_the_users_api(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    """docs/security-checklist.md §1.4 (ASVS 2.2.1, 16.4.1): `PATCH /auth/me` refuses what the
    admin API
    refuses -- new lines, ANSI escapes, NUL, bidi overrides and isolates, line separators in
    the name (422 naming `name`, nothing stored) -- and `name: null` is a 422, not a 409."""
    token = await _access(client)
    for name in [*UNSAFE_NAMES, None, "", "x" * 65]:
        response = await client.patch("/api/v1/auth/me", headers=bearer(token), json={"name": name})
        assert response.status_code == 422, (name, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["name"], name
    async with app.state.sessionmaker() as db:
        stored = await db.get(User, alice.id)
        assert stored is not None and stored.name == "Alice"
    # Surrounding whitespace is trimmed, not refused; what a person writes is kept.
    for name, kept in (
        ("  Ålice Bø \n", "Ålice Bø"),
        ("李 小龍", "李 小龍"),
        ("👩‍💻 Alice", "👩‍💻 Alice"),
    ):
        ok = await client.patch("/api/v1/auth/me", headers=bearer(token), json={"name": name})
        assert ok.status_code == 200, (name, ok.text)
        assert ok.json()["data"]["name"] == kept


async def test_profile_email_and_phone_follow_the_users_api(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    """The same email and phone rules as `PATCH /system/users/{id}`; null or "" clears them;
    another user's email (in any case) is a 409 naming `email`."""
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="bob", email="bob@example.com")
    token = await _access(client)
    for field, value in (
        ("email", "not an email"),
        ("email", "a\u202e@example.com"),
        ("phone", "12\n34"),
    ):
        response = await client.patch("/api/v1/auth/me", headers=bearer(token), json={field: value})
        assert response.status_code == 422, (field, value)
        assert response.json()["errors"][0]["field"] == field
    taken = await client.patch(
        "/api/v1/auth/me", headers=bearer(token), json={"email": "BOB@example.com"}
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["errors"][0]["field"] == "email"
    set_both = await client.patch(
        "/api/v1/auth/me",
        headers=bearer(token),
        json={"email": "alice.b@example.com", "phone": "+49 30 1234"},
    )
    assert set_both.status_code == 200
    assert (set_both.json()["data"]["email"], set_both.json()["data"]["phone"]) == (
        "alice.b@example.com",
        "+49 30 1234",
    )
    cleared = await client.patch(
        "/api/v1/auth/me", headers=bearer(token), json={"email": None, "phone": ""}
    )
    assert cleared.status_code == 200
    assert (cleared.json()["data"]["email"], cleared.json()["data"]["phone"]) == (None, None)
