"""A database with rows in its main tables, and ways to compare two databases' contents: for the
migration round trip with data (docs/security-checklist.md §5.3 F20) and backup/restore (F21).

    url = seed_database(url)                 # schema at head, initial data, more rows
    before = row_counts(url)                 # {table: rows}, every table but alembic_version
    assert checksums(restored) == checksums(url)
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, MetaData, func, inspect, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import migrations
from app.core.bootstrap import load_initial_data
from app.core.database import create_engine, create_sessionmaker
from app.modules.system.auth.models import AuthSession, RefreshToken
from tests.conftest import make_settings
from tests.support.identity import create_dept, create_role, create_user

T = TypeVar("T")
ADMIN_PASSWORD = "Seeded-Database-Drill-4821!"
# Tables the seed fills: the identity core, what signing in writes, and the initial data.
MAIN_TABLES = frozenset(
    {
        "sys_dept",
        "sys_role",
        "sys_menu",
        "sys_user",
        "sys_user_role",
        "sys_role_menu",
        "sys_param",
        "sys_dict_type",
        "sys_dict_data",
        "auth_session",
        "auth_refresh_token",
    }
)


async def _more_rows(database_url: str) -> None:
    engine = create_engine(make_settings(database_url, redis_url=""))
    now = datetime.now(UTC)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            dept = await create_dept(db, name="Seeded")
            role = await create_role(db, permissions=["system:user:list"], data_scope="dept")
            for n in range(3):
                # Text beyond ASCII, a 4-byte emoji included: a dump must keep the encoding.
                user = await create_user(
                    db, roles=[role], dept_id=dept.id, name=f"Zoë 用户 {n} \U0001f680"
                )
                session = AuthSession(
                    id=f"seeded{user.id:026d}",
                    user_id=user.id,
                    ip="127.0.0.1",
                    idle_expires_at=now + timedelta(hours=1),
                    expires_at=now + timedelta(hours=8),
                )
                db.add(session)
                await db.flush()
                db.add(RefreshToken(session_id=session.id, token_hash=f"{n:064d}"))
    finally:
        await engine.dispose()


def seed_database(database_url: str) -> str:
    """Migrate `database_url` to head, load the initial data (the admin's password is
    `ADMIN_PASSWORD`), and add departments, roles, users and sessions. Call from sync code."""
    migrations.upgrade(database_url)
    settings = make_settings(database_url, redis_url="", init_admin_password=ADMIN_PASSWORD)
    asyncio.run(load_initial_data(settings))
    asyncio.run(_more_rows(database_url))
    return database_url


def _reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes (the users' `lower(username)`); only the
        # rows are read here.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-")
        metadata.reflect(connection, only=names)
    return metadata


def _counts(connection: Connection) -> dict[str, int]:
    metadata = _reflect(connection)
    return {
        name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in metadata.tables.items()
    }


def _digests(connection: Connection, names: frozenset[str]) -> dict[str, str]:
    metadata = _reflect(connection)
    found: dict[str, str] = {}
    for name in sorted(names & set(metadata.tables)):
        table = metadata.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        digest = hashlib.sha256()
        for row in connection.execute(select(table).order_by(*order)):
            digest.update(repr(tuple(row)).encode())
        found[name] = digest.hexdigest()
    return found


def _read(database_url: str, read: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table (every table but `alembic_version`). Call from sync code."""
    return _read(database_url, _counts)


def checksums(database_url: str, tables: frozenset[str] = MAIN_TABLES) -> dict[str, str]:
    """A SHA-256 per table of `tables` over its rows in primary-key order, as the driver
    returns them. Call from sync code."""
    return _read(database_url, lambda connection: _digests(connection, tables))
