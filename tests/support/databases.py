"""Throwaway databases for tests: a unique database per use on the server behind
TEST_DATABASE_URL (PostgreSQL or MySQL/MariaDB), or a SQLite file when it is unset."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import _DRIVER_FOR_SCHEME

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")

# For tests whose outcome does not depend on the suite's database (they start their own
# services, or check code): CI runs the suite three times, they need to run once.
ONCE_PER_CI = pytest.mark.skipif(
    bool(TEST_DATABASE_URL),
    reason="independent of TEST_DATABASE_URL: runs in the default (SQLite) run only",
)


def server_url() -> URL | None:
    """The admin URL of the database server under test, or None for SQLite."""
    if not TEST_DATABASE_URL:
        return None
    url = make_url(TEST_DATABASE_URL)
    url = url.set(drivername=_DRIVER_FOR_SCHEME.get(url.drivername, url.drivername))
    return None if url.get_backend_name() == "sqlite" else url


async def _admin(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(tmp_dir: Path, label: str = "t") -> str:
    """Create an empty, uniquely named database and return its URL (as a string)."""
    name = f"fa_test_{label}_{uuid.uuid4().hex[:10]}"
    server = server_url()
    if server is None:
        return f"sqlite+aiosqlite:///{(tmp_dir / f'{name}.db').as_posix()}"
    if server.get_backend_name() == "postgresql":
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    else:
        asyncio.run(
            _admin(
                server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        )
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop a database made by `create_database` (SQLite files go with the tmp dir)."""
    url = make_url(database_url)
    server = server_url()
    if server is None or url.database is None:
        return
    if server.get_backend_name() == "postgresql":
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    else:
        asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS `{url.database}`"))


@contextmanager
def temporary_database(tmp_dir: Path, label: str = "t") -> Iterator[str]:
    url = create_database(tmp_dir, label)
    try:
        yield url
    finally:
        drop_database(url)
