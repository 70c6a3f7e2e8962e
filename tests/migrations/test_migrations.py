"""Migrations on the database under test: up from empty, models agree, down to base, up again."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import migrations
from app.core.config import BASE_DIR
from tests.resilience.seeding import MAIN_TABLES, row_counts, seed_database
from tests.support.databases import temporary_database

FILE_NAME = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-z]+_[0-9a-z_]+\.py$")


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _current(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            return await migrations.current_revisions(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_round_trip_from_empty(tmp_path: Path) -> None:
    with temporary_database(tmp_path, "mig") as url:
        assert _current(url) == set()
        migrations.upgrade(url)
        assert _current(url) == migrations.heads()
        migrations.check(url)  # raises if models and migrations disagree
        migrations.downgrade(url, "base")
        assert _current(url) == set()
        assert _tables(url) <= {"alembic_version"}
        migrations.upgrade(url)
        assert _current(url) == migrations.heads()


def test_one_head_and_date_slug_file_names() -> None:
    assert len(migrations.heads()) == 1
    files = [p.name for p in (BASE_DIR / "migrations" / "versions").glob("*.py")]
    assert files
    for name in files:
        assert FILE_NAME.match(name), name


def test_pending_message_names_the_command(tmp_path: Path) -> None:
    with temporary_database(tmp_path, "pend") as url:

        async def message() -> str | None:
            engine = create_async_engine(url)
            try:
                return await migrations.pending_message(engine)
            finally:
                await engine.dispose()

        behind = asyncio.run(message())
        assert behind is not None
        assert "python main.py upgrade" in behind
        migrations.upgrade(url)
        assert asyncio.run(message()) is None


@pytest.mark.parametrize("revision", ["head"])
def test_upgrade_is_idempotent(tmp_path: Path, revision: str) -> None:
    with temporary_database(tmp_path, "idem") as url:
        migrations.upgrade(url, revision)
        migrations.upgrade(url, revision)
        assert _current(url) == migrations.heads()


def test_latest_revision_round_trip_keeps_seeded_rows(tmp_path: Path) -> None:
    """docs/security-checklist.md §5.3 F20: at head with rows in the main tables (initial data,
    departments,
    roles, users, sessions), `downgrade -1` then `upgrade head` keeps every row of every table
    the latest revision does not create (the tables it creates are dropped by its downgrade
    and come back empty: their rows cannot survive). Generic over whichever revision is
    latest."""
    with temporary_database(tmp_path, "f20") as url:
        seed_database(url)
        before = row_counts(url)
        seeded = {name for name in MAIN_TABLES if before.get(name)}
        assert seeded == MAIN_TABLES, f"not seeded: {sorted(MAIN_TABLES - seeded)}"

        migrations.downgrade(url, "-1")
        assert _current(url) != migrations.heads()
        below = _tables(url) - {"alembic_version"}
        migrations.upgrade(url)
        assert _current(url) == migrations.heads()
        after = row_counts(url)

        assert set(after) == set(before)
        kept = {name: after[name] for name in sorted(below)}
        assert kept == {name: before[name] for name in sorted(below)}
        assert MAIN_TABLES & below, "the round trip must carry seeded rows to prove anything"
        recreated = set(before) - below
        assert all(after[name] == 0 for name in recreated), after
