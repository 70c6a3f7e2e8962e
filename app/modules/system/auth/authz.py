"""Who the caller is and what they may do, built from the database and cached by version.

The principal of a user is cached under `authz:<uid>:<global version>:<user version>`, shared
by every process, plus a small in-process memo keyed the same way. Any change to roles, menus
or departments bumps the global version; a change to one user (roles, department, status,
superuser flag, MFA) bumps that user's version. Versions are read from the shared cache on
every request, so a change takes effect on the next request everywhere (ASVS 8.3.2).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import DataScope, Principal
from app.core.cache import Cache
from app.core.errors import NotAuthenticated
from app.core.versions import bump_version, current_version
from app.modules.system.dept.models import Dept
from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role, role_dept, role_menu
from app.modules.system.user.models import User, user_role

GLOBAL_VERSION = "authz"
PRINCIPAL_TTL = 600


class PrincipalMemo:
    """A small per-process LRU of principals keyed by (user, global version, user version).

    Entries can never be stale: the key embeds the versions read from the shared cache on
    every request, and versions are random tokens that never repeat.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str, str], Principal] = OrderedDict()

    def get(self, key: tuple[int, str, str]) -> Principal | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[int, str, str], principal: Principal) -> None:
        self._items[key] = principal
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def user_version_name(user_id: int) -> str:
    return f"user:{user_id}"


# Versions are random tokens, not counters: after a cache flush a counter would restart at a
# value some process may still hold a memo for; a fresh random token can never match one.
def _version_key(name: str) -> str:
    return f"authzver:{name}"


def version_keys(user_id: int) -> list[str]:
    """Cache keys of the two versions, for a batched read (`Cache.get_many`)."""
    return [_version_key(GLOBAL_VERSION), _version_key(user_version_name(user_id))]


async def invalidate_all(cache: Cache, db: AsyncSession | None = None) -> None:
    """Roles, menus or departments changed: every principal is rebuilt on next use.

    Pass the request's `db` session when the change is part of its transaction.
    """
    await bump_version(cache, _version_key(GLOBAL_VERSION), db)


async def invalidate_user(cache: Cache, user_id: int, db: AsyncSession | None = None) -> None:
    """Something about one user changed: their principal is rebuilt on next use."""
    await bump_version(cache, _version_key(user_version_name(user_id)), db)


async def _ensure_versions(
    cache: Cache, user_id: int, versions: tuple[bytes | None, bytes | None]
) -> tuple[str, str]:
    global_key, user_key = version_keys(user_id)
    return (
        await current_version(cache, global_key, versions[0]),
        await current_version(cache, user_key, versions[1]),
    )


def _to_json(p: Principal) -> dict[str, Any]:
    return {
        "u": p.user_id,
        "n": p.username,
        "su": p.is_superuser,
        "d": p.dept_id,
        "r": sorted(p.roles),
        "p": sorted(p.permissions),
        "sa": p.scope.all,
        "sd": sorted(p.scope.dept_ids),
        "so": p.scope.own,
        "mfa": p.mfa_enrollment_required,
        "pc": p.password_change_required,
    }


def _from_json(data: dict[str, Any], session_id: str) -> Principal:
    return Principal(
        user_id=int(data["u"]),
        username=str(data["n"]),
        session_id=session_id,
        is_superuser=bool(data["su"]),
        dept_id=data["d"],
        roles=frozenset(data["r"]),
        permissions=frozenset(data["p"]),
        scope=DataScope(all=bool(data["sa"]), dept_ids=frozenset(data["sd"]), own=bool(data["so"])),
        mfa_enrollment_required=bool(data["mfa"]),
        password_change_required=bool(data["pc"]),
    )


async def _active_permissions(db: AsyncSession, menu_ids: set[int]) -> set[str]:
    """Permission codes of these menus, skipping any menu that is disabled or sits under a
    disabled one (disabling a page disables its buttons). Menus are few: one query for all."""
    rows = (await db.execute(select(Menu.id, Menu.parent_id, Menu.status, Menu.permission))).all()
    parent = {row.id: row.parent_id for row in rows}
    active = {row.id: row.status == "active" for row in rows}

    def enabled(menu_id: int | None) -> bool:
        seen: set[int] = set()
        while menu_id is not None and menu_id not in seen:
            if not active.get(menu_id, False):
                return False
            seen.add(menu_id)
            menu_id = parent.get(menu_id)
        return True

    return {
        row.permission for row in rows if row.id in menu_ids and row.permission and enabled(row.id)
    }


