"""Departments: a move cannot widen the mover's own data scope, and a disabled department
locks its users out (and lets them in again once enabled).

docs/security-checklist.md §0 #3 and §2 API1 (data scope), §0 #8 (disabling ends the sessions at
once);
ASVS 8.2.2, 8.3.2, 7.4.2. docs/access-control.md, "Data scope" and "Departments".
"""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.dept.models import Dept
from app.modules.system.permissions import DEPT_LIST, DEPT_READ, DEPT_UPDATE, USER_LIST, USER_READ
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import seed
from tests.support.identity import (
    DEFAULT_PASSWORD,
    auth_headers,
    create_dept,
    create_role,
    create_user,
    superuser_headers,
)

URL = "/api/v1/system/depts"
USERS = "/api/v1/system/users"
ME = "/api/v1/auth/me"


async def _parent_of(app: FastAPI, dept_id: int) -> int | None:
    async with app.state.sessionmaker() as db:
        dept = await db.get(Dept, dept_id)
        assert dept is not None
        parent: int | None = dept.parent_id
        return parent


async def test_a_move_cannot_bring_hidden_sub_departments_into_the_movers_scope(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The caller sees their home H and its subtree, and D by a custom scope, but not D's
    child C. Moving D under H would make C and its users visible: 403, nothing moves. A
    department without hidden children may move."""

    async def build(db: AsyncSession) -> tuple[User, Dept, Dept, Dept, User]:
        home = await create_dept(db, name="Home")
        d = await create_dept(db, name="Seen")
        c = await create_dept(db, name="Hidden", parent=d)
        loose = await create_dept(db, name="Loose")
        hidden_user = await create_user(db, dept_id=c.id, email="hidden@example.com")
        perms = [DEPT_LIST, DEPT_READ, DEPT_UPDATE, USER_LIST, USER_READ]
        tree = await create_role(db, permissions=perms, data_scope="dept_and_children")
        custom = await create_role(
            db, permissions=perms, data_scope="custom", dept_ids=[d.id, loose.id]
        )
        mover = await create_user(db, dept_id=home.id, roles=[tree, custom])
        return mover, home, d, loose, hidden_user

    mover, home, d, loose, hidden_user = await seed(app, build)
    headers = await auth_headers(app, mover)
    assert (await client.get(f"{USERS}/{hidden_user.id}", headers=headers)).status_code == 404

    response = await client.patch(f"{URL}/{d.id}", json={"parent_id": home.id}, headers=headers)
    assert response.status_code == 403, response.text
    assert await _parent_of(app, d.id) is None
    assert (await client.get(f"{USERS}/{hidden_user.id}", headers=headers)).status_code == 404
    listed = await client.get(USERS, headers=headers)
    assert "hidden@example.com" not in listed.text
    # Disabling D would sign C's users out: the same refusal.
    response = await client.patch(f"{URL}/{d.id}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 403

    moved = await client.patch(f"{URL}/{loose.id}", json={"parent_id": home.id}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert await _parent_of(app, loose.id) == home.id


async def _login(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", data={"username": username, "password": DEFAULT_PASSWORD}
    )


async def test_a_disabled_department_locks_its_users_out_until_enabled(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Users of a disabled department and of every department below it cannot sign in or
    refresh, and their sessions stop at once; other users are untouched; enabling it lets
    them sign in again."""

    async def build(db: AsyncSession) -> tuple[Dept, list[User], User]:
        parent = await create_dept(db, name="Parent")
        child = await create_dept(db, name="Child", parent=parent)
        other = await create_dept(db, name="Other")
        inside = [
            await create_user(db, username="in-parent", dept_id=parent.id),
            await create_user(db, username="in-child", dept_id=child.id),
        ]
        outside = await create_user(db, username="elsewhere", dept_id=other.id)
        return parent, inside, outside

    parent, inside, outside = await seed(app, build)
    admin = await superuser_headers(app)
    tokens = {}
    for user in [*inside, outside]:
        response = await _login(client, user.username)
        assert response.status_code == 200, response.text
        tokens[user.username] = response.json()
    sessions = {user.username: await auth_headers(app, user) for user in [*inside, outside]}

    response = await client.patch(f"{URL}/{parent.id}", json={"status": "disabled"}, headers=admin)
    assert response.status_code == 200, response.text

    for user in inside:
        assert (await client.get(ME, headers=sessions[user.username])).status_code == 401
        access = tokens[user.username]["access_token"]
        me = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 401
        refreshed = await client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": tokens[user.username]["refresh_token"]},
        )
        assert refreshed.status_code == 401
        assert (await _login(client, user.username)).status_code == 401
    assert (await client.get(ME, headers=sessions["elsewhere"])).status_code == 200
    assert (await _login(client, "elsewhere")).status_code == 200

    response = await client.patch(f"{URL}/{parent.id}", json={"status": "active"}, headers=admin)
    assert response.status_code == 200
    for user in inside:
        response = await _login(client, user.username)
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        me = await client.get(ME, headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200


async def test_moving_under_a_disabled_department_locks_the_users_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def build(db: AsyncSession) -> tuple[Dept, Dept, User]:
        off = await create_dept(db, name="Off", status="disabled")
        team = await create_dept(db, name="Team")
        member = await create_user(db, username="member", dept_id=team.id)
        return off, team, member

    off, team, member = await seed(app, build)
    admin = await superuser_headers(app)
    headers = await auth_headers(app, member)
    assert (await client.get(ME, headers=headers)).status_code == 200
    moved = await client.patch(f"{URL}/{team.id}", json={"parent_id": off.id}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (await client.get(ME, headers=headers)).status_code == 401
    assert (await _login(client, "member")).status_code == 401
    back = await client.patch(f"{URL}/{team.id}", json={"parent_id": None}, headers=admin)
    assert back.status_code == 200
    assert (await _login(client, "member")).status_code == 200


async def test_the_department_of_the_last_superusers_cannot_be_disabled(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Disabling it would leave nobody able to sign in as a superuser: 409, nothing changes."""

    async def build(db: AsyncSession) -> tuple[Dept, User]:
        dept = await create_dept(db, name="Board")
        root = await create_user(db, username="root", is_superuser=True, dept_id=dept.id)
        return dept, root

    dept, root = await seed(app, build)
    headers = await auth_headers(app, root)
    response = await client.patch(f"{URL}/{dept.id}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 409, response.text
    async with app.state.sessionmaker() as db:
        status = (await db.execute(select(Dept.status).where(Dept.id == dept.id))).scalar_one()
    assert status == "active"
    # With another active superuser elsewhere, it can.
    await seed(app, lambda db: create_user(db, is_superuser=True))
    response = await client.patch(f"{URL}/{dept.id}", json={"status": "disabled"}, headers=headers)
    assert response.status_code == 200


async def test_sign_ins_racing_a_department_disable_leave_no_working_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Real concurrency: sign-ins of the department's users released together with the
    disable. Whichever order the database picks, afterwards no token of theirs works: a
    session opened just before the disable is ended by it, one opened after is refused."""

    async def build(db: AsyncSession) -> tuple[Dept, list[User]]:
        dept = await create_dept(db, name="Racing")
        users = [await create_user(db, username=f"racer{i}", dept_id=dept.id) for i in range(8)]
        return dept, users

    dept, users = await seed(app, build)
    admin = await superuser_headers(app)
    disable = client.patch(f"{URL}/{dept.id}", json={"status": "disabled"}, headers=admin)
    # One sign-in per account: two at once of one account race on its row's version (409),
    # which is not what this test is about.
    logins = [_login(client, user.username) for user in users]
    disabled, *answers = await asyncio.gather(disable, *logins)
    assert disabled.status_code == 200, disabled.text
    assert {answer.status_code for answer in answers} <= {200, 401}, [
        a.text for a in answers if a.status_code not in (200, 401)
    ]
    for answer in answers:
        if answer.status_code != 200:
            continue
        tokens = answer.json()
        me = await client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 401
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401


async def test_two_superusers_disabling_each_others_department_at_once_leave_one_active(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Real concurrency: the only two superusers each disable the other's department, both
    requests released together. One wins (200), the other sees it and gets 409: someone can
    still sign in as a superuser."""

    async def build(db: AsyncSession) -> tuple[Dept, Dept, User, User]:
        d1 = await create_dept(db, name="One")
        d2 = await create_dept(db, name="Two")
        s1 = await create_user(db, username="su1", is_superuser=True, dept_id=d1.id)
        s2 = await create_user(db, username="su2", is_superuser=True, dept_id=d2.id)
        return d1, d2, s1, s2

    d1, d2, s1, s2 = await seed(app, build)
    h1, h2 = await auth_headers(app, s1), await auth_headers(app, s2)
    first, second = await asyncio.gather(
        client.patch(f"{URL}/{d2.id}", json={"status": "disabled"}, headers=h1),
        client.patch(f"{URL}/{d1.id}", json={"status": "disabled"}, headers=h2),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (
        first.text,
        second.text,
    )
    async with app.state.sessionmaker() as db:
        rows = await db.execute(select(Dept.status).where(Dept.id.in_([d1.id, d2.id])))
        assert sorted(rows.scalars()) == ["active", "disabled"]
