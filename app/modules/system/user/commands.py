"""Operator commands behind `python main.py export-users` and `import-users`.

They act as an operator, not as a signed-in user: every user is exported, and the import's
rules are those of a superuser (no data scope, any role), with the same checks otherwise
(schema, password policy, unique username and email, departments and roles that exist).
"""

from __future__ import annotations

from pathlib import Path

import anyio
from sqlalchemy.exc import IntegrityError

from app.core.access import DataScope, Principal
from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.core.errors import BadRequest, Duplicate
from app.core.security.passwords import PasswordHasher
from app.modules.system.user import repository as repo
from app.modules.system.user.schemas import UserFilters, UserImportReport
from app.modules.system.user.transfer import Progress, export_rows, export_xlsx, import_users

OPERATOR = Principal(
    user_id=0,
    username="cli",
    session_id="cli",
    is_superuser=True,
    dept_id=None,
    scope=DataScope(all=True),
)


async def export_to_file(settings: Settings, path: Path, progress: Progress | None = None) -> int:
    """Write every user to `path` (xlsx); returns the number of users.

    The file appears complete or not at all: it is written under a temporary name first.
    """
    count = 0

    def counting(stage: str, done: int, total: int | None) -> None:
        nonlocal count
        count = done
        if progress:
            progress(stage, done, total)

    partial = anyio.Path(path.with_name(f".{path.name}.part"))
    try:
        handle = await anyio.open_file(partial, "wb")
    except OSError as exc:
        raise BadRequest(f"cannot write {path}: {exc.strerror}") from None
    engine = create_engine(settings)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as db:
            conditions = await repo.scoped_conditions(db, OPERATOR, UserFilters())
            total = await repo.count_matching(db, conditions)
        async with handle:
            rows = export_rows(sessionmaker, conditions, counting, total)
            async for chunk in export_xlsx(rows):
                await handle.write(chunk)
        await partial.replace(path)
    finally:
        await engine.dispose()
        await partial.unlink(missing_ok=True)
    return count


async def import_from_file(
    settings: Settings, path: Path, *, dry_run: bool, progress: Progress | None = None
) -> UserImportReport:
    """Import `path` in one transaction (nothing is written on a dry run or any error).

    Raises:
        ImportRejected: not a dry run, and some row has errors (its `report` lists them).
        Duplicate: a user with the same username or email appeared during the import.
    """
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            return await import_users(
                db,
                settings,
                PasswordHasher(settings),
                OPERATOR,
                path,
                dry_run=dry_run,
                progress=progress,
            )
    except IntegrityError:
        raise Duplicate(
            "a user with the same username or email was created meanwhile",
            fields=("username", "email"),
        ) from None
    finally:
        await engine.dispose()
