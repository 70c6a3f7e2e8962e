"""Business rules of the users feature: data scope, anti-escalation, sessions, export.

Rules (docs/security-checklist.md §0 #3, #4, #8; ASVS 8.2.1-8.2.3, 8.3.2, 7.4.2, 6.4.1):

- Data scope: a user outside the caller's scope is "not found" on every read and write, and
  absent from lists and exports; list and export share one query.
- Nobody grants what they do not hold: a non-superuser can only give a user roles whose
  permission codes they hold and whose data scope (for that user) lies inside their own.
- A non-superuser can only manage (edit, reset the password or MFA, disable, delete) a user
  whose roles are within their own power by the same measure (otherwise a password reset
  would hand them a stronger account); only a superuser manages a superuser.
  `is_superuser` is never settable. This is the one rule of `app.modules.system.auth.power`
  (`ensure_power_over_users`), which the force logout and department moves and status
  changes use too.
- Nobody changes their own roles, department or status, resets their own password or MFA or
  deletes themselves here: that is the profile's job (which asks for the current password).
- The last active superuser cannot be disabled or deleted.
- A department outside the caller's data scope cannot be assigned (403 naming `dept_id`; a
  department that does not exist is a 422).
- Changes to a user's roles, department or status apply on their next request; disabling,
  deleting or resetting the password or the MFA of a user ends all their sessions at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Principal
from app.core.cache import Cache
from app.core.concurrency import check_version, versioned_flush
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import AppError
from app.core.excel import csv_text
from app.core.integrity import violated_fields
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.core.security.passwords import PasswordHasher, check_password, generate_password
from app.modules.system.auth import authz, mfa, power, sessions
from app.modules.system.operation_log.changes import record_change
from app.modules.system.role import repository as role_repo
from app.modules.system.role import service as role_service
from app.modules.system.role.exceptions import GrantNotHeld, ScopeNotHeld
from app.modules.system.user import repository as repo
from app.modules.system.user.exceptions import (
    DeptOutOfScope,
    EmailTaken,
    LastSuperuser,
    SelfManagement,
    UnknownIds,
    UsernameTaken,
    UserNotFound,
)
from app.modules.system.user.models import User
from app.modules.system.user.schemas import (
    PasswordResetRead,
    UserCreate,
    UserFilters,
    UserRead,
    UserUpdate,
)

EXPORT_COLUMNS = ("id", "username", "name", "email", "phone", "status", "dept_id", "created_at")


# --------------------------------------------------------------------------- reading --


async def to_read(db: AsyncSession, users: Sequence[User] | Sequence[Row[Any]]) -> list[UserRead]:
    """Response bodies for `users` (ORM objects, or rows of `repo.READ_COLUMNS`); their role
    and position ids come in one query."""
    roles, positions = await repo.links(db, [user.id for user in users])
    return [read_of(user, roles.get(user.id, []), positions.get(user.id, [])) for user in users]


def read_of(user: User | Row[Any], role_ids: list[int], position_ids: list[int]) -> UserRead:
    """The response body of `user` whose links are known (no query)."""
    return UserRead(
        id=user.id,
        username=user.username,
        name=user.name,
        email=user.email,
        phone=user.phone,
        status=user.status,
        is_superuser=user.is_superuser,
        dept_id=user.dept_id,
        role_ids=role_ids,
        position_ids=position_ids,
        remark=user.remark,
        must_change_password=user.must_change_password,
        mfa_enabled=user.mfa_enabled,
        last_login_at=user.last_login_at,
        version=user.version,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def list_users(
    db: AsyncSession, principal: Principal, *, filters: UserFilters, page: PageParams
) -> CursorPage[UserRead]:
    """One page: the rows (after the cursor, or by OFFSET) with a bounded count, then the links.

    The count reads at most `exact_count_limit + 1` rows, so no page costs a pass over the
    table (docs/performance.md, "Lists at any size")."""
    conditions = await repo.scoped_conditions(db, principal, filters)
    result = await fetch_page(
        db, repo.list_statement(conditions), page, tiebreaker=[User.id], whole_rows=True
    )
    return CursorPage[UserRead](
        items=await to_read(db, result.items),
        total=result.total,
        page=page.page,
        page_size=page.page_size,
        total_exact=result.total_exact,
        next_cursor=result.next_cursor,
    )


async def get_user(db: AsyncSession, principal: Principal, user_id: int) -> UserRead:
    user = await repo.get_scoped(db, principal, user_id)
    if user is None:
        raise UserNotFound()
    return (await to_read(db, [user]))[0]


# --------------------------------------------------------------------------- checking --


def _dept_in_scope(principal: Principal, dept_id: int | None) -> bool:
    """True if a user placed in `dept_id` would be inside the caller's data scope."""
    if principal.is_superuser or principal.scope.all:
        return True
    return dept_id is not None and dept_id in principal.scope.dept_ids


