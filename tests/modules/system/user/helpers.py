"""Helpers shared by the user and role tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.menu.models import Menu
from app.modules.system.position.models import Position
from app.modules.system.role.models import Role
from app.modules.system.user.models import User
from tests.support.identity import auth_headers, create_role, create_user, menu_for

T = TypeVar("T")

USERS = "/api/v1/system/users"
ROLES = "/api/v1/system/roles"

USER_FIELDS = {
    "id",
    "username",
    "name",
    "email",
    "phone",
    "status",
    "is_superuser",
    "dept_id",
    "role_ids",
    "position_ids",
    "remark",
    "must_change_password",
    "mfa_enabled",
    "last_login_at",
    "version",
    "created_at",
    "updated_at",
}
ROLE_FIELDS = {
    "id",
    "name",
    "code",
    "status",
    "sort",
    "data_scope",
    "dept_ids",
    "menu_ids",
    "require_mfa",
    "remark",
    "version",
    "created_at",
    "updated_at",
}
# Passes the password policy (long, not common, no context words).
GOOD_PASSWORD = "velvet-orbit-quarry-58"
SECRET_KEYS = {"password_hash", "mfa_secret", "access_token", "refresh_token", "token"}


async def seed(app: FastAPI, build: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `build` in one committed transaction and return what it returns."""
    async with app.state.sessionmaker() as db, db.begin():
        return await build(db)


def secret_keys(value: Any, *, allow_password: bool = False) -> list[str]:
    """Every key, at any depth, that names a secret (docs/security-checklist.md §0 #5)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS or (key == "password" and not allow_password):
                found.append(key)
            found.extend(secret_keys(item, allow_password=allow_password))
    elif isinstance(value, list):
        for item in value:
            found.extend(secret_keys(item, allow_password=allow_password))
    return found


async def signed_in(
    app: FastAPI,
    permissions: Sequence[str] = (),
    *,
    data_scope: str = "all",
    scope_dept_ids: Sequence[int] = (),
    **user_fields: Any,
) -> tuple[User, dict[str, str]]:
    """A user holding one role with `permissions` and `data_scope`, and their bearer header."""

    async def build(db: AsyncSession) -> User:
        roles: list[Role] = []
        if permissions or data_scope != "all":
            roles.append(
                await create_role(
                    db, permissions=permissions, data_scope=data_scope, dept_ids=scope_dept_ids
                )
            )
        return await create_user(db, roles=roles, **user_fields)

    user = await seed(app, build)
    return user, await auth_headers(app, user)


async def superuser(app: FastAPI, **user_fields: Any) -> tuple[User, dict[str, str]]:
    user = await seed(app, lambda db: create_user(db, is_superuser=True, **user_fields))
    return user, await auth_headers(app, user)


async def menus(app: FastAPI, *codes: str) -> list[Menu]:
    """Buttons carrying `codes` (created if missing)."""

    async def build(db: AsyncSession) -> list[Menu]:
        return [await menu_for(db, code) for code in codes]

    return await seed(app, build)


async def stored_user(app: FastAPI, user_id: int) -> User | None:
    """The user row as the database holds it now."""
    async with app.state.sessionmaker() as db:
        user: User | None = await db.get(User, user_id)
        return user


async def add_position(db: AsyncSession, code: str) -> Position:
    position = Position(name=code.title(), code=code)
    db.add(position)
    await db.flush()
    return position
