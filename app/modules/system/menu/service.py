"""Business rules of the menus feature.

Menus are where permission codes live (roles grant menus, buttons carry codes), so every
change invalidates every cached principal: a disabled or deleted button's code is gone from
its holders on their next request.

Shape rules: a `button` carries a `permission`, has no route (`path`, `component`) and no
children; a `directory` or `menu` has a `title`. A menu never sits under itself or its
descendants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.concurrency import check_version, versioned_flush
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.core.trees import nest
from app.modules.system.auth import authz, power
from app.modules.system.menu import repository as repo
from app.modules.system.menu.exceptions import (
    MenuFieldInvalid,
    MenuHasChildren,
    MenuMoveCycle,
    MenuNotFound,
    MenuPermissionNotHeld,
    MenuWithChildrenCannotBeButton,
)
from app.modules.system.menu.models import Menu
from app.modules.system.menu.schemas import (
    MenuCreate,
    MenuFilters,
    MenuRead,
    MenuTreeNode,
    MenuUpdate,
)
from app.modules.system.operation_log.changes import record_change, snapshot

TITLE_MAX = 64


# Fields kept in the change log (ASVS 16.x: before/after of security-relevant records).
AUDITED = (
    "parent_id",
    "type",
    "title",
    "name",
    "path",
    "component",
    "icon",
    "permission",
    "sort",
    "visible",
    "status",
    "keep_alive",
    "link",
    "redirect",
)


async def list_menus(
    db: AsyncSession, principal: Principal, *, filters: MenuFilters, page: PageParams
) -> CursorPage[MenuRead]:
    """One page of menus and buttons (flat); menus are not data-scoped."""
    statement = repo.list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Menu.id])
    return result.as_page(MenuRead)


def build_tree(menus: Sequence[Menu]) -> list[MenuTreeNode]:
    """Nest `menus` (already ordered) under their parents."""
    return nest(menus, MenuTreeNode.model_validate)


async def tree(db: AsyncSession) -> list[MenuTreeNode]:
    return build_tree(await repo.list_ordered(db))


async def get_menu(db: AsyncSession, menu_id: int) -> Menu:
    menu = await repo.get(db, menu_id)
    if menu is None:
        raise MenuNotFound()
    return menu


def _check_shape(fields: dict[str, Any]) -> None:
    """The rules that tie `type` to the other fields, on the record as it will be."""
    if fields["type"] == "button":
        if not fields.get("permission"):
            raise MenuFieldInvalid("permission", "a button needs a permission code", "missing")
        for name in ("path", "component", "link", "redirect"):
            if fields.get(name) is not None:
                raise MenuFieldInvalid(name, "a button has no route")
    elif not fields.get("title"):
        raise MenuFieldInvalid("title", "a directory or menu needs a title", "missing")


async def _check_parent(db: AsyncSession, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = await repo.get(db, parent_id)
    if parent is None:
        raise MenuFieldInvalid("parent_id", "no such menu", "not_found")
    if parent.type == "button":
        raise MenuFieldInvalid("parent_id", "a button cannot have sub-menus")


def _check_grantable(principal: Principal, *codes: str | None) -> None:
    """Anti-escalation: a code on a menu is a grant in waiting (roles hold menus), so only
    someone who holds a code may put it on a menu or change a menu that carries it."""
    for code in codes:
        if code and not principal.can(code):
            raise MenuPermissionNotHeld()


async def create_menu(
    db: AsyncSession, cache: Cache, principal: Principal, data: MenuCreate
) -> Menu:
    fields = data.model_dump()
    _check_shape(fields)
    _check_grantable(principal, data.permission)
    await _check_parent(db, data.parent_id)
    if not fields["title"]:  # only a button gets here untitled: label it by its code
        fields["title"] = fields["permission"][:TITLE_MAX]
    menu = await repo.add(db, Menu(**fields))
    await record_change(
        db, entity="menu", entity_id=menu.id, action="create", after=snapshot(menu, AUDITED)
    )
    await authz.invalidate_all(cache, db)
    return menu


async def _refuse_cycle(db: AsyncSession, menu: Menu, new_parent_id: int | None) -> None:
    """Refuse a parent that is the menu itself or one of its descendants."""
    parents = await repo.parent_map(db, lock=True)
    seen: set[int] = set()
    current = new_parent_id
    while current is not None and current not in seen:
        if current == menu.id:
            raise MenuMoveCycle()
        seen.add(current)
        current = parents.get(current)


async def update_menu(
    db: AsyncSession, cache: Cache, principal: Principal, menu_id: int, data: MenuUpdate
) -> Menu:
    menu = await get_menu(db, menu_id)
    before = snapshot(menu, AUDITED)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    # Not locked: a writer that passes this check concurrently loses at the flush instead.
    check_version(changes.pop("version", None), menu.version)
    # Editing, moving or enabling a menu acts on its whole subtree: a directory enabled again
    # hands every code below it back to the roles that hold them (`auth.power`).
    await power.ensure_power_over_menu(db, principal, menu.id)
    _check_grantable(principal, changes.get("permission"))
    current = {
        name: getattr(menu, name)
        for name in ("type", "title", "permission", "path", "component", "link", "redirect")
    }
    _check_shape(current | changes)
    if (
        changes.get("type") == "button"
        and menu.type != "button"
        and await repo.has_children(db, menu.id)
    ):
        raise MenuWithChildrenCannotBeButton()
    moving = "parent_id" in changes and changes["parent_id"] != menu.parent_id
    if moving:
        await _check_parent(db, changes["parent_id"])
        await _refuse_cycle(db, menu, changes["parent_id"])
    for name, value in changes.items():
        setattr(menu, name, value)
    await versioned_flush(db)
    if moving:
        # SQLite has no row locks: its write lock is taken by the flush above, so look at
        # the tree again, as it is now.
        await _refuse_cycle(db, menu, changes["parent_id"])
    await record_change(
        db,
        entity="menu",
        entity_id=menu.id,
        action="update",
        before=before,
        after=snapshot(menu, AUDITED),
    )
    await authz.invalidate_all(cache, db)
    return menu


async def delete_menu(db: AsyncSession, cache: Cache, principal: Principal, menu_id: int) -> None:
    menu = await get_menu(db, menu_id)
    if await repo.has_children(db, menu.id):
        raise MenuHasChildren()
    await power.ensure_power_over_menu(db, principal, menu.id)
    before = snapshot(menu, AUDITED)
    await repo.delete(db, menu)
    await record_change(db, entity="menu", entity_id=menu_id, action="delete", before=before)
    await authz.invalidate_all(cache, db)
