"""All SQL of the departments feature. Every read and write of a department the caller
addresses goes through `_visible`, i.e. through the data-scope filter."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Select, String, exists, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.core.access import Principal, scope_filter
from app.core.sql import in_values
from app.modules.system.dept.models import Dept
from app.modules.system.user.models import User


def unrestricted(principal: Principal) -> bool:
    """True if the caller's data scope covers every department."""
    return scope_filter(principal, dept_column=Dept.id, owner_column=None) is None


def _visible(principal: Principal) -> Select[Dept]:
    statement = select(Dept)
    clause = scope_filter(principal, dept_column=Dept.id, owner_column=None)
    return statement if clause is None else statement.where(clause)


def list_statement(
    principal: Principal,
    *,
    name: str | None = None,
    code: str | None = None,
    status: str | None = None,
    parent_id: int | None = None,
) -> Select[Dept]:
    """The caller's departments matching the filters (ordering is left to the pager)."""
    statement = _visible(principal)
    if name:
        statement = statement.where(Dept.name.icontains(name, autoescape=True))
    if code:
        statement = statement.where(func.lower(Dept.code) == code.lower())
    if status:
        statement = statement.where(Dept.status == status)
    if parent_id is not None:
        statement = statement.where(Dept.parent_id == parent_id)
    return statement


async def list_for_tree(
    db: AsyncSession, principal: Principal, *, status: str | None = None
) -> list[Dept]:
    """Every department the caller may see, ordered by `sort`, then `id` (one query)."""
    statement = _visible(principal).order_by(Dept.sort, Dept.id)
    if status:
        statement = statement.where(Dept.status == status)
    return list((await db.execute(statement)).scalars())


async def get_visible(
    db: AsyncSession, principal: Principal, dept_id: int, *, for_share: bool = False
) -> Dept | None:
    """The department if the caller may see it; `for_share` also takes a shared row lock
    (PostgreSQL `FOR SHARE`, MySQL `LOCK IN SHARE MODE`) and reloads the row, in the same
    query: its path cannot change (a move locks it `FOR UPDATE`) until the transaction ends,
    while other creates under it, which only share the lock, go on at the same time."""
    statement = _visible(principal).where(Dept.id == dept_id)
    if for_share:
        statement = statement.with_for_update(read=True).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalars().first()


async def lock(db: AsyncSession, dept_ids: Sequence[int], *, subtree_of: str | None = None) -> None:
    """Lock departments, and with `subtree_of` a whole subtree, and reload them.

    Path writers are serialised this way on PostgreSQL and MySQL: a move locks the moved
    subtree and the new parent, a create locks the parent, so no one computes a path from
    one that is being rewritten. Rows are locked in id order, so two writers cannot
    deadlock. SQLite ignores the lock; there the caller reloads after its first write,
    which holds the database write lock.
    """
    condition: ColumnElement[bool] = Dept.id.in_(sorted(set(dept_ids)))
    if subtree_of is not None:
        condition = or_(condition, Dept.path.startswith(subtree_of, autoescape=True))
    statement = (
        select(Dept)
        .where(condition)
        .order_by(Dept.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    await db.execute(statement)


async def code_taken(db: AsyncSession, code: str, *, exclude_id: int | None = None) -> bool:
    """True if another department has `code` (case-insensitively)."""
    condition = func.lower(Dept.code) == code.lower()
    if exclude_id is not None:
        condition = condition & (Dept.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def has_children(db: AsyncSession, dept_id: int) -> bool:
    """Any sub-department, visible to the caller or not."""
    statement = select(exists().where(Dept.parent_id == dept_id))
    return bool((await db.execute(statement)).scalar())


async def has_users(db: AsyncSession, dept_id: int) -> bool:
    statement = select(exists().where(User.dept_id == dept_id))
    return bool((await db.execute(statement)).scalar())


async def add(db: AsyncSession, dept: Dept, parent: Dept | None) -> Dept:
    """Insert `dept` and give it its path (which holds its own id, known after the insert).

    The caller has locked `parent` (`get_visible(..., for_share=True)`), so its path cannot
    change under us -- except on SQLite, which has no row locks: there the path is read
    again after the insert, which took the database's write lock.
    """
    dept.path = "/"
    db.add(dept)
    await db.flush()
    if parent is not None and db.get_bind().dialect.name == "sqlite":
        await lock(db, [parent.id])
    path = f"{parent.path if parent is not None else '/'}{dept.id}/"
    # A plain UPDATE: setting the attribute would bump the optimistic-lock version (and
    # `updated_at`) of a row that is only being created.
    await db.execute(
        update(Dept)
        .where(Dept.id == dept.id)
        .values(path=path, updated_at=dept.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(dept, "path", path)
    return dept


async def move_subtree(db: AsyncSession, old_prefix: str, new_prefix: str) -> int:
    """Rewrite the paths of a department and all its descendants in one UPDATE.

    `path = new_prefix || substr(path, len(old_prefix) + 1)`; the string `+` compiles to
    `||` (SQLite, PostgreSQL) or `concat()` (MySQL/MariaDB).
    """
    new_path = literal(new_prefix, String) + func.substr(
        Dept.path, len(old_prefix) + 1, type_=String
    )
    result = await db.execute(
        update(Dept)
        .where(Dept.path.startswith(old_prefix, autoescape=True))
        .values(path=new_path)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete(db: AsyncSession, dept: Dept) -> None:
    await db.delete(dept)
    await db.flush()


async def subtree_ids(db: AsyncSession, path: str) -> set[int]:
    """The department at `path` and every department below it, visible or not."""
    rows = await db.execute(select(Dept.id).where(Dept.path.startswith(path, autoescape=True)))
    return set(rows.scalars())


async def users_in(db: AsyncSession, dept_ids: Collection[int]) -> list[User]:
    """The users of these departments."""
    if not dept_ids:
        return []
    rows = await db.execute(select(User).where(in_values(User.dept_id, dept_ids)).order_by(User.id))
    return list(rows.scalars())


async def superuser_dept_chains(db: AsyncSession) -> list[list[int]]:
    """For every active superuser (they are few), the ids of their department and of every
    department above it (empty without a department). Locking reads: the superusers' rows
    `FOR UPDATE`, their departments `FOR SHARE`, so two requests disabling the departments of
    different superusers at once are serialised and the second sees the first's change
    (also under MariaDB's repeatable read, where a locking read sees the latest commit)."""
    users = await db.execute(
        select(User.id, User.dept_id)
        .where(User.is_superuser.is_(True), User.status == "active")
        .order_by(User.id)
        .with_for_update()
    )
    homes: list[int | None] = [dept_id for _, dept_id in users.all()]
    dept_ids = {d for d in homes if d is not None}
    paths: dict[int, str] = {}
    if dept_ids:
        rows = await db.execute(
            select(Dept.id, Dept.path)
            .where(in_values(Dept.id, dept_ids))
            .order_by(Dept.id)
            .with_for_update(read=True)
        )
        paths = dict(rows.all())
    return [
        [int(p) for p in paths.get(dept_id, "").split("/") if p.isdigit()] or [dept_id]
        if dept_id is not None
        else []
        for dept_id in homes
    ]


async def disabled_among(db: AsyncSession, dept_ids: Collection[int]) -> set[int]:
    """Which of these departments are disabled (a locking read, see above)."""
    if not dept_ids:
        return set()
    rows = await db.execute(
        select(Dept.id)
        .where(in_values(Dept.id, dept_ids), Dept.status != "active")
        .order_by(Dept.id)
        .with_for_update(read=True)
    )
    return set(rows.scalars())
