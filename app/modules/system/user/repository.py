"""All SQL of the users feature.

Every query for users the caller addresses (list, read, update, delete, reset, export) starts
from `scoped_conditions` / `get_scoped`, i.e. from the data-scope filter (docs/security-checklist.md
§0 #3):
a user outside the caller's scope is simply not found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.core.access import Principal, scope_filter
from app.core.sql import in_values
from app.modules.system.dept.models import Dept
from app.modules.system.position.models import Position
from app.modules.system.role.models import Role
from app.modules.system.user.models import User, user_position, user_role
from app.modules.system.user.schemas import UserFilters

EXPORT_BATCH = 500


_ROLE_KIND: ColumnElement[int] = literal_column("0", Integer()).label("kind")
_POSITION_KIND: ColumnElement[int] = literal_column("1", Integer()).label("kind")


def _scope(principal: Principal) -> ColumnElement[bool] | None:
    return scope_filter(principal, dept_column=User.dept_id, owner_column=User.id)


async def scoped_conditions(
    db: AsyncSession, principal: Principal, filters: UserFilters
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a list or export: the caller's data scope, then the filters.

    Built once and used by both, so the export holds exactly the rows the list shows.
    """
    conditions: list[ColumnElement[bool]] = []
    scope = _scope(principal)
    if scope is not None:
        conditions.append(scope)
    if filters.username:
        conditions.append(User.username.icontains(filters.username, autoescape=True))
    if filters.name:
        conditions.append(User.name.icontains(filters.name, autoescape=True))
    if filters.status:
        conditions.append(User.status == filters.status)
    if filters.dept_id is not None:
        if filters.include_children:
            path = (
                await db.execute(select(Dept.path).where(Dept.id == filters.dept_id))
            ).scalar_one_or_none()
            if path is None:
                conditions.append(false())
            else:
                subtree = select(Dept.id).where(Dept.path.startswith(path, autoescape=True))
                conditions.append(User.dept_id.in_(subtree))
        else:
            conditions.append(User.dept_id == filters.dept_id)
    if filters.role_id is not None:
        holders = select(user_role.c.user_id).where(user_role.c.role_id == filters.role_id)
        conditions.append(User.id.in_(holders))
    return conditions


# What a `UserRead` shows of the row itself (its role and position ids come from `links`).
READ_COLUMNS: tuple[QueryableAttribute[Any], ...] = (
    User.id,
    User.username,
    User.name,
    User.email,
    User.phone,
    User.status,
    User.is_superuser,
    User.dept_id,
    User.remark,
    User.must_change_password,
    User.mfa_enabled,
    User.last_login_at,
    User.version,
    User.created_at,
    User.updated_at,
)


# Built once: `where()` copies it without coercing the fifteen columns again on every page.
_READ_SELECT = select(*READ_COLUMNS)


def list_statement(conditions: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    """The columns of `READ_COLUMNS` of the users matching `conditions`, as plain rows (no ORM
    objects: a list reads, it never changes them). Ordering is left to the pager."""
    return _READ_SELECT.where(*conditions)


async def iter_batches(
    db: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    columns: Sequence[QueryableAttribute[Any]],
    *,
    batch_size: int = EXPORT_BATCH,
) -> AsyncIterator[Sequence[Row[Any]]]:
    """The matching users in id order, `batch_size` rows at a time (keyset pagination on id,
    so memory stays flat and no OFFSET scan grows). Each row starts with `User.id`."""
    last_id = 0
    while True:
        statement = (
            select(User.id, *columns)
            .where(*conditions, User.id > last_id)
            .order_by(User.id)
            .limit(batch_size)
        )
        rows = (await db.execute(statement)).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last_id = rows[-1][0]


async def get_scoped(
    db: AsyncSession, principal: Principal, user_id: int, *, for_update: bool = False
) -> User | None:
    """The user if it exists and is inside the caller's data scope."""
    statement = select(User).where(User.id == user_id)
    scope = _scope(principal)
    if scope is not None:
        statement = statement.where(scope)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await db.execute(statement)).scalars().first()