async def _ensure_refs(
    db: AsyncSession,
    *,
    dept_id: int | None,
    role_ids: Sequence[int],
    position_ids: Sequence[int],
) -> list[role_service.RoleGrant]:
    """422 naming the field whose id names nothing; returns the grants of `role_ids`."""
    if dept_id is not None and not await repo.dept_exists(db, dept_id):
        raise UnknownIds("dept_id", "department")
    grants = await role_repo.grants(db, role_ids)
    if set(role_ids) - {grant.id for grant in grants}:
        raise UnknownIds("role_ids", "role")
    if set(position_ids) - await repo.existing_position_ids(db, position_ids):
        raise UnknownIds("position_ids", "position")
    return grants


async def _ensure_grantable(
    db: AsyncSession,
    principal: Principal,
    grants: Sequence[role_service.RoleGrant],
    *,
    dept_id: int | None,
    field: str,
) -> None:
    """403 unless the caller holds everything these roles give a user in `dept_id`."""
    problem = await power.first_uncovered(db, principal, grants, home_dept_id=dept_id)
    if problem == "permissions":
        raise GrantNotHeld(field)
    if problem == "scope":
        raise ScopeNotHeld(field)


async def _load_target(db: AsyncSession, principal: Principal, user_id: int) -> User:
    """The user to change, locked: 404 outside the scope, then 403 unless the caller has
    power over them (`auth.power.ensure_power_over_users`: not a superuser unless the caller
    is one, no role the caller does not cover)."""
    user = await repo.get_scoped(db, principal, user_id, for_update=True)
    if user is None:
        raise UserNotFound()
    await power.ensure_power_over_users(db, principal, [user])
    return user


async def _ensure_not_last_superuser(db: AsyncSession, user: User) -> None:
    if (
        user.is_superuser
        and user.status == "active"
        and await repo.other_active_superusers(db, user.id) == 0
    ):
        raise LastSuperuser()


# --------------------------------------------------------------------------- writing --


# The unique fields of `sys_user` and the 409 naming each (`app.core.integrity` reads which).
_UNIQUE_FIELDS: dict[str, type[UsernameTaken | EmailTaken]] = {
    "username": UsernameTaken,
    "email": EmailTaken,
}


@asynccontextmanager
async def _unique_fields() -> AsyncIterator[None]:
    """Two requests racing past the explicit duplicate check (docs/security-checklist.md F17,
    `Alice` and
    `alice` too): the loser's unique violation becomes the same 409 naming the field."""
    try:
        yield
    except IntegrityError as exc:
        for field in violated_fields(exc):
            conflict = _UNIQUE_FIELDS.get(field)
            if conflict is not None:
                raise conflict() from None
        raise


# The checks and the row of a new user, shared by `create_user` and the spreadsheet import
# (`transfer.py`), so an imported user passes exactly the rules of one created by hand.


def password_context(username: str | None, name: str | None, email: str | None) -> list[str]:
    """The words a new user's password must not contain: username, name, email's local part."""
    context = [word for word in (username, name) if word]
    if email:
        context.append(email.rpartition("@")[0])
    return context


def check_new_password(settings: Settings, data: UserCreate) -> None:
    """The password policy; the user's username, name and email are context words."""
    context = password_context(data.username, data.name, data.email)
    check_password(data.password, settings=settings, field="password", context=context)


async def ensure_assignable(db: AsyncSession, principal: Principal, data: UserCreate) -> None:
    """The department, roles and positions exist (422), the department is inside the caller's
    data scope (403 naming `dept_id`) and the caller may grant the roles there (403 naming
    `role_ids`)."""
    grants = await _ensure_refs(
        db, dept_id=data.dept_id, role_ids=data.role_ids, position_ids=data.position_ids
    )
    if not _dept_in_scope(principal, data.dept_id):
        raise DeptOutOfScope()
    await _ensure_grantable(db, principal, grants, dept_id=data.dept_id, field="role_ids")