async def dept_disabled(db: AsyncSession, dept_id: int | None) -> bool:
    """True if the department, or any department above it, is disabled."""
    if dept_id is None:
        return False
    path = (await db.execute(select(Dept.path).where(Dept.id == dept_id))).scalar()
    chain = [int(part) for part in (path or "").split("/") if part.isdigit()] or [dept_id]
    disabled = await db.execute(
        select(Dept.id).where(Dept.id.in_(chain), Dept.status != "active").limit(1)
    )
    return disabled.first() is not None


async def may_sign_in(db: AsyncSession, user: User) -> bool:
    """An account works (signs in, refreshes, is served) only while it is active and its
    department and every department above it are active (docs/access-control.md)."""
    return user.status == "active" and not await dept_disabled(db, user.dept_id)


async def build_principal(db: AsyncSession, user_id: int, session_id: str) -> Principal:
    """Read the user, their active roles, granted permission codes and data scope."""
    user = await db.get(User, user_id)
    if user is None or not await may_sign_in(db, user):
        raise NotAuthenticated("Not authenticated")
    roles = list(
        (
            await db.execute(
                select(Role)
                .join(user_role, user_role.c.role_id == Role.id)
                .where(user_role.c.user_id == user_id, Role.status == "active")
            )
        ).scalars()
    )
    role_ids = [role.id for role in roles]
    permissions: set[str] = set()
    custom_depts: set[int] = set()
    if role_ids:
        granted = set(
            (
                await db.execute(
                    select(role_menu.c.menu_id).where(role_menu.c.role_id.in_(role_ids))
                )
            ).scalars()
        )
        permissions = await _active_permissions(db, granted)
        custom_ids = [r.id for r in roles if r.data_scope == "custom"]
        if custom_ids:
            custom_depts = set(
                (
                    await db.execute(
                        select(role_dept.c.dept_id).where(role_dept.c.role_id.in_(custom_ids))
                    )
                ).scalars()
            )
    scopes = {role.data_scope for role in roles}
    dept_ids = set(custom_depts)
    if user.dept_id is not None and scopes & {"dept", "dept_and_children"}:
        dept_ids.add(user.dept_id)
        if "dept_and_children" in scopes:
            own = await db.get(Dept, user.dept_id)
            if own is not None:
                dept_ids.update(
                    (
                        await db.execute(select(Dept.id).where(Dept.path.startswith(own.path)))
                    ).scalars()
                )
    scope = DataScope(
        all="all" in scopes,
        dept_ids=frozenset(dept_ids),
        # "self", or no roles at all: a user can always see their own rows.
        own="self" in scopes or not roles,
    )
    return Principal(
        user_id=user.id,
        username=user.username,
        session_id=session_id,
        is_superuser=user.is_superuser,
        dept_id=user.dept_id,
        roles=frozenset(role.code for role in roles),
        permissions=frozenset(permissions),
        scope=scope,
        mfa_enrollment_required=any(r.require_mfa for r in roles) and not user.mfa_enabled,
        password_change_required=user.must_change_password,
    )


async def load_principal(
    db: AsyncSession,
    cache: Cache,
    memo: PrincipalMemo,
    user_id: int,
    session_id: str,
    versions: tuple[bytes | None, bytes | None],
) -> Principal:
    """The caller's principal: in-process memo, then the shared cache, then the database."""
    global_version, user_version = await _ensure_versions(cache, user_id, versions)
    key = (user_id, global_version, user_version)
    known = memo.get(key)
    if known is not None:
        return known if known.session_id == session_id else _with_session(known, session_id)
    cache_key = f"authz:{key[0]}:{key[1]}:{key[2]}"
    cached = await cache.get_json(cache_key)
    if isinstance(cached, dict):
        principal = _from_json(cached, session_id)
    else:
        principal = await build_principal(db, user_id, session_id)
        await cache.set_json(cache_key, _to_json(principal), ttl=PRINCIPAL_TTL)
    memo.put(key, principal)
    return principal


def _with_session(principal: Principal, session_id: str) -> Principal:
    return replace(principal, session_id=session_id)
