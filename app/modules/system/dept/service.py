"""Business rules of the departments feature: the tree, moves, and what blocks a delete.

Departments are data-scoped: a department outside the caller's scope is "not found", and a
new or moved department must sit under one the caller can see. Moving a department, or
changing its status, acts on its whole subtree and the users in it: every department below
must be inside the caller's scope and the caller needs power over every user there
(`auth.power`). A disabled department locks its users, and those of every department below
it, out: they cannot sign in or refresh, their sessions end, and a principal is never built
for them; enabling it again lets them sign in again. Data scopes such as
"dept_and_children" are computed from the tree, so any change to its shape (create, move,
delete) or to a department's status invalidates every cached principal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.concurrency import check_version, versioned_flush
from app.core.database import utcnow
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.core.trees import nest
from app.modules.system.auth import authz, power, sessions
from app.modules.system.dept import repository as repo
from app.modules.system.dept.exceptions import (
    DeptCodeTaken,
    DeptHasChildren,
    DeptHasUsers,
    DeptMoveCycle,
    DeptNotFound,
    DeptSubtreeOutOfScope,
    LastSuperuserDept,
    ParentDeptNotFound,
    RootDeptNotAllowed,
)
from app.modules.system.dept.models import Dept
from app.modules.system.dept.schemas import (
    DeptCreate,
    DeptFilters,
    DeptRead,
    DeptTreeNode,
    DeptUpdate,
)
from app.modules.system.operation_log.changes import record_change, snapshot

# Fields kept in the change log (ASVS 16.x: before/after of security-relevant records).
AUDITED = ("parent_id", "name", "code", "leader", "phone", "email", "sort", "status")


async def list_depts(
    db: AsyncSession, principal: Principal, *, filters: DeptFilters, page: PageParams
) -> CursorPage[DeptRead]:
    """One page of the departments in the caller's data scope."""
    statement = repo.list_statement(principal, **asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Dept.id])
    return result.as_page(DeptRead)


def build_tree(depts: Sequence[Dept]) -> list[DeptTreeNode]:
    """Nest `depts` (already ordered) under their parents; an orphan becomes a root.

    A department whose parent the caller cannot see is shown at the top level.
    """
    return nest(depts, DeptTreeNode.model_validate)


async def tree(
    db: AsyncSession, principal: Principal, *, status: str | None = None
) -> list[DeptTreeNode]:
    return build_tree(await repo.list_for_tree(db, principal, status=status))


async def get_dept(db: AsyncSession, principal: Principal, dept_id: int) -> Dept:
    dept = await repo.get_visible(db, principal, dept_id)
    if dept is None:
        raise DeptNotFound()
    return dept


async def _parent(
    db: AsyncSession, principal: Principal, parent_id: int | None, *, lock: bool = False
) -> Dept | None:
    """The department to place something under: visible to the caller, or a 422; `lock`
    also takes a shared lock on it (one query), so its path cannot change until the
    transaction ends while creates under the same parent still run side by side.

    Only callers who see every department may place one at the top level (it would fall
    outside any narrower scope).
    """
    if parent_id is None:
        if not repo.unrestricted(principal):
            raise RootDeptNotAllowed()
        return None
    parent = await repo.get_visible(db, principal, parent_id, for_share=lock)
    if parent is None:
        raise ParentDeptNotFound()
    return parent


async def create_dept(
    db: AsyncSession, cache: Cache, principal: Principal, data: DeptCreate
) -> Dept:
    parent = await _parent(db, principal, data.parent_id, lock=True)
    if await repo.code_taken(db, data.code):
        raise DeptCodeTaken()
    dept = await repo.add(db, Dept(**data.model_dump()), parent)
    await record_change(
        db, entity="dept", entity_id=dept.id, action="create", after=snapshot(dept, AUDITED)
    )
    await authz.invalidate_all(cache, db)
    return dept


async def _ensure_power_over_subtree(db: AsyncSession, principal: Principal, dept: Dept) -> None:
    """A move or a status change acts on the whole subtree and its users (a move under the
    caller's own department would put hidden sub-departments into their scope; disabling
    signs the users out): every department below must lie inside the caller's data scope
    (403), and the caller needs power over every user in them (`auth.power`)."""
    if principal.is_superuser:
        return
    subtree = await repo.subtree_ids(db, dept.path)
    if not power.within_scope(principal, subtree):
        raise DeptSubtreeOutOfScope()
    await power.ensure_power_over_users(db, principal, await repo.users_in(db, subtree))


