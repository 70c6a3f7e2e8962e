"""Backup and restore drill on the database under test (SECURITY.md §5.3 F21; the commands are
the ones in docs/deployment.md "Backups").

PostgreSQL: `pg_dump -Fc` of a seeded database, `pg_restore --no-owner` into a new one.
MariaDB: `mariadb-dump --single-transaction ...` of a seeded database, imported with `mariadb`
into a new one. The restored database must be at the head revision (`python main.py current`
says "up to date"), hold the same rows (counts on every table, checksums on the main ones), and
serve a sign-in and the user list through the app.

It runs on the suite's database server (CI's PostgreSQL and MariaDB runs): SQLite has no server
to dump, so the default run skips it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import URL, make_url
from typer.testing import CliRunner

from app.main import create_app
from tests.conftest import make_settings
from tests.resilience.seeding import ADMIN_PASSWORD, checksums, row_counts, seed_database
from tests.support import fault_stats
from tests.support.databases import server_url, temporary_database

pytestmark = [pytest.mark.fault]

TOOL_TIMEOUT = 60


def _run(
    command: list[str],
    env: dict[str, str],
    *,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
) -> None:
    result = subprocess.run(
        command,
        env=env,
        stdin=stdin,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command[0]} failed: {result.stderr.decode()[-2000:]}"


def _postgres(source: URL, target: URL, dump: Path) -> None:
    """`pg_dump -Fc` then `pg_restore --no-owner` into the (empty) target database."""
    tools = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (postgresql-client)")
    env = {**os.environ, "PGPASSWORD": source.password or ""}
    connection = ["-h", source.host or "127.0.0.1", "-p", str(source.port or 5432)]
    connection += ["-U", source.username or "postgres"]
    _run(
        [str(tools["pg_dump"]), "-Fc", *connection, "-d", str(source.database), "-f", str(dump)],
        env,
    )
    _run(
        [
            str(tools["pg_restore"]),
            "--no-owner",
            "--exit-on-error",
            *connection,
            "-d",
            str(target.database),
            str(dump),
        ],
        env,
    )


def _mariadb(source: URL, target: URL, dump: Path) -> None:
    """`mariadb-dump --single-transaction` then `mariadb <target> < dump.sql`."""
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if dumper is None or client is None:
        pytest.skip("mariadb-dump / mariadb not installed (mariadb-client)")
    env = {**os.environ, "MYSQL_PWD": source.password or ""}
    # --no-defaults first: the host's option files must not change what the test proves.
    connection = ["--no-defaults", "-h", source.host or "127.0.0.1", "-P", str(source.port or 3306)]
    connection += ["-u", source.username or "root"]
    with dump.open("wb") as out:
        _run(
            [
                dumper,
                *connection,
                "--single-transaction",
                "--routines",
                "--triggers",
                "--default-character-set=utf8mb4",
                str(source.database),
            ],
            env,
            stdout=out,
        )
    with dump.open("rb") as dumped:
        _run(
            [client, *connection, "--default-character-set=utf8mb4", str(target.database)],
            env,
            stdin=dumped,
        )


def _cli_current(database_url: str) -> str:
    """`python main.py current` on `database_url` (what an operator runs after a restore), in
    this process: a new interpreter would spend seconds importing the app again."""
    from main import cli

    result = CliRunner().invoke(cli, ["current"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


async def _smoke(database_url: str) -> tuple[int, int]:
    """Sign in as the admin and list users through the app; the statuses and the user total."""
    app = create_app(make_settings(database_url, redis_url=""))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://restored"
        ) as http,
    ):
        login = await http.post(
            "/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        users = await http.get("/api/v1/system/users?page_size=100", headers=headers)
        assert users.status_code == 200, users.text
        return users.status_code, int(users.json()["data"]["total"])


def test_f21_backup_restores_into_a_new_database_that_serves(tmp_path: Path) -> None:
    """F21: dump a seeded database, restore it into a new one; the copy is at head, has the
    same rows (counts on every table, checksums on the main ones) and passes the sign-in and
    user-list smoke test."""
    server = server_url()
    if server is None:
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL or MariaDB (SQLite has no server)")
    backend = server.get_backend_name()
    with (
        temporary_database(tmp_path, "bak") as source_url,
        temporary_database(tmp_path, "rst") as target_url,
    ):
        seed_database(source_url)
        before = row_counts(source_url)
        expected_sums = checksums(source_url)
        dump = tmp_path / ("fastapiadmin.dump" if backend == "postgresql" else "fastapiadmin.sql")
        restore = _postgres if backend == "postgresql" else _mariadb
        restore(make_url(source_url), make_url(target_url), dump)

        after = row_counts(target_url)
        lost = sum(max(0, count - after.get(name, 0)) for name, count in before.items())
        fault_stats.record(
            f"F21 backup and restore ({'PostgreSQL' if backend == 'postgresql' else 'MariaDB'})",
            requests=2,
            server_errors=0,
            writes_acknowledged=sum(before.values()),
            writes_lost=lost,
        )
        assert after == before
        assert checksums(target_url) == expected_sums
        assert "status: up to date" in _cli_current(target_url)
        _status, total = asyncio.run(_smoke(target_url))
        assert total == before["sys_user"]