async def links(
    db: AsyncSession, user_ids: Collection[int]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Role ids and position ids of each user (ascending): one query (a UNION ALL of both link
    tables), whatever the number of users.

    Built for every list page, so it stays cheap to build: no subquery (whose columns
    SQLAlchemy would copy, foreign keys and all, on each call) and constant kinds rendered in
    the SQL; the few ids per user are sorted here."""
    roles: dict[int, list[int]] = defaultdict(list)
    positions: dict[int, list[int]] = defaultdict(list)
    if not user_ids:
        return roles, positions
    ids = sorted(set(user_ids))
    both = union_all(
        select(_ROLE_KIND, user_role.c.user_id, user_role.c.role_id).where(
            in_values(user_role.c.user_id, ids)
        ),
        select(_POSITION_KIND, user_position.c.user_id, user_position.c.position_id).where(
            in_values(user_position.c.user_id, ids)
        ),
    )
    for kind, user_id, ref in await db.execute(both):
        (positions if kind else roles)[user_id].append(ref)
    for found in (roles, positions):
        for refs in found.values():
            refs.sort()
    return roles, positions


async def username_taken(db: AsyncSession, username: str) -> bool:
    """Case-insensitive, so `Admin` cannot sit next to `admin` on any database."""
    condition = func.lower(User.username) == username.lower()
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def email_taken(db: AsyncSession, email: str, *, exclude_id: int | None = None) -> bool:
    condition = func.lower(User.email) == email.lower()
    if exclude_id is not None:
        condition = condition & (User.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def dept_exists(db: AsyncSession, dept_id: int) -> bool:
    return bool((await db.execute(select(exists().where(Dept.id == dept_id)))).scalar())


async def existing_position_ids(db: AsyncSession, ids: Collection[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.execute(select(Position.id).where(Position.id.in_(sorted(ids))))
    return set(rows.scalars())


async def other_active_superusers(db: AsyncSession, exclude_id: int) -> int:
    """How many other active superusers there are, with their rows locked.

    The lock makes two admins disabling each other's superusers at once see each other's
    change (PostgreSQL re-checks locked rows; SQLite serialises writers anyway).
    """
    rows = await db.execute(
        select(User.id)
        .where(User.is_superuser.is_(True), User.status == "active", User.id != exclude_id)
        .order_by(User.id)
        .with_for_update()
    )
    return len(rows.all())


async def add(db: AsyncSession, user: User) -> User:
    db.add(user)
    await db.flush()
    return user


async def add_links(
    db: AsyncSession, user_id: int, role_ids: Sequence[int], position_ids: Sequence[int]
) -> None:
    """The links of a user who has none yet (a new one): inserts only, in ascending id order."""
    roles, positions = sorted(set(role_ids)), sorted(set(position_ids))
    if roles:
        await db.execute(insert(user_role), [{"user_id": user_id, "role_id": i} for i in roles])
    if positions:
        await db.execute(
            insert(user_position), [{"user_id": user_id, "position_id": i} for i in positions]
        )


async def replace_roles(db: AsyncSession, user_id: int, role_ids: Sequence[int]) -> None:
    """Delete, then insert in ascending id order (a stable lock order)."""
    await db.execute(delete(user_role).where(user_role.c.user_id == user_id))
    ids = sorted(set(role_ids))
    if ids:
        await db.execute(insert(user_role), [{"user_id": user_id, "role_id": i} for i in ids])


async def replace_positions(db: AsyncSession, user_id: int, position_ids: Sequence[int]) -> None:
    await db.execute(delete(user_position).where(user_position.c.user_id == user_id))
    ids = sorted(set(position_ids))
    if ids:
        await db.execute(
            insert(user_position), [{"user_id": user_id, "position_id": i} for i in ids]
        )


async def delete_user(db: AsyncSession, user: User) -> None:
    """Delete the user and their links (sessions and recovery codes go by ON DELETE CASCADE)."""
    await db.execute(delete(user_role).where(user_role.c.user_id == user.id))
    await db.execute(delete(user_position).where(user_position.c.user_id == user.id))
    await db.delete(user)
    await db.flush()


# ------------------------------------------------------------------ import / export --
# Lookups in bulk, so a spreadsheet of N rows costs a few queries per chunk, not per row.

LOOKUP_CHUNK = 500


def _chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def role_codes(db: AsyncSession, user_ids: Collection[int]) -> dict[int, list[str]]:
    """The role codes of each user, sorted."""
    codes: dict[int, list[str]] = defaultdict(list)
    if not user_ids:
        return codes
    rows = await db.execute(
        select(user_role.c.user_id, Role.code)
        .join(Role, Role.id == user_role.c.role_id)
        .where(user_role.c.user_id.in_(sorted(set(user_ids))))
        .order_by(user_role.c.user_id, Role.code)
    )
    for user_id, code in rows:
        codes[user_id].append(code)
    return codes


async def dept_codes(db: AsyncSession, dept_ids: Collection[int]) -> dict[int, str]:
    if not dept_ids:
        return {}
    rows = await db.execute(select(Dept.id, Dept.code).where(Dept.id.in_(sorted(set(dept_ids)))))
    return {row[0]: row[1] for row in rows}


async def dept_ids_by_code(db: AsyncSession, codes: Collection[str]) -> dict[str, int]:
    """Department ids keyed by lower-cased code (codes are unique regardless of case)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted({code.lower() for code in codes})):
        rows = await db.execute(select(Dept.id, Dept.code).where(func.lower(Dept.code).in_(chunk)))
        found.update({code.lower(): dept_id for dept_id, code in rows})
    return found


