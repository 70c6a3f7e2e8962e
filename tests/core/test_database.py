"""Database engine settings per dialect: pragmas and timeouts that keep outages short."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from app.core.config import Settings
from tests.support.probe import Widget


async def test_sqlite_has_wal_foreign_keys_and_busy_timeout(
    probe_app: FastAPI, settings: Settings
) -> None:
    if settings.db_dialect != "sqlite":
        pytest.skip("SQLite only")
    async with probe_app.state.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert busy == int(settings.sqlite_busy_timeout * 1000)


async def test_postgresql_sessions_have_statement_and_lock_timeouts(
    probe_app: FastAPI, settings: Settings
) -> None:
    if settings.db_dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    async with probe_app.state.engine.connect() as connection:
        statement = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
        lock = (await connection.execute(text("SHOW lock_timeout"))).scalar_one()
    assert statement == f"{int(settings.db_statement_timeout)}s"
    assert lock == f"{int(settings.db_lock_timeout)}s"


async def test_mysql_sessions_have_lock_and_statement_timeouts(
    probe_app: FastAPI, settings: Settings
) -> None:
    if settings.db_dialect != "mysql":
        pytest.skip("MySQL/MariaDB only")
    async with probe_app.state.engine.connect() as connection:
        lock = (
            await connection.execute(text("SELECT @@SESSION.innodb_lock_wait_timeout"))
        ).scalar_one()
        version = str((await connection.execute(text("SELECT VERSION()"))).scalar_one()).lower()
        variable = "max_statement_time" if "mariadb" in version else "max_execution_time"
        limit = (await connection.execute(text(f"SELECT @@SESSION.{variable}"))).scalar_one()
    assert int(lock) == round(settings.db_lock_timeout)
    assert float(limit) > 0


async def test_timestamps_are_set_in_utc_and_updated(probe_app: FastAPI) -> None:
    async with probe_app.state.sessionmaker() as session, session.begin():
        widget = Widget(name="clock")
        session.add(widget)
    async with probe_app.state.sessionmaker() as session:
        stored = (await session.execute(select(Widget).where(Widget.name == "clock"))).scalar_one()
        created = stored.created_at
        assert stored.updated_at >= created
        if created.tzinfo is not None:
            assert created.utcoffset() == UTC.utcoffset(None)
        now = datetime.now(UTC).replace(tzinfo=None)
        assert abs((now - created.replace(tzinfo=None)).total_seconds()) < 120
        stored.name = "clock-2"
        await session.commit()
        assert stored.updated_at > created.replace(tzinfo=stored.updated_at.tzinfo)
    async with probe_app.state.sessionmaker() as session, session.begin():
        await session.delete(await session.get(Widget, stored.id))
