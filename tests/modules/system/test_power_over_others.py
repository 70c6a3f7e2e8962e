"""Power over another principal: one rule (`app.modules.system.auth.power`), tested from every side.

    You may act on a user, a role, a menu subtree or a session only if your own grants and
    data scope cover everything the action changes.

docs/security-checklist.md §0 #4 and §1.3 (anti-escalation), §2 API5; ASVS 8.2.1-8.2.3. Each test
shows the
refusal (403/404, nothing changed) and the allowed case next to it. docs/access-control.md,
"Power over others".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.monitor.permissions import SESSION_DELETE, SESSION_LIST
from app.modules.system.auth.models import AuthSession
from app.modules.system.menu.models import Menu
from app.modules.system.permissions import (
    DEPT_UPDATE,
    MENU_DELETE,
    MENU_UPDATE,
    ROLE_DELETE,
    ROLE_UPDATE,
    USER_DELETE,
    USER_LIST,
    USER_READ,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.role.models import Role, role_menu
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import ROLES, USERS, seed, signed_in, superuser
from tests.support.identity import auth_headers, create_dept, create_role, create_user

SESSIONS = "/api/v1/monitor/sessions"
MENUS = "/api/v1/system/menus"
DEPTS = "/api/v1/system/depts"


async def _session_of(app: FastAPI, user: User) -> tuple[dict[str, str], str]:
    """A live session of `user`: its headers and its id."""
    headers = await auth_headers(app, user)
    async with app.state.sessionmaker() as db:
        sid = (
            await db.execute(
                select(AuthSession.id)
                .where(AuthSession.user_id == user.id)
                .order_by(AuthSession.created_at.desc())
            )
        ).scalar_one()
    return headers, sid


async def _role(app: FastAPI, permissions: Sequence[str] = (), **kw: Any) -> Role:
    return await seed(app, lambda db: create_role(db, permissions=permissions, **kw))


async def _menu_count(app: FastAPI, role_id: int) -> int:
    async with app.state.sessionmaker() as db:
        statement = select(func.count()).where(role_menu.c.role_id == role_id)
        return int((await db.execute(statement)).scalar_one())


async def _stored_role(app: FastAPI, role_id: int) -> Role | None:
    async with app.state.sessionmaker() as db:
        role: Role | None = await db.get(Role, role_id)
        return role


# ------------------------------------------------------------------------ sessions --


async def test_a_non_superuser_cannot_sign_a_superuser_out(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Force logout is acting on the session's user: a superuser's session is out of reach
    (403) and stays live; a stronger user's too; a weaker user's session can be ended."""
    _, headers = await signed_in(app, [SESSION_LIST, SESSION_DELETE, USER_LIST])
    root = await seed(app, lambda db: create_user(db, is_superuser=True))
    root_headers, root_sid = await _session_of(app, root)
    response = await client.delete(f"{SESSIONS}/{root_sid}", headers=headers)
    assert response.status_code == 403, response.text
    assert (await client.get("/api/v1/auth/me", headers=root_headers)).status_code == 200

    stronger_role = await _role(app, [USER_LIST, USER_DELETE])
    stronger = await seed(app, lambda db: create_user(db, roles=[stronger_role]))
    stronger_headers, stronger_sid = await _session_of(app, stronger)
    response = await client.delete(f"{SESSIONS}/{stronger_sid}", headers=headers)
    assert response.status_code == 403
    assert (await client.get("/api/v1/auth/me", headers=stronger_headers)).status_code == 200

    weaker_role = await _role(app, [USER_LIST])
    weaker = await seed(app, lambda db: create_user(db, roles=[weaker_role]))
    weaker_headers, weaker_sid = await _session_of(app, weaker)
    assert (await client.delete(f"{SESSIONS}/{weaker_sid}", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=weaker_headers)).status_code == 401

    # A superuser may end another superuser's session.
    _, super_headers = await superuser(app)
    assert (await client.delete(f"{SESSIONS}/{root_sid}", headers=super_headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=root_headers)).status_code == 401


async def test_a_session_outside_the_scope_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    a, b = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(app, [SESSION_DELETE], data_scope="dept", dept_id=a)
    other = await seed(app, lambda db: create_user(db, dept_id=b))
    other_headers, sid = await _session_of(app, other)
    assert (await client.delete(f"{SESSIONS}/{sid}", headers=headers)).status_code == 404
    assert (await client.get("/api/v1/auth/me", headers=other_headers)).status_code == 200


