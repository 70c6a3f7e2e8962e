"""Factories for identity tests: departments, roles with grants, users, and signed-in headers.

    dept = await create_dept(db, name="Sales")
    role = await create_role(db, permissions=["system:user:list"], data_scope="dept")
    user = await create_user(db, dept_id=dept.id, roles=[role])
    headers = await auth_headers(app, user)        # a real session + access token

Each factory flushes and returns the row; commit with `async with sessionmaker() as db,
db.begin():` around them. Menus for permission codes are created on demand (one button each).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

from argon2 import PasswordHasher as Argon2Hasher
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.auth import authz, sessions
from app.modules.system.auth.deps import token_service
from app.modules.system.dept.models import Dept
from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role, role_dept, role_menu
from app.modules.system.user.models import User, user_role

DEFAULT_PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


@functools.cache
def password_hash(password: str = DEFAULT_PASSWORD) -> str:
    """Hash once per password per test run (argon2id at the OWASP minimum)."""
    return Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1).hash(password)


async def create_dept(
    db: AsyncSession, *, name: str | None = None, parent: Dept | None = None, **overrides: object
) -> Dept:
    n = next(_seq)
    dept = Dept(
        name=name or f"Dept {n}",
        code=str(overrides.pop("code", f"dept-{n}")),
        parent_id=parent.id if parent else None,
        path="/",
        **overrides,
    )
    db.add(dept)
    await db.flush()
    dept.path = f"{parent.path if parent else '/'}{dept.id}/"
    await db.flush()
    return dept


async def menu_for(db: AsyncSession, code: str) -> Menu:
    """The button carrying `code`, created if missing."""
    menu = (await db.execute(select(Menu).where(Menu.permission == code))).scalars().first()
    if menu is None:
        menu = Menu(type="button", title=code, permission=code)
        db.add(menu)
        await db.flush()
    return menu


async def create_role(
    db: AsyncSession,
    *,
    permissions: Sequence[str] = (),
    data_scope: str = "all",
    dept_ids: Sequence[int] = (),
    **overrides: object,
) -> Role:
    n = next(_seq)
    role = Role(
        name=str(overrides.pop("name", f"Role {n}")),
        code=str(overrides.pop("code", f"role-{n}")),
        data_scope=data_scope,
        **overrides,
    )
    db.add(role)
    await db.flush()
    for code in permissions:
        menu = await menu_for(db, code)
        await db.execute(insert(role_menu).values(role_id=role.id, menu_id=menu.id))
    for dept_id in dept_ids:
        await db.execute(insert(role_dept).values(role_id=role.id, dept_id=dept_id))
    return role


async def create_user(
    db: AsyncSession,
    *,
    roles: Sequence[Role] = (),
    password: str = DEFAULT_PASSWORD,
    **overrides: object,
) -> User:
    n = next(_seq)
    username = str(overrides.pop("username", f"user{n}"))
    user = User(
        username=username,
        name=str(overrides.pop("name", f"User {n}")),
        email=overrides.pop("email", f"{username}@example.com"),
        password_hash=password_hash(password),
        **overrides,
    )
    db.add(user)
    await db.flush()
    for role in roles:
        await db.execute(insert(user_role).values(user_id=user.id, role_id=role.id))
    return user


async def auth_headers(app: FastAPI, user: User) -> dict[str, str]:
    """Open a real session for `user` and return a bearer header for it."""
    cache = app.state.cache
    async with app.state.sessionmaker() as db, db.begin():
        session = await sessions.create_session(
            db,
            cache,
            app.state.settings,
            user_id=user.id,
            ip="127.0.0.1",
            user_agent="pytest",
            now=datetime.now(UTC),
        )
    await authz.invalidate_user(cache, user.id)
    token, _, _ = token_service(app).issue_access(user.id, session.id)
    return {"Authorization": f"Bearer {token}"}


async def superuser_headers(app: FastAPI) -> dict[str, str]:
    """Bearer headers of a new superuser."""
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, is_superuser=True)
    return await auth_headers(app, user)


async def holder_headers(
    app: FastAPI,
    permissions: Sequence[str],
    *,
    data_scope: str = "self",
    dept_id: int | None = None,
) -> dict[str, str]:
    """Bearer headers of a new user whose only role grants `permissions` with `data_scope`."""
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=permissions, data_scope=data_scope)
        user = await create_user(db, roles=[role], dept_id=dept_id)
    return await auth_headers(app, user)
