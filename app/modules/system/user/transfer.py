"""Users to and from spreadsheets: the xlsx export, the import template and the import.

Export: the rows of the list (same data scope and filters, `repo.scoped_conditions`), read in
keyset batches by `repo.iter_batches` (the CSV export's query) and written by
`app.core.excel.stream_xlsx` with bounded memory (docs/security-checklist.md §0 #3, #14).

Import (docs/security-checklist.md §0 #13; ASVS 2.3.1, 2.3.3, 5.2.x): the file is read by
`app.core.excel.read_xlsx` (size, zip-bomb, XML-entity and row limits), then every row goes
through the rules of `POST /users`: the `UserCreate` schema, the password policy, a username
and an email that exist neither in the database nor on another row of the file (any case),
departments and roles that exist, a department inside the caller's data scope and roles the
caller may grant there (`service.placement_problems`). Every problem of every row is reported
in one pass, as `{row, field, message}`, never with the cell's value: a row with format errors
is still checked on its well-formed cells (`import_check`).

- A dry run (the default) writes nothing and answers the report.
- A real import is all or nothing: any error writes nothing (422, the errors in the error
  envelope with `location: "row N"`); otherwise every user is created in the request's
  transaction, passwords hashed (argon2id, in the app's bounded hashing pool) and a change-log
  entry per user, and the report is answered with 201.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Principal
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import ValidationFailed
from app.core.excel import Column, ImportResult, read_xlsx, stream_xlsx, template_xlsx
from app.core.exports import read_ahead
from app.core.responses import ErrorDetail
from app.core.security.passwords import PasswordHasher
from app.modules.system.operation_log.changes import record_change
from app.modules.system.user import import_check, service
from app.modules.system.user import repository as repo
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
    rows = import_check.candidates(parsed)
    lookups = await import_check.lookups(db, rows)
    checker = import_check.Checker(db, settings, principal, lookups)
    errors = list(parsed.errors)
    valid: list[UserCreate] = []
    for index, row in enumerate(rows, 1):
        user, problems = await checker.check(row)
        errors.extend(problems)
        if user is not None:
            valid.append(user)
        if progress:
            progress("checked", index, len(rows))
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