async def _two_depts(db: AsyncSession) -> tuple[int, int]:
    return (await create_dept(db, name="A")).id, (await create_dept(db, name="B")).id


# --------------------------------------------------------------------------- roles --


async def test_role_update_disable_and_delete_of_a_stronger_role_are_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A holder of only `system:role:update` / `:delete` cannot strip, disable, rename or
    delete a role holding codes they lack (the `admin` role included); nothing changes."""
    _, headers = await signed_in(app, [ROLE_UPDATE, ROLE_DELETE, USER_LIST])
    admin = await _role(app, [USER_LIST, USER_DELETE, ROLE_UPDATE], code="admin", name="Admin")
    holder = await seed(app, lambda db: create_user(db, roles=[admin]))
    holder_headers = await auth_headers(app, holder)
    bodies: list[dict[str, Any]] = [
        {"menu_ids": []},
        {"status": "disabled"},
        {"name": "Renamed"},
        {"data_scope": "self"},
    ]
    for body in bodies:
        response = await client.patch(f"{ROLES}/{admin.id}", json=body, headers=headers)
        assert response.status_code == 403, (body, response.text)
    assert (await client.delete(f"{ROLES}/{admin.id}", headers=headers)).status_code == 403
    stored = await _stored_role(app, admin.id)
    assert stored is not None
    assert (stored.name, stored.status, stored.data_scope) == ("Admin", "active", "all")
    assert await _menu_count(app, admin.id) == 3
    # The holder keeps every grant.
    assert (await client.get(USERS, headers=holder_headers)).status_code == 200

    # A role within the caller's power: strip, disable and delete all work.
    weak = await _role(app, [USER_LIST, ROLE_UPDATE])
    stripped = await client.patch(f"{ROLES}/{weak.id}", json={"menu_ids": []}, headers=headers)
    assert stripped.status_code == 200, stripped.text
    disabled = await client.patch(
        f"{ROLES}/{weak.id}", json={"status": "disabled"}, headers=headers
    )
    assert disabled.status_code == 200
    assert (await client.delete(f"{ROLES}/{weak.id}", headers=headers)).status_code == 204
    assert await _stored_role(app, weak.id) is None


async def test_a_role_held_outside_the_callers_scope_is_out_of_reach(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Changing a role changes its holders' power: a "dept" admin of A cannot disable or
    delete a role (whose codes they hold) held by a user of B; held only in A, they can."""
    a, b = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(
        app, [ROLE_UPDATE, ROLE_DELETE, USER_LIST], data_scope="dept", dept_id=a
    )
    role = await _role(app, [USER_LIST], data_scope="self")
    await seed(app, lambda db: create_user(db, dept_id=b, roles=[role]))
    response = await client.patch(
        f"{ROLES}/{role.id}", json={"status": "disabled"}, headers=headers
    )
    assert response.status_code == 403
    assert (await client.delete(f"{ROLES}/{role.id}", headers=headers)).status_code == 403
    stored = await _stored_role(app, role.id)
    assert stored is not None and stored.status == "active"

    own = await _role(app, [USER_LIST], data_scope="self")
    await seed(app, lambda db: create_user(db, dept_id=a, roles=[own]))
    response = await client.patch(f"{ROLES}/{own.id}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 200
    assert (await client.delete(f"{ROLES}/{own.id}", headers=headers)).status_code == 204


async def test_granting_menus_one_does_not_hold_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, headers = await signed_in(app, [ROLE_UPDATE, USER_LIST])
    role = await _role(app, [USER_LIST])
    (unheld,) = await seed(app, lambda db: _buttons(db, USER_DELETE))
    (held,) = await seed(app, lambda db: _buttons(db, USER_LIST))
    response = await client.patch(
        f"{ROLES}/{role.id}", json={"menu_ids": [held.id, unheld.id]}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "menu_ids"
    assert await _menu_count(app, role.id) == 1
    ok = await client.patch(f"{ROLES}/{role.id}", json={"menu_ids": [held.id]}, headers=headers)
    assert ok.status_code == 200


async def _buttons(db: AsyncSession, *codes: str) -> list[Menu]:
    found = []
    for code in codes:
        menu = (await db.execute(select(Menu).where(Menu.permission == code))).scalars().first()
        if menu is None:
            menu = Menu(type="button", title=code, permission=code)
            db.add(menu)
            await db.flush()
        found.append(menu)
    return found


# --------------------------------------------------------------------------- menus --


async def _directory_with(
    db: AsyncSession, code: str, *, status: str = "active"
) -> tuple[Menu, Menu, Menu]:
    """A directory holding a page holding a button with `code`."""
    directory = Menu(type="directory", title=f"Dir {code}", status=status)
    db.add(directory)
    await db.flush()
    page = Menu(type="menu", title=f"Page {code}", parent_id=directory.id)
    db.add(page)
    await db.flush()
    button = Menu(type="button", title=code, permission=code, parent_id=page.id)
    db.add(button)
    await db.flush()
    return directory, page, button


async def test_re_enabling_a_directory_over_codes_one_does_not_hold_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A disabled directory takes its buttons' codes from every role holding them; enabling
    it again hands them back: only someone holding every code below it may (403)."""
    _, headers = await signed_in(app, [MENU_UPDATE, MENU_DELETE, USER_LIST])
    directory, page, button = await seed(
        app, lambda db: _directory_with(db, USER_DELETE, status="disabled")
    )
    for body in ({"status": "active"}, {"title": "Renamed"}, {"parent_id": None, "sort": 3}):
        response = await client.patch(f"{MENUS}/{directory.id}", json=body, headers=headers)
        assert response.status_code == 403, (body, response.text)
    response = await client.patch(f"{MENUS}/{page.id}", json={"title": "P2"}, headers=headers)
    assert response.status_code == 403
    assert (await client.delete(f"{MENUS}/{button.id}", headers=headers)).status_code == 403
    async with app.state.sessionmaker() as db:
        stored = await db.get(Menu, directory.id)
        assert stored is not None and stored.status == "disabled"
        assert stored.title == f"Dir {USER_DELETE}"
        assert await db.get(Menu, button.id) is not None

    # Every code below is held: enabling, renaming and deleting the button all work.
    own_dir, _, own_button = await seed(
        app, lambda db: _directory_with(db, USER_LIST, status="disabled")
    )
    response = await client.patch(
        f"{MENUS}/{own_dir.id}", json={"status": "active"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert (await client.delete(f"{MENUS}/{own_button.id}", headers=headers)).status_code == 204


# --------------------------------------------------------------------------- users --


async def test_every_user_action_needs_power_over_the_user(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Update, disable, role change, password reset and delete: a superuser target is 403,
    a user holding a role with codes the caller lacks is 403; an equal user is fine."""
    manage = [USER_LIST, USER_READ, USER_UPDATE, USER_DELETE, USER_RESET_PASSWORD]
    _, headers = await signed_in(app, manage)
    root = await seed(app, lambda db: create_user(db, is_superuser=True))
    stronger_role = await _role(app, [*manage, ROLE_UPDATE])
    stronger = await seed(app, lambda db: create_user(db, roles=[stronger_role]))
    actions: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", "{url}", {"name": "Changed"}),
        ("PATCH", "{url}", {"status": "disabled"}),
        ("PATCH", "{url}", {"role_ids": []}),
        ("POST", "{url}/reset-password", None),
        ("DELETE", "{url}", None),
    ]
    for target in (root, stronger):
        for method, path, body in actions:
            url = path.format(url=f"{USERS}/{target.id}")
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (target.username, method, path, response.text)
    async with app.state.sessionmaker() as db:
        for target in (root, stronger):
            stored = await db.get(User, target.id)
            assert stored is not None and stored.status == "active" and stored.name == target.name

    equal_role = await _role(app, manage)
    equal = await seed(app, lambda db: create_user(db, roles=[equal_role]))
    for method, path, body in actions:
        url = path.format(url=f"{USERS}/{equal.id}")
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 204), (method, path, response.text)


async def test_disabling_a_department_acts_on_its_users(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Disabling signs a department's users out: a non-superuser cannot do it to a department
    holding a superuser (or a stronger user), even with every department in scope."""
    dept, other = await seed(app, lambda db: _two_depts(db))
    _, headers = await signed_in(app, [DEPT_UPDATE, USER_LIST])
    root = await seed(app, lambda db: create_user(db, is_superuser=True, dept_id=dept))
    root_headers = await auth_headers(app, root)
    response = await client.patch(f"{DEPTS}/{dept}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 403
    assert (await client.get("/api/v1/auth/me", headers=root_headers)).status_code == 200
    weak_role = await _role(app, [USER_LIST])
    await seed(app, lambda db: create_user(db, dept_id=other, roles=[weak_role]))
    response = await client.patch(f"{DEPTS}/{other}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 200, response.text
