"""Users to and from spreadsheets: the xlsx export, the import template and the import.

Export: the rows of the list (same data scope and filters, `repo.scoped_conditions`), read in
keyset batches by `repo.iter_batches` (the CSV export's query) and written by
`app.core.excel.stream_xlsx` with bounded memory (docs/security-checklist.md §0 #3, #14).

Import (docs/security-checklist.md §0 #13; ASVS 2.3.1, 2.3.3, 5.2.x): the file is read by
`app.core.excel.read_xlsx` (size, zip-bomb, XML-entity and row limits), then every row goes
through the rules of `POST /users`: the `UserCreate` schema, the password policy, a username
and an email that exist neither in the database nor on another row of the file (any case),
departments and roles that exist, a department inside the caller's data scope and roles the
caller may grant there (`service.ensure_assignable`). Every problem of every row is reported
as `{row, field, message}`, never with the cell's value.

- A dry run (the default) writes nothing and answers the report.
- A real import is all or nothing: any error writes nothing (422, the errors in the error
  envelope with `location: "row N"`); otherwise every user is created in the request's
  transaction, passwords hashed (argon2id, in the app's bounded hashing pool) and a change-log
  entry per user, and the report is answered with 201.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Principal
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import AppError, ValidationFailed
from app.core.excel import Column, ImportResult, RowError, read_xlsx, stream_xlsx, template_xlsx
from app.core.exports import read_ahead
from app.core.responses import ErrorDetail
from app.core.security.passwords import PasswordHasher
from app.modules.system.operation_log.changes import record_change
from app.modules.system.user import repository as repo
from app.modules.system.user import service
from app.modules.system.user.models import User
from app.modules.system.user.schemas import (
    ImportRowError,
    UserCreate,
    UserFilters,
    UserImportReport,
    UserImportRow,
)

# progress(stage, done, total): stages "exported", "checked", "created"; total None when
# unknown. Called often (every batch, every user created): the callee decides what to show.
Progress = Callable[[str, int, int | None], None]

EXPORT_COLUMNS = (
    Column("id", "ID", width=10),
    Column("username", "Username", width=20),
    Column("name", "Name", width=20),
    Column("email", "Email", width=28),
    Column("phone", "Phone", width=16),
    Column("status", "Status", width=10),
    Column("dept_id", "Dept ID", width=10),
    Column("dept_code", "Dept code", width=16),
    Column("role_codes", "Role codes", width=24),
    Column("created_at", "Created at (UTC)", width=20),
)
_EXPORTED = (User.username, User.name, User.email, User.phone, User.status, User.dept_id)

IMPORT_COLUMNS = (
    Column("username", width=20, required=True, example="jdoe",
           description="3-64 letters, digits or _ . @ -; unique (any case)"),
    Column("name", width=20, required=True, example="Jane Doe", description="Display name"),
    Column("email", width=28, example="jane@example.com", description="Unique (any case)"),
    Column("phone", width=16, example="+1 555 0100", description="Digits, spaces, + ( ) -"),
    Column("dept_code", width=16, example="sales",
           description="Code of a department inside your data scope; blank for none"),
    Column("role_codes", width=24, example="ops, audit",
           description="Role codes separated by commas; only roles whose permissions you hold"),
    Column("status", width=10, example="active", choices=("active", "disabled"),
           description="active (default) or disabled"),
    Column("password", width=24, required=True, example="(a long passphrase)",
           description="Initial password, checked against the password policy; the user "
           "must change it at first sign-in"),
)  # fmt: skip
TEMPLATE_NAME = "users-import-template.xlsx"
MAX_REPORTED_ERRORS = 1000
CREATE_CHUNK = 200
# Errors of `service.ensure_assignable` name the API's fields; the file names them by code.
_FILE_FIELD = {"dept_id": "dept_code", "role_ids": "role_codes", "position_ids": None}


# --------------------------------------------------------------------------- export --


async def export_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    conditions: Sequence[ColumnElement[bool]],
    progress: Progress | None = None,
    total: int | None = None,
) -> AsyncIterator[list[tuple[object, ...]]]:
    """The rows of the xlsx export of the users matching `conditions` (from
    `repo.scoped_conditions`), a batch at a time.

    It runs after the request's own session has closed, so it reads in a session of its own.
    """
    done = 0
    dept_codes: dict[int, str] = {}
    async with sessionmaker() as db:
        columns = [*_EXPORTED, User.created_at]
        async for batch in repo.iter_batches(db, conditions, columns, batch_size=repo.EXPORT_BATCH):
            rows: list[tuple[Any, ...]] = [tuple(row) for row in batch]
            roles = await repo.role_codes(db, [row[0] for row in rows])
            new_depts = {row[6] for row in rows if row[6] is not None} - dept_codes.keys()
            dept_codes.update(await repo.dept_codes(db, new_depts))
            yield [
                (*row[:7], dept_codes.get(row[6]), ", ".join(roles.get(row[0], [])), row[7])
                for row in rows
            ]
            done += len(batch)
            if progress:
                progress("exported", done, total)


async def export(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    filters: UserFilters,
    file_format: Literal["csv", "xlsx"],
) -> AsyncIterator[bytes] | AsyncIterator[str]:
    """The export of the users the list would show (same data scope, same filters).

    The first batch is read here, before the answer starts: a failing query is an error
    answer, not a download cut short (`app.core.exports.read_ahead`)."""
    conditions = await repo.scoped_conditions(db, principal, filters)
    if file_format == "xlsx":
        return export_xlsx(await read_ahead(export_rows(sessionmaker, conditions)))
    return service.export_csv(await read_ahead(service.csv_rows(sessionmaker, conditions)))


def export_xlsx(rows: AsyncIterator[list[tuple[object, ...]]]) -> AsyncGenerator[bytes, None]:
    """The xlsx file of `rows` (from `export_rows`)."""
    return stream_xlsx(EXPORT_COLUMNS, rows, sheet_title="Users")


async def template() -> bytes:
    """The import template (header row, drop-down for `status`, a notes sheet)."""
    return await anyio.to_thread.run_sync(
        partial(template_xlsx, IMPORT_COLUMNS, sheet_title="Users")
    )


# --------------------------------------------------------------------------- import --


class ImportRejected(ValidationFailed):
    """A real import with errors: nothing was written."""

    def __init__(self, report: UserImportReport) -> None:
        self.report = report
        rows = report.invalid
        super().__init__(
            f"Import rejected: {rows} row{'s' if rows != 1 else ''} with errors; nothing was "
            "written (run with dry_run=true for the full report)",
            errors=[
                ErrorDetail(field=e.field, location=f"row {e.row}", message=e.message, type="row")
                for e in report.errors
            ],
        )


@dataclass(slots=True)
class _Lookups:
    depts: dict[str, int]
    roles: dict[str, int]
    usernames: set[str]
    emails: set[str]


def _raw_codes(value: str | None) -> list[str]:
    """The codes of a role_codes cell, split as `UserImportRow` splits them."""
    return [code.strip() for code in re.split(r"[,;\n]", value or "") if code.strip()]


async def _lookups(
    db: AsyncSession,
    rows: Sequence[UserImportRow],
    rejected: Sequence[tuple[int, dict[str, str]]] = (),
) -> _Lookups:
    """What the database already holds of the codes, usernames and emails the file names,
    also those of rows whose format is wrong (checked in the same pass)."""
    raw = [cells for _, cells in rejected]
    depts = {r.dept_code for r in rows if r.dept_code}
    depts |= {cells["dept_code"] for cells in raw if cells.get("dept_code")}
    roles = {c for r in rows for c in r.role_codes} | {
        code for cells in raw for code in _raw_codes(cells.get("role_codes"))
    }
    usernames = [r.username for r in rows] + [c["username"] for c in raw if c.get("username")]
    emails = [r.email for r in rows if r.email] + [c["email"] for c in raw if c.get("email")]
    return _Lookups(
        depts=await repo.dept_ids_by_code(db, depts),
        roles=await repo.role_ids_by_code(db, roles),
        usernames=await repo.taken_usernames(db, usernames),
        emails=await repo.taken_emails(db, emails),
    )


def _error_fields(exc: AppError) -> list[tuple[str | None, str]]:
    details = [d if isinstance(d, ErrorDetail) else ErrorDetail(**d) for d in exc.errors]
    if not details:
        return [(None, exc.message)]
    return [(_FILE_FIELD.get(d.field or "", d.field), d.message) for d in details]


class _Checker:
    """Checks rows one by one, remembering what the file itself has used."""

    def __init__(
        self, db: AsyncSession, settings: Settings, principal: Principal, lookups: _Lookups
    ) -> None:
        self.db, self.settings, self.principal, self.lookups = db, settings, principal, lookups
        self.usernames: dict[str, int] = {}
        self.emails: dict[str, int] = {}
        # (dept_id, role_ids) -> problems: placement depends on nothing else.
        self.placements: dict[tuple[int | None, tuple[int, ...]], list[tuple[str | None, str]]] = {}

    async def check(
        self, number: int, row: UserImportRow
    ) -> tuple[UserCreate | None, list[RowError]]:
        problems: list[tuple[str | None, str]] = []
        dept_id = None
        if row.dept_code:
            dept_id = self.lookups.depts.get(row.dept_code.lower())
            if dept_id is None:
                problems.append(("dept_code", "no such department"))
        unknown = [c for c in row.role_codes if c.lower() not in self.lookups.roles]
        if unknown:  # by position: a misplaced password must not be echoed as a "code"
            places = [str(i) for i, c in enumerate(row.role_codes, 1) if c in unknown]
            problems.append(("role_codes", f"no such role (code #{', #'.join(places)})"))
        role_ids = sorted(
            {self.lookups.roles[c.lower()] for c in row.role_codes if c not in unknown}
        )
        try:
            data = UserCreate(
                **row.model_dump(exclude={"dept_code", "role_codes"}),
                dept_id=dept_id,
                role_ids=role_ids,
            )
        except ValidationError as exc:  # a rule of UserCreate that the row model lacks
            for error in exc.errors(include_input=False, include_url=False):
                name = str(error["loc"][0]) if error["loc"] else None
                problems.append((_FILE_FIELD.get(name or "", name), str(error["msg"])))
            # ...and the rest of the row's problems in the same pass.
            problems.extend(self._duplicates(number, row.username, row.email))
            return None, [RowError(number, f, m) for f, m in problems]
        try:
            service.check_new_password(self.settings, data)
        except AppError as exc:
            problems.extend(_error_fields(exc))
        problems.extend(self._duplicates(number, data.username, data.email))
        if not (unknown or (row.dept_code and dept_id is None)):
            problems.extend(await self._placement(data))
        return (None if problems else data), [RowError(number, f, m) for f, m in problems]

    def check_rejected(
        self, number: int, cells: dict[str, str], failed: set[str]
    ) -> list[RowError]:
        """The lookups of a row whose format is wrong, on the cells that are well formed: an
        unknown department or role and a duplicate username or email are reported with its
        format errors, in one pass."""
        problems: list[tuple[str | None, str]] = []
        code = cells.get("dept_code")
        if code and "dept_code" not in failed and code.lower() not in self.lookups.depts:
            problems.append(("dept_code", "no such department"))
        if "role_codes" not in failed:
            codes = _raw_codes(cells.get("role_codes"))
            places = [str(i) for i, c in enumerate(codes, 1) if c.lower() not in self.lookups.roles]
            if places:
                problems.append(("role_codes", f"no such role (code #{', #'.join(places)})"))
        problems.extend(
            self._duplicates(
                number,
                None if "username" in failed else cells.get("username"),
                None if "email" in failed else cells.get("email"),
            )
        )
        return [RowError(number, f, m) for f, m in problems]

    def _duplicates(
        self, number: int, username: str | None, email: str | None
    ) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for field_name, value, taken, seen in (
            ("username", username, self.lookups.usernames, self.usernames),
            ("email", email, self.lookups.emails, self.emails),
        ):
            if not value:
                continue
            key = value.lower()
            if key in taken:
                problems.append((field_name, "already exists"))
            elif key in seen:
                problems.append((field_name, f"same as row {seen[key]}"))
            else:
                seen[key] = number
        return problems

    async def _placement(self, data: UserCreate) -> list[tuple[str | None, str]]:
        key = (data.dept_id, tuple(data.role_ids))
        if key not in self.placements:
            try:
                await service.ensure_assignable(self.db, self.principal, data)
                self.placements[key] = []
            except AppError as exc:
                self.placements[key] = _error_fields(exc)
        return self.placements[key]


async def _create(
    db: AsyncSession,
    hasher: PasswordHasher,
    principal: Principal,
    users: Sequence[UserCreate],
    progress: Progress | None,
) -> int:
    now = utcnow()
    created_by = principal.user_id or None  # 0: the command line
    created = hashed = 0
    for start in range(0, len(users), CREATE_CHUNK):
        chunk = users[start : start + CREATE_CHUNK]

        async def hash_one(password: str) -> str:
            nonlocal hashed
            result = await hasher.hash(password)
            hashed += 1
            if progress:  # hashing is the slow part: report each user, not each chunk
                progress("created", hashed, len(users))
            return result

        hashes = await asyncio.gather(*(hash_one(data.password) for data in chunk))
        rows = [
            service.new_user(data, password_hash, created_by=created_by, now=now)
            for data, password_hash in zip(chunk, hashes, strict=True)
        ]
        await repo.add_many(db, rows)
        await repo.add_role_links(
            db,
            [
                (row.id, role_id)
                for row, data in zip(rows, chunk, strict=True)
                for role_id in data.role_ids
            ],
        )
        for read in await service.to_read(db, rows):
            await record_change(
                db, entity="user", entity_id=read.id, action="create", after=read.model_dump()
            )
        created += len(rows)
    return created


async def parse(data: bytes | Path, settings: Settings) -> ImportResult[UserImportRow]:
    """Read an uploaded workbook in a worker thread, with the configured limits."""
    return await anyio.to_thread.run_sync(
        partial(
            read_xlsx,
            data,
            IMPORT_COLUMNS,
            UserImportRow,
            max_rows=settings.import_max_rows,
            max_bytes=settings.import_max_bytes,
        )
    )


async def import_users(
    db: AsyncSession,
    settings: Settings,
    hasher: PasswordHasher,
    principal: Principal,
    data: bytes | Path,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> UserImportReport:
    """Check every row; unless `dry_run`, create them all or (any error) none.

    Raises:
        ImportRejected: 422, not a dry run and some row has errors (nothing written).
        SpreadsheetTooLarge, SpreadsheetRejected: 413 / 422 from reading the file.
    """
    parsed = await parse(data, settings)
    lookups = await _lookups(db, [r.data for r in parsed.rows], parsed.rejected)
    checker = _Checker(db, settings, principal, lookups)
    errors = list(parsed.errors)
    failed: dict[int, set[str]] = {}
    for error in parsed.errors:
        failed.setdefault(error.row, set()).add(error.field or "")
    # Every row in file order, well formed or not, so "same as row N" names the first one.
    ordered: list[tuple[int, UserImportRow | dict[str, str]]] = sorted(
        [(r.row, r.data) for r in parsed.rows] + list(parsed.rejected), key=lambda item: item[0]
    )
    valid: list[UserCreate] = []
    for index, (number, row) in enumerate(ordered, 1):
        if isinstance(row, dict):
            errors.extend(checker.check_rejected(number, row, failed.get(number, set())))
        else:
            user, problems = await checker.check(number, row)
            errors.extend(problems)
            if user is not None:
                valid.append(user)
        if progress:
            progress("checked", index, len(ordered))
    errors.sort(key=lambda e: e.row)
    report = UserImportReport(
        dry_run=dry_run,
        total=parsed.total,
        valid=len(valid),
        invalid=parsed.total - len(valid),
        created=0,
        errors=[
            ImportRowError(row=e.row, field=e.field, message=e.message)
            for e in errors[:MAX_REPORTED_ERRORS]
        ],
        errors_truncated=len(errors) > MAX_REPORTED_ERRORS,
    )
    if dry_run:
        return report
    if errors:
        raise ImportRejected(report)
    report.created = await _create(db, hasher, principal, valid, progress)
    return report
