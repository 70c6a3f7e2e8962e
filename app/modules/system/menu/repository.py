"""All SQL of the menus feature (not data-scoped: menus are the permission catalogue)."""

from __future__ import annotations

from sqlalchemy import Select, exists, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.menu.models import Menu
from app.modules.system.role.models import Role, role_menu


def list_statement(
    *,
    title: str | None = None,
    type_: str | None = None,
    status: str | None = None,
    visible: bool | None = None,
) -> Select[Menu]:
    statement = select(Menu)
    if title:
        statement = statement.where(Menu.title.icontains(title, autoescape=True))
    if type_:
        statement = statement.where(Menu.type == type_)
    if status:
        statement = statement.where(Menu.status == status)
    if visible is not None:
        statement = statement.where(Menu.visible == visible)
    return statement


async def list_ordered(db: AsyncSession) -> list[Menu]:
    """Every menu, ordered by `sort`, then `id` (one query)."""
    return list((await db.execute(select(Menu).order_by(Menu.sort, Menu.id))).scalars())


async def parent_map(db: AsyncSession, *, lock: bool = False) -> dict[int, int | None]:
    """`id -> parent_id` of every menu (menus are few), to walk ancestors in Python.

    With `lock`, every menu row is locked (PostgreSQL, MySQL) until the transaction ends, so
    moves are serialised and each sees the tree the previous one left.
    """
    statement = select(Menu.id, Menu.parent_id).order_by(Menu.id)
    if lock:
        statement = statement.with_for_update()
    return dict((await db.execute(statement)).all())


async def get(db: AsyncSession, menu_id: int) -> Menu | None:
    return await db.get(Menu, menu_id)


async def has_children(db: AsyncSession, menu_id: int) -> bool:
    statement = select(exists().where(Menu.parent_id == menu_id))
    return bool((await db.execute(statement)).scalar())


async def add(db: AsyncSession, menu: Menu) -> Menu:
    db.add(menu)
    await db.flush()
    return menu


async def delete(db: AsyncSession, menu: Menu) -> None:
    """Delete `menu` and its role grants, locking in the order role writers use.

    A role update locks the role row, rewrites its links, then (foreign key check) the menus.
    Left to `ON DELETE CASCADE`, a delete would lock the menu first and the links after: the
    opposite order, a deadlock with any concurrent update of a role holding the menu. So the
    holding roles are locked first (in id order), then the links go, then the menu.
    """
    holders = list(
        (
            await db.execute(
                select(role_menu.c.role_id)
                .where(role_menu.c.menu_id == menu.id)
                .order_by(role_menu.c.role_id)
            )
        ).scalars()
    )
    if holders:
        await db.execute(
            select(Role.id).where(Role.id.in_(holders)).order_by(Role.id).with_for_update()
        )
    await db.execute(delete_rows(role_menu).where(role_menu.c.menu_id == menu.id))
    await db.delete(menu)
    await db.flush()


async def subtree_codes(db: AsyncSession, menu_id: int) -> set[str]:
    """The permission codes carried by the menu and every menu below it, whatever their
    status (menus are few: one query, walked in Python)."""
    rows = (await db.execute(select(Menu.id, Menu.parent_id, Menu.permission))).all()
    children: dict[int | None, list[int]] = {}
    codes: dict[int, str | None] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row.id)
        codes[row.id] = row.permission
    found: set[str] = set()
    pending, seen = [menu_id], set()
    while pending:
        current = pending.pop()
        if current in seen or current not in codes:
            continue
        seen.add(current)
        if codes[current]:
            found.add(str(codes[current]))
        pending.extend(children.get(current, []))
    return found