async def role_ids_by_code(db: AsyncSession, codes: Collection[str]) -> dict[str, int]:
    """Role ids keyed by lower-cased code (codes are unique regardless of case)."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted({code.lower() for code in codes})):
        rows = await db.execute(select(Role.id, Role.code).where(func.lower(Role.code).in_(chunk)))
        found.update({code.lower(): role_id for role_id, code in rows})
    return found


async def taken_usernames(db: AsyncSession, usernames: Collection[str]) -> set[str]:
    """Which of `usernames` exist already, lower-cased (compared like `username_taken`)."""
    taken: set[str] = set()
    for chunk in _chunks(sorted({name.lower() for name in usernames})):
        rows = await db.execute(
            select(func.lower(User.username)).where(func.lower(User.username).in_(chunk))
        )
        taken.update(rows.scalars())
    return taken


async def taken_emails(db: AsyncSession, emails: Collection[str]) -> set[str]:
    """Which of `emails` exist already, lower-cased (compared like `email_taken`)."""
    taken: set[str] = set()
    for chunk in _chunks(sorted({email.lower() for email in emails})):
        rows = await db.execute(
            select(func.lower(User.email)).where(func.lower(User.email).in_(chunk))
        )
        taken.update(email for email in rows.scalars() if email)
    return taken


async def add_many(db: AsyncSession, users: Sequence[User]) -> None:
    """Insert users (ids are filled in) in one flush."""
    db.add_all(users)
    await db.flush()


async def add_role_links(db: AsyncSession, links: Sequence[tuple[int, int]]) -> None:
    """Insert `(user_id, role_id)` pairs, in a stable (ascending) order."""
    if links:
        await db.execute(
            insert(user_role), [{"user_id": u, "role_id": r} for u, r in sorted(set(links))]
        )


async def count_matching(db: AsyncSession, conditions: Sequence[ColumnElement[bool]]) -> int:
    """How many users match `conditions` (an export's total, for its progress)."""
    return int((await db.execute(select(func.count(User.id)).where(*conditions))).scalar_one())
