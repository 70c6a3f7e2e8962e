"""Business rules of the roles feature, and the "nobody grants what they do not hold" rule.

A role grants permission codes (through its menus) and a data scope. A non-superuser may
only create a role, or widen one (add menus, change its data scope, add custom departments,
enable it), when the result stays within their own power: every permission code of the role
is one they hold, and what its data scope reaches (for its current holders, for the relative
scopes) is inside their own data scope (docs/security-checklist.md §0 #4, ASVS 8.2.1-8.2.3). Any
change
to an existing role, narrowing included (removing menus, disabling it, deleting it), is acting
on it and its holders: it needs power over the role as it is (`auth.power`, the one rule for
every action on another principal). Superusers may do anything.

Any change to a role's grants, status, code or MFA requirement, and its deletion, bumps the
global authorization version: every holder's next request sees the change (ASVS 8.3.2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.concurrency import check_version, versioned_flush
from app.core.database import utcnow
from app.core.integrity import violated_fields
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.auth import authz, power
from app.modules.system.auth.power import Uncovered, first_uncovered, within_scope
from app.modules.system.operation_log.changes import record_change
from app.modules.system.role import repository as repo
from app.modules.system.role.exceptions import (
    GrantNotHeld,
    RoleCodeTaken,
    RoleNotFound,
    ScopeNotHeld,
    UnknownIds,
)
from app.modules.system.role.models import Role
from app.modules.system.role.repository import RoleGrant
from app.modules.system.role.schemas import RoleCreate, RoleFilters, RoleRead, RoleUpdate

__all__ = ["RoleGrant", "Uncovered", "first_uncovered"]


# ----------------------------------------------------------------- power comparisons --
# The comparisons live in `app.modules.system.auth.power`, the one rule every action on another
# principal uses; this module keeps the field names of the role API.


async def _ensure_within_caller(
    db: AsyncSession,
    principal: Principal,
    *,
    role_id: int | None,
    menu_ids: Collection[int],
    data_scope: str,
    dept_ids: Collection[int],
    menus_field: str,
) -> None:
    """Refuse (403) a role state that would grant more than the caller holds."""
    if principal.is_superuser:
        return
    if not principal.holds_all(await repo.menu_codes(db, menu_ids)):
        raise GrantNotHeld(menus_field, "You cannot put permissions you do not hold into a role")
    if principal.scope.all:
        return
    if data_scope == "all":
        raise ScopeNotHeld("data_scope")
    if data_scope == "custom" and not within_scope(principal, dept_ids):
        raise ScopeNotHeld("dept_ids")
    if data_scope in ("dept", "dept_and_children") and role_id is not None:
        # Relative scopes reach their holders' departments (and, below them, the subtrees).
        holders = await repo.holder_dept_ids(db, role_id)
        reach = holders if data_scope == "dept" else await repo.subtree_ids(db, holders)
        if not within_scope(principal, reach):
            raise ScopeNotHeld("data_scope")


# ------------------------------------------------------------------------------ CRUD --


async def list_roles(
    db: AsyncSession, principal: Principal, *, filters: RoleFilters, page: PageParams
) -> CursorPage[RoleRead]:
    """One page of roles with their menu and department ids; roles are not data-scoped."""
    statement = repo.list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Role.id])
    return CursorPage[RoleRead](
        items=await to_read(db, result.items),
        total=result.total,
        page=page.page,
        page_size=page.page_size,
        total_exact=result.total_exact,
        next_cursor=result.next_cursor,
    )


async def to_read(db: AsyncSession, roles: Sequence[Role]) -> list[RoleRead]:
    """Response bodies for `roles`, their links loaded in two queries."""
    menus, depts = await repo.links(db, [role.id for role in roles])
    return [
        RoleRead(
            id=role.id,
            name=role.name,
            code=role.code,
            status=role.status,
            sort=role.sort,
            data_scope=role.data_scope,
            dept_ids=depts.get(role.id, []),
            menu_ids=menus.get(role.id, []),
            require_mfa=role.require_mfa,
            remark=role.remark,
            version=role.version,
            created_at=role.created_at,
            updated_at=role.updated_at,
        )
        for role in roles
    ]


async def get_role(db: AsyncSession, role_id: int) -> RoleRead:
    role = await repo.get(db, role_id)
    if role is None:
        raise RoleNotFound()
    return (await to_read(db, [role]))[0]


async def _ensure_exist(
    db: AsyncSession, *, menu_ids: Collection[int] = (), dept_ids: Collection[int] = ()
) -> None:
    """422 naming `menu_ids` / `dept_ids` when an id names no row."""
    if set(menu_ids) - await repo.existing_menu_ids(db, menu_ids):
        raise UnknownIds("menu_ids", "menu")
    if set(dept_ids) - await repo.existing_dept_ids(db, dept_ids):
        raise UnknownIds("dept_ids", "department")


@asynccontextmanager
async def _unique_code() -> AsyncIterator[None]:
    """A request racing past `code_taken` loses with the same 409 naming `code`."""
    try:
        yield
    except IntegrityError as exc:
        if "code" in violated_fields(exc):
            raise RoleCodeTaken() from None
        raise


async def create_role(db: AsyncSession, principal: Principal, data: RoleCreate) -> RoleRead:
    await _ensure_exist(db, menu_ids=data.menu_ids, dept_ids=data.dept_ids)
    await _ensure_within_caller(
        db,
        principal,
        role_id=None,
        menu_ids=data.menu_ids,
        data_scope=data.data_scope,
        dept_ids=data.dept_ids,
        menus_field="menu_ids",
    )
    if await repo.code_taken(db, data.code):
        raise RoleCodeTaken()
    async with _unique_code():
        role = await repo.add(db, Role(**data.model_dump(exclude={"menu_ids", "dept_ids"})))
    await repo.replace_menus(db, role.id, data.menu_ids)
    await repo.replace_depts(db, role.id, data.dept_ids)
    # A new role has no holders: no principal changes.
    created_role = (await to_read(db, [role]))[0]
    await record_change(
        db, entity="role", entity_id=role.id, action="create", after=created_role.model_dump()
    )
    return created_role


async def update_role(
    db: AsyncSession, cache: Cache, principal: Principal, role_id: int, data: RoleUpdate
) -> RoleRead:
    role = await repo.get(db, role_id, for_update=True)
    if role is None:
        raise RoleNotFound()
    # Acting on the role as it is (narrowing it too) needs power over it and its holders.
    await power.ensure_power_over_role(db, principal, role.id)
    before = (await to_read(db, [role]))[0]
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    check_version(changes.pop("version", None), role.version)  # read under the row lock
    menus, depts = await repo.links(db, [role.id])
    old_menus, old_depts = menus.get(role.id, []), depts.get(role.id, [])
    new_menus: list[int] = changes.pop("menu_ids", old_menus)
    new_depts: list[int] = changes.pop("dept_ids", old_depts)
    await _ensure_exist(
        db,
        menu_ids=set(new_menus) - set(old_menus),
        dept_ids=set(new_depts) - set(old_depts),
    )
    new_scope: str = changes.get("data_scope", role.data_scope)
    # What widens the role, named by the field that does it (the first one wins).
    widened_by = [
        field
        for field, widens in (
            ("menu_ids", bool(set(new_menus) - set(old_menus))),
            ("data_scope", new_scope != role.data_scope),
            ("dept_ids", bool(set(new_depts) - set(old_depts))),
            # Enabling a role hands its grants back to every holder.
            ("status", changes.get("status") == "active" and role.status != "active"),
        )
        if widens
    ]
    if widened_by:
        await _ensure_within_caller(
            db,
            principal,
            role_id=role.id,
            menu_ids=new_menus,
            data_scope=new_scope,
            dept_ids=new_depts,
            menus_field=widened_by[0],
        )
    if (
        "code" in changes
        and changes["code"].lower() != role.code.lower()
        and await repo.code_taken(db, changes["code"], exclude_id=role.id)
    ):
        raise RoleCodeTaken()
    grants_changed = new_menus != old_menus or new_depts != old_depts
    authz_changed = grants_changed or any(
        field in changes and changes[field] != getattr(role, field)
        for field in ("status", "data_scope", "require_mfa", "code")
    )
    for field, value in changes.items():
        setattr(role, field, value)
    if grants_changed:
        # Touch the row: its version moves, so a concurrent stale edit is a 409.
        role.updated_at = utcnow()
        if new_menus != old_menus:
            await repo.replace_menus(db, role.id, new_menus)
        if new_depts != old_depts:
            await repo.replace_depts(db, role.id, new_depts)
    async with _unique_code():
        await versioned_flush(db)
    if authz_changed:
        await authz.invalidate_all(cache, db)
    after = (await to_read(db, [role]))[0]
    await record_change(
        db,
        entity="role",
        entity_id=role.id,
        action="update",
        before=before.model_dump(),
        after=after.model_dump(),
    )
    return after


async def delete_role(db: AsyncSession, cache: Cache, principal: Principal, role_id: int) -> None:
    """Delete a role, in use or not: its holders lose its grants on their next request.
    Only someone with power over the role and its holders may (403 otherwise)."""
    role = await repo.get(db, role_id, for_update=True)
    if role is None:
        raise RoleNotFound()
    await power.ensure_power_over_role(db, principal, role.id)
    before = (await to_read(db, [role]))[0]
    await repo.delete_role(db, role)
    await record_change(
        db, entity="role", entity_id=role_id, action="delete", before=before.model_dump()
    )
    await authz.invalidate_all(cache, db)