async def _ensure_a_superuser_remains(db: AsyncSession, dept: Dept) -> None:
    """409 if, with this subtree disabled (or moved under a disabled department), no active
    superuser would be left outside disabled departments."""
    subtree = await repo.subtree_ids(db, dept.path)
    chains = await repo.superuser_dept_chains(db)
    disabled = await repo.disabled_among(db, {d for chain in chains for d in chain})
    for chain in chains:
        if not (set(chain) & (subtree | disabled)):
            return
    raise LastSuperuserDept()


def _refuse_cycle(dept: Dept, parent: Dept | None) -> None:
    if parent is not None and parent.path.startswith(dept.path):
        raise DeptMoveCycle()


async def update_dept(
    db: AsyncSession, cache: Cache, principal: Principal, dept_id: int, data: DeptUpdate
) -> Dept:
    dept = await get_dept(db, principal, dept_id)
    before = snapshot(dept, AUDITED)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    expected_version = changes.pop("version", None)
    moving = "parent_id" in changes and changes["parent_id"] != dept.parent_id
    parent: Dept | None = None
    locked = [dept.id]
    if moving:
        if changes["parent_id"] is not None:
            locked.append(changes["parent_id"])
        # Row locks (PostgreSQL, MySQL) serialise writers of the same paths, so two
        # crossing moves cannot both pass the cycle check.
        await repo.lock(db, locked, subtree_of=dept.path)
        parent = await _parent(db, principal, changes["parent_id"])
        _refuse_cycle(dept, parent)
    if (
        "code" in changes
        and changes["code"].lower() != dept.code.lower()
        and await repo.code_taken(db, changes["code"], exclude_id=dept.id)
    ):
        raise DeptCodeTaken()
    # After the move's lock, which reloads the row: compared with the version the flush uses.
    check_version(expected_version, dept.version)
    status_changed = "status" in changes and changes["status"] != dept.status
    if moving or status_changed:
        await _ensure_power_over_subtree(db, principal, dept)
    locks_out = (status_changed and changes["status"] == "disabled") or (
        moving and parent is not None and await authz.dept_disabled(db, parent.id)
    )
    if locks_out:
        await _ensure_a_superuser_remains(db, dept)
    for field, value in changes.items():
        setattr(dept, field, value)
    await versioned_flush(db)
    if locks_out and db.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: the flush above took its write lock, so a concurrent
        # disable has committed by now or waits for us; look again.
        await _ensure_a_superuser_remains(db, dept)
    if moving:
        # SQLite has no row locks: its write lock is taken by the flush above, so look at
        # the tree again, as it is now, before rewriting the paths.
        await repo.lock(db, locked, subtree_of=dept.path)
        _refuse_cycle(dept, parent)
        new_prefix = f"{parent.path if parent is not None else '/'}{dept.id}/"
        await repo.move_subtree(db, dept.path, new_prefix)
        path = new_prefix
    else:
        path = dept.path
    if moving or status_changed:
        await authz.invalidate_all(cache, db)
    if (status_changed and changes["status"] == "disabled") or (
        moving and await authz.dept_disabled(db, dept_id)
    ):
        # Its users (and those below it) can no longer sign in: end their sessions now.
        users = await repo.users_in(db, await repo.subtree_ids(db, path))
        await sessions.revoke_sessions_of_users(
            db, cache, [user.id for user in users], reason="dept_disabled", now=utcnow()
        )
    await record_change(
        db,
        entity="dept",
        entity_id=dept.id,
        action="update",
        before=before,
        after=snapshot(dept, AUDITED),
    )
    return dept


async def delete_dept(db: AsyncSession, cache: Cache, principal: Principal, dept_id: int) -> None:
    dept = await get_dept(db, principal, dept_id)
    if await repo.has_children(db, dept.id):
        raise DeptHasChildren()
    if await repo.has_users(db, dept.id):
        raise DeptHasUsers()
    before = snapshot(dept, AUDITED)
    await repo.delete(db, dept)
    await record_change(db, entity="dept", entity_id=dept_id, action="delete", before=before)
    await authz.invalidate_all(cache, db)
