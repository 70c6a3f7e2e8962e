"""Two app processes started at the same moment on an empty database (docs/security-checklist.md §6
"startup side effects race").

`python main.py run` with `AUTO_MIGRATE=true` (the default outside production) applies the
migrations and loads the initial data before serving: both processes do it at once here. The
migrations run under a database lock (`migrations/env.py`: `pg_advisory_lock` / `GET_LOCK`) and
the initial data in one locked transaction whose loaders insert only what is missing
(`app/core/bootstrap.py`), so one of them does the work and the other finds nothing to do.
In production the deploy runs `upgrade` and `init` once instead (docs/deployment.md); the same
guards cover two overlapping deploys. On SQLite (no Redis needed) both share the database file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import migrations
from app.core.config import Settings
from tests.support import fault_stats
from tests.support.databases import temporary_database
from tests.support.instances import stop_all
from tests.support.processes import AppProcess, settings_env

ADMIN_PASSWORD = "race-start-passphrase-7431"
# Rows the initial data creates, by the column that names each (sys_menu has no unique
# constraint: a race without the init lock would show here first).
SEEDED = {
    "sys_user": "username",
    "sys_role": "code",
    "sys_dept": "code",
    "sys_dict_type": "code",
    "sys_menu": "permission",
}


async def facts(database_url: str) -> dict[str, object]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:

            async def scalar(sql: str) -> object:
                return (await connection.execute(text(sql))).scalar()

            duplicates = {}
            for table, column in SEEDED.items():
                sql = (  # table and column names are the constants above
                    f"SELECT {column}, COUNT(*) FROM {table} WHERE {column} IS NOT NULL "  # noqa: S608
                    f"GROUP BY {column} HAVING COUNT(*) > 1"
                )
                rows = await connection.execute(text(sql))
                duplicates[table] = [tuple(row) for row in rows]
            return {
                "versions": [
                    row[0]
                    for row in await connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    )
                ],
                "admins": await scalar("SELECT COUNT(*) FROM sys_user WHERE username = 'admin'"),
                "superusers": await scalar("SELECT COUNT(*) FROM sys_user WHERE is_superuser"),
                "roles": await scalar("SELECT COUNT(*) FROM sys_role"),
                "duplicates": duplicates,
            }
    finally:
        await engine.dispose()


def problems(log: str) -> list[str]:
    """Lines of a process's output that are not JSON, or that report an error."""
    found = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            found.append(line)
            continue
        if not isinstance(entry, dict) or entry.get("level") in ("error", "critical"):
            found.append(line)
    return found


def test_two_processes_starting_on_an_empty_database(settings: Settings, tmp_path: Path) -> None:
    """docs/security-checklist.md §6: start 2 instances at once on an empty database: both become
    ready with
    no error logged, and the database has one `alembic_version` row (at head), exactly one
    admin (one superuser) and no duplicated seed row."""
    sent = 0
    try:
        with temporary_database(tmp_path, "race") as url:
            env = {
                "DATABASE_URL": url,
                "AUTO_MIGRATE": "true",
                "INIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LOG_LEVEL": "INFO",
            }
            pair = [
                AppProcess(tmp_path / name, settings_env(settings, tmp_path / name, **env))
                for name in ("a", "b")
            ]
            try:
                for process in pair:  # both at once: neither waits for the other
                    process.start()
                for process in pair:
                    process.wait_ready(within=90)
                    sent += 1
                for process in pair:
                    assert process.running
                    assert problems(process.log()) == [], process.log()[-3000:]
            finally:
                stop_all(pair)
            found = asyncio.run(facts(url))
            assert found["versions"] == sorted(migrations.heads())
            assert found["admins"] == 1
            assert found["superusers"] == 1
            assert found["roles"]  # the initial data was loaded (by one of them)
            assert found["duplicates"] == {table: [] for table in SEEDED}
    finally:
        fault_stats.record(
            "§6 two processes start on an empty database", requests=sent, server_errors=0
        )
