"""All SQL of the roles feature. Roles are not data-scoped; their grants are two link tables
(`sys_role_menu`, `sys_role_dept`), always replaced as a whole in a stable order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, delete, exists, false, func, insert, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.dept.models import Dept
from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role, role_dept, role_menu
from app.modules.system.user.models import User, user_role


@dataclass(frozen=True)
class RoleGrant:
    """What holding a role gives: permission codes and a data scope."""

    id: int
    data_scope: str
    codes: frozenset[str]
    dept_ids: frozenset[int]  # for "custom"


def list_statement(
    *, name: str | None = None, code: str | None = None, status: str | None = None
) -> Select[Role]:
    """Roles matching the filters (ordering is left to the pager)."""
    statement = select(Role)
    if name:
        statement = statement.where(Role.name.icontains(name, autoescape=True))
    if code:
        statement = statement.where(func.lower(Role.code) == code.lower())
    if status:
        statement = statement.where(Role.status == status)
    return statement


async def get(db: AsyncSession, role_id: int, *, for_update: bool = False) -> Role | None:
    statement = select(Role).where(Role.id == role_id)
    if for_update:
        # Serialises concurrent grant edits of one role (SQLite takes the write lock instead).
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(statement)).scalars().first()


async def code_taken(db: AsyncSession, code: str, *, exclude_id: int | None = None) -> bool:
    """True if another role has `code` (case-insensitively)."""
    condition = func.lower(Role.code) == code.lower()
    if exclude_id is not None:
        condition = condition & (Role.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def links(
    db: AsyncSession, role_ids: Collection[int]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Menu ids and dept ids of each role, in two queries whatever the number of roles."""
    menus: dict[int, list[int]] = defaultdict(list)
    depts: dict[int, list[int]] = defaultdict(list)
    if not role_ids:
        return menus, depts
    ids = sorted(set(role_ids))
    rows = await db.execute(
        select(role_menu.c.role_id, role_menu.c.menu_id)
        .where(role_menu.c.role_id.in_(ids))
        .order_by(role_menu.c.role_id, role_menu.c.menu_id)
    )
    for role_id, menu_id in rows:
        menus[role_id].append(menu_id)
    rows = await db.execute(
        select(role_dept.c.role_id, role_dept.c.dept_id)
        .where(role_dept.c.role_id.in_(ids))
        .order_by(role_dept.c.role_id, role_dept.c.dept_id)
    )
    for role_id, dept_id in rows:
        depts[role_id].append(dept_id)
    return menus, depts


async def existing_menu_ids(db: AsyncSession, ids: Collection[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.execute(select(Menu.id).where(Menu.id.in_(sorted(ids))))
    return set(rows.scalars())


async def existing_dept_ids(db: AsyncSession, ids: Collection[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.execute(select(Dept.id).where(Dept.id.in_(sorted(ids))))
    return set(rows.scalars())


async def menu_codes(db: AsyncSession, menu_ids: Collection[int]) -> set[str]:
    """The permission codes the menus carry, whatever their status (a disabled menu can be
    enabled again by someone else, so it counts as a grant)."""
    if not menu_ids:
        return set()
    rows = await db.execute(
        select(Menu.permission)
        .where(Menu.id.in_(sorted(menu_ids)), Menu.permission.is_not(None))
        .distinct()
    )
    return {code for code in rows.scalars() if code}


async def grants(db: AsyncSession, role_ids: Collection[int]) -> list[RoleGrant]:
    """The grants of the existing roles among `role_ids` (any status), in three queries.

    Disabled roles and menus count: they would grant again once re-enabled.
    """
    if not role_ids:
        return []
    ids = sorted(set(role_ids))
    roles = (
        await db.execute(select(Role.id, Role.data_scope).where(Role.id.in_(ids)).order_by(Role.id))
    ).all()
    codes: dict[int, set[str]] = defaultdict(set)
    rows = await db.execute(
        select(role_menu.c.role_id, Menu.permission)
        .join(Menu, Menu.id == role_menu.c.menu_id)
        .where(role_menu.c.role_id.in_(ids), Menu.permission.is_not(None))
    )
    for role_id, code in rows:
        if code:
            codes[role_id].add(code)
    depts: dict[int, set[int]] = defaultdict(set)
    for role_id, dept_id in await db.execute(
        select(role_dept.c.role_id, role_dept.c.dept_id).where(role_dept.c.role_id.in_(ids))
    ):
        depts[role_id].add(dept_id)
    return [
        RoleGrant(
            id=role_id,
            data_scope=scope,
            codes=frozenset(codes[role_id]),
            dept_ids=frozenset(depts[role_id]),
        )
        for role_id, scope in roles
    ]


async def add(db: AsyncSession, role: Role) -> Role:
    db.add(role)
    await db.flush()
    return role


async def replace_menus(db: AsyncSession, role_id: int, menu_ids: Sequence[int]) -> None:
    """Delete, then insert in ascending id order: two concurrent replacements lock the rows
    in the same order, which keeps them from deadlocking each other."""
    await db.execute(delete(role_menu).where(role_menu.c.role_id == role_id))
    ids = sorted(set(menu_ids))
    if ids:
        await db.execute(insert(role_menu), [{"role_id": role_id, "menu_id": i} for i in ids])


async def replace_depts(db: AsyncSession, role_id: int, dept_ids: Sequence[int]) -> None:
    """Same as `replace_menus`, for the departments of a "custom" data scope."""
    await db.execute(delete(role_dept).where(role_dept.c.role_id == role_id))
    ids = sorted(set(dept_ids))
    if ids:
        await db.execute(insert(role_dept), [{"role_id": role_id, "dept_id": i} for i in ids])


async def delete_role(db: AsyncSession, role: Role) -> None:
    """Delete the role and every link to it, explicitly (not only by ON DELETE CASCADE)."""
    await db.execute(delete(user_role).where(user_role.c.role_id == role.id))
    await db.execute(delete(role_menu).where(role_menu.c.role_id == role.id))
    await db.execute(delete(role_dept).where(role_dept.c.role_id == role.id))
    await db.delete(role)
    await db.flush()


async def subtree_ids(db: AsyncSession, dept_ids: Collection[int]) -> set[int]:
    """The departments `dept_ids` and all their descendants (by materialized path)."""
    if not dept_ids:
        return set()
    paths = list(
        (await db.execute(select(Dept.path).where(Dept.id.in_(sorted(set(dept_ids)))))).scalars()
    )
    if not paths:
        return set()
    rows = await db.execute(
        select(Dept.id).where(or_(*(Dept.path.startswith(p, autoescape=True) for p in paths)))
    )
    return set(rows.scalars())


async def holder_dept_ids(db: AsyncSession, role_id: int) -> set[int]:
    """The departments of the users holding the role (users without one are left out)."""
    rows = await db.execute(
        select(User.dept_id)
        .join(user_role, user_role.c.user_id == User.id)
        .where(user_role.c.role_id == role_id, User.dept_id.is_not(None))
        .distinct()
    )
    return {dept_id for dept_id in rows.scalars() if dept_id is not None}


async def has_holder_outside(db: AsyncSession, role_id: int, scope: ColumnElement[bool]) -> bool:
    """True if a user holding the role is not matched by `scope` (a data-scope clause on
    `User`; a NULL department counts as outside)."""
    inside = func.coalesce(scope, false())
    statement = select(
        exists().where(user_role.c.role_id == role_id, User.id == user_role.c.user_id, not_(inside))
    )
    return bool((await db.execute(statement)).scalar())