async def placement_problems(
    db: AsyncSession,
    principal: Principal,
    *,
    dept_id: int | None,
    role_ids: Sequence[int],
    dept_known: bool = True,
) -> list[AppError]:
    """Every reason of `ensure_assignable` (not just the first) the caller may not place a new
    user in `dept_id` with `role_ids` (both known to exist). `dept_known=False`: the department
    is not known yet (misnamed), so only what holds wherever it is is checked: the roles'
    permissions and their fixed reach, not the department's scope."""
    problems: list[AppError] = []
    if dept_known and not _dept_in_scope(principal, dept_id):
        problems.append(DeptOutOfScope())
    grants = await role_repo.grants(db, role_ids)
    home = dept_id if dept_known else None
    try:
        await _ensure_grantable(db, principal, grants, dept_id=home, field="role_ids")
    except (GrantNotHeld, ScopeNotHeld) as exc:
        problems.append(exc)
    return problems


def new_user(
    data: UserCreate, password_hash: str, *, created_by: int | None, now: datetime
) -> User:
    """The row of a new user (never a superuser)."""
    return User(
        **data.model_dump(exclude={"password", "role_ids", "position_ids"}),
        password_hash=password_hash,
        password_changed_at=now,
        is_superuser=False,
        created_by=created_by,
    )


async def create_user(
    db: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    principal: Principal,
    data: UserCreate,
) -> UserRead:
    check_new_password(settings, data)
    if await repo.username_taken(db, data.username):
        raise UsernameTaken()
    if data.email and await repo.email_taken(db, data.email):
        raise EmailTaken()
    await ensure_assignable(db, principal, data)
    now = utcnow()
    password_hash = await hasher.hash(data.password)
    async with _unique_fields():
        user = await repo.add(
            db, new_user(data, password_hash, created_by=principal.user_id, now=now)
        )
    await repo.add_links(db, user.id, data.role_ids, data.position_ids)
    created_user = read_of(user, data.role_ids, data.position_ids)  # ascending, unique
    await record_change(
        db, entity="user", entity_id=user.id, action="create", after=created_user.model_dump()
    )
    return created_user


async def update_user(
    db: AsyncSession, cache: Cache, principal: Principal, user_id: int, data: UserUpdate
) -> UserRead:
    user = await _load_target(db, principal, user_id)
    roles, positions = await repo.links(db, [user.id])
    old_roles, old_positions = roles.get(user.id, []), positions.get(user.id, [])
    before = read_of(user, old_roles, old_positions)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    check_version(changes.pop("version", None), user.version)  # read under the row lock
    new_roles: list[int] = changes.pop("role_ids", old_roles)
    new_positions: list[int] = changes.pop("position_ids", old_positions)
    new_dept: int | None = changes.get("dept_id", user.dept_id)
    new_status: str = changes.get("status", user.status)
    roles_changed = new_roles != old_roles
    dept_changed = new_dept != user.dept_id
    status_changed = new_status != user.status
    if user.id == principal.user_id and (roles_changed or dept_changed or status_changed):
        raise SelfManagement()
    grants = await _ensure_refs(
        db,
        dept_id=new_dept if dept_changed else None,
        role_ids=new_roles if roles_changed or dept_changed else [],
        position_ids=sorted(set(new_positions) - set(old_positions)),
    )
    if dept_changed and not _dept_in_scope(principal, new_dept):
        raise DeptOutOfScope()
    if roles_changed or dept_changed:
        field = "role_ids" if roles_changed else "dept_id"
        await _ensure_grantable(db, principal, grants, dept_id=new_dept, field=field)
    if status_changed and new_status == "disabled":
        await _ensure_not_last_superuser(db, user)
    new_email = changes.get("email")
    if (
        new_email
        and new_email.lower() != (user.email or "").lower()
        and await repo.email_taken(db, new_email, exclude_id=user.id)
    ):
        raise EmailTaken()
    for field_name, value in changes.items():
        setattr(user, field_name, value)
    if roles_changed:
        await repo.replace_roles(db, user.id, new_roles)
    if new_positions != old_positions:
        await repo.replace_positions(db, user.id, new_positions)
    if roles_changed or new_positions != old_positions:
        user.updated_at = utcnow()  # the row's version moves with its links
    async with _unique_fields():
        await versioned_flush(db)
    if status_changed and new_status == "disabled":
        await sessions.revoke_user_sessions(
            db, cache, user.id, reason="user_disabled", now=utcnow()
        )
    if roles_changed or dept_changed or status_changed:
        await authz.invalidate_user(cache, user.id, db)
    after = read_of(user, new_roles, new_positions)  # both ascending and unique (IdList)
    await record_change(
        db,
        entity="user",
        entity_id=user.id,
        action="update",
        before=before.model_dump(),
        after=after.model_dump(),
    )
    return after


async def delete_user(db: AsyncSession, cache: Cache, principal: Principal, user_id: int) -> None:
    user = await _load_target(db, principal, user_id)
    if user.id == principal.user_id:
        raise SelfManagement()
    await _ensure_not_last_superuser(db, user)
    before = (await to_read(db, [user]))[0]
    await sessions.revoke_user_sessions(db, cache, user.id, reason="user_deleted", now=utcnow())
    await repo.delete_user(db, user)
    await record_change(
        db, entity="user", entity_id=user_id, action="delete", before=before.model_dump()
    )
    await authz.invalidate_user(cache, user_id, db)


async def reset_password(
    db: AsyncSession, cache: Cache, hasher: PasswordHasher, principal: Principal, user_id: int
) -> PasswordResetRead:
    """Replace the password with a generated one-time password (the admin never chooses it,
    ASVS 6.4.1/6.4.6), force a change at next sign-in and end every session of the user."""
    user = await _load_target(db, principal, user_id)
    if user.id == principal.user_id:
        raise SelfManagement()
    password = generate_password()
    await record_change(
        db,
        entity="user",
        entity_id=user.id,
        action="update",
        before={"password": "(previous)", "must_change_password": user.must_change_password},
        after={"password": "(reset)", "must_change_password": True},
    )
    user.password_hash = await hasher.hash(password)
    user.must_change_password = True
    user.password_changed_at = utcnow()
    await db.flush()
    await sessions.revoke_user_sessions(db, cache, user.id, reason="password_reset", now=utcnow())
    await authz.invalidate_user(cache, user.id, db)
    return PasswordResetRead(password=password)


async def reset_mfa(db: AsyncSession, cache: Cache, principal: Principal, user_id: int) -> None:
    """Turn a user's MFA off (seed, pending seed and recovery codes gone) for a user who lost
    their authenticator, and end every session of theirs: they sign in with their password
    alone and enrol again (ASVS 6.5.6). The same rules as editing them; never oneself (turning
    your own MFA off needs your password and a code, in your profile). Nothing to reset is
    not an error, and changes nothing."""
    user = await _load_target(db, principal, user_id)
    if user.id == principal.user_id:
        raise SelfManagement()
    if not user.mfa_enabled and user.mfa_secret is None:
        return
    await record_change(
        db,
        entity="user",
        entity_id=user.id,
        action="update",
        before={
            "mfa_enabled": user.mfa_enabled,
            "mfa_factor": "(enrolled)" if user.mfa_enabled else "(setup pending)",
        },
        after={"mfa_enabled": False, "mfa_factor": "(reset)"},
    )
    await mfa.disable(db, user)
    await db.flush()
    await sessions.revoke_user_sessions(db, cache, user.id, reason="mfa_reset", now=utcnow())
    await authz.invalidate_user(cache, user.id, db)


# --------------------------------------------------------------------------- exporting --


def csv_cell(value: object) -> str:
    """One CSV cell; text that a spreadsheet would run as a formula gets a leading `'`."""
    return csv_text(value)


async def csv_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    conditions: Sequence[ColumnElement[bool]],
) -> AsyncIterator[Sequence[Sequence[object]]]:
    """The rows of the CSV export, a batch at a time.

    It runs after the request's own session has closed, so it reads in a session of its own.
    """
    columns = [getattr(User, name) for name in EXPORT_COLUMNS[1:]]
    async with sessionmaker() as db:
        async for batch in repo.iter_batches(db, conditions, columns, batch_size=repo.EXPORT_BATCH):
            yield batch


async def export_csv(batches: AsyncIterator[Sequence[Sequence[object]]]) -> AsyncIterator[str]:
    """The CSV file of `batches` (from `csv_rows`), produced batch by batch while it is sent."""

    def render(rows: Sequence[Sequence[object]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows([csv_cell(value) for value in row] for row in rows)
        return buffer.getvalue()

    yield "\ufeff" + render([EXPORT_COLUMNS])  # the BOM makes Excel read UTF-8
    async for batch in batches:
        yield render(batch)
