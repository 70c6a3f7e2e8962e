"""Backup and restore drill on the database under test, with the file storage that goes with it
(docs/security-checklist.md §5.3 F21; the commands are the ones in docs/deployment.md "Backups").

PostgreSQL: `pg_dump -Fc` of a seeded database, `pg_restore --no-owner` into a new one.
MariaDB: `mariadb-dump --single-transaction ...` of a seeded database, imported with `mariadb`
into a new one. Files uploaded through the API live in a local storage folder, backed up with
the dump (a copy of the tree) and restored into a new folder. The restored pair must be at the
head revision (`python main.py current` says "up to date"), hold the same rows (counts on every
table, checksums on the main ones and `sys_file`), serve a sign-in and the user list through
the app, and download every `sys_file` row with its stored SHA-256; a file uploaded after the
backup is in neither half of the restore.

It runs on the suite's database server (CI's PostgreSQL and MariaDB runs): SQLite has no server
to dump, so the default run skips it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.main import create_app
from app.modules.files.models import StoredFile
from tests.conftest import make_settings
from tests.modules.files.helpers import pdf, png, xlsx
from tests.resilience.seeding import (
    ADMIN_PASSWORD,
    MAIN_TABLES,
    checksums,
    row_counts,
    seed_database,
)
from tests.support import fault_stats
from tests.support.databases import server_url, temporary_database
from tests.support.timing import LIFESPAN_TIMEOUT

pytestmark = [pytest.mark.fault]

TOOL_TIMEOUT = 60
FILES_URL = "/api/v1/files"
# Uploaded before the backup: several types, random bytes, so every SHA-256 differs.
BACKED_UP_FILES: dict[str, Callable[[], bytes]] = {
    "logo.png": lambda: png(4096),
    "report.pdf": pdf,
    "notes.txt": lambda: f"backed up {os.urandom(8).hex()}\nZoë 用户\n".encode(),
    "sheet.xlsx": lambda: xlsx(20),
}
TABLES_TO_CHECKSUM = MAIN_TABLES | {"sys_file"}


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


def _postgres_tools() -> tuple[str, str]:
    tools = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (postgresql-client)")
    return str(tools["pg_dump"]), str(tools["pg_restore"])


def _postgres_connection(url: URL) -> tuple[list[str], dict[str, str]]:
    connection = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    connection += ["-U", url.username or "postgres"]
    return connection, {**os.environ, "PGPASSWORD": url.password or ""}


def _postgres_dump(source: URL, dump: Path) -> None:
    """`pg_dump -Fc` of the source database into `dump`."""
    pg_dump, _ = _postgres_tools()
    connection, env = _postgres_connection(source)
    _run([pg_dump, "-Fc", *connection, "-d", str(source.database), "-f", str(dump)], env)


def _postgres_restore(target: URL, dump: Path) -> None:
    """`pg_restore --no-owner` of `dump` into the (empty) target database."""
    _, pg_restore = _postgres_tools()
    connection, env = _postgres_connection(target)
    _run(
        [
            pg_restore,
            "--no-owner",
            "--exit-on-error",
            *connection,
            "-d",
            str(target.database),
            str(dump),
        ],
        env,
    )


def _mariadb_tools() -> tuple[str, str]:
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if dumper is None or client is None:
        pytest.skip("mariadb-dump / mariadb not installed (mariadb-client)")
    return dumper, client


def _mariadb_connection(url: URL) -> tuple[list[str], dict[str, str]]:
    # --no-defaults first: the host's option files must not change what the test proves.
    connection = ["--no-defaults", "-h", url.host or "127.0.0.1", "-P", str(url.port or 3306)]
    connection += ["-u", url.username or "root"]
    return connection, {**os.environ, "MYSQL_PWD": url.password or ""}


def _mariadb_dump(source: URL, dump: Path) -> None:
    """`mariadb-dump --single-transaction` of the source database into `dump`."""
    dumper, _ = _mariadb_tools()
    connection, env = _mariadb_connection(source)
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


def _mariadb_restore(target: URL, dump: Path) -> None:
    """`mariadb <target> < dump.sql`."""
    _, client = _mariadb_tools()
    connection, env = _mariadb_connection(target)
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


@dataclass
class Tally:
    """HTTP requests sent to the apps of the drill, and 5xx answers among them."""

    requests: int = 0
    server_errors: int = 0


@dataclass(frozen=True)
class Uploaded:
    id: int
    sha256: str


@dataclass(frozen=True)
class Restored:
    """What the app served on the restored pair."""

    users_total: int
    downloaded: dict[int, str]  # sys_file id -> SHA-256 of the bytes downloaded (or the error)
    late_status: int  # GET of the file uploaded after the backup


class _Client:
    """`async with _Client(database_url, files) as client`: the app in this process (its
    lifespan running) on `database_url` and the local storage folder `files`, signed in as the
    admin; counts the requests and the 5xx answers in `tally`. On exit the app shuts down,
    which writes its batched audit records."""

    def __init__(self, database_url: str, files: Path, tally: Tally) -> None:
        self.app = create_app(make_settings(database_url, redis_url="", file_dir=files))
        self.tally = tally
        self.headers: dict[str, str] = {}
        self._stack = AsyncExitStack()
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://restored"
        )

    async def __aenter__(self) -> _Client:
        await self._stack.enter_async_context(
            LifespanManager(
                self.app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
            )
        )
        await self._stack.enter_async_context(self._http)
        await self.sign_in()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, url, headers=self.headers, **kwargs)
        self.tally.requests += 1
        self.tally.server_errors += response.status_code >= 500
        return response

    async def sign_in(self) -> None:
        login = await self.send(
            "POST", "/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def upload(self, name: str, data: bytes) -> Uploaded:
        response = await self.send(
            "POST", FILES_URL, files={"file": (name, data, "application/octet-stream")}
        )
        assert response.status_code == 201, response.text
        stored = response.json()["data"]
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        return Uploaded(int(stored["id"]), str(stored["sha256"]))


async def _upload(database_url: str, files: Path, names: list[str], tally: Tally) -> list[Uploaded]:
    """Sign in and upload `names` (from `BACKED_UP_FILES`, else random text) through the API;
    the app shuts down afterwards, so its batched audit records are written."""
    async with _Client(database_url, files, tally) as client:
        uploaded = []
        for name in names:
            make = BACKED_UP_FILES.get(name)
            data = make() if make is not None else os.urandom(64).hex().encode()
            uploaded.append(await client.upload(name, data))
        return uploaded


async def _smoke(
    database_url: str, files: Path, rows: list[int], late: int, tally: Tally
) -> Restored:
    """On the restored pair: sign in as the admin, list users, download every `sys_file` row
    (`rows`), and ask for the file uploaded after the backup (`late`)."""
    async with _Client(database_url, files, tally) as client:
        users = await client.send("GET", "/api/v1/system/users?page_size=100")
        assert users.status_code == 200, users.text
        downloaded: dict[int, str] = {}
        for file_id in rows:
            content = await client.send("GET", f"{FILES_URL}/{file_id}/content")
            downloaded[file_id] = (
                hashlib.sha256(content.content).hexdigest()
                if content.status_code == 200
                else f"HTTP {content.status_code}: {content.text[:200]}"
            )
        late_status = (await client.send("GET", f"{FILES_URL}/{late}/content")).status_code
        return Restored(
            int(users.json()["data"]["total"]),
            downloaded,
            late_status,
        )


def _file_rows(database_url: str) -> dict[int, tuple[str, str]]:
    """`sys_file`: id -> (storage key, SHA-256). Call from sync code."""

    async def read() -> dict[int, tuple[str, str]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(StoredFile.id, StoredFile.storage_key, StoredFile.sha256)
                )
                return {int(row.id): (row.storage_key, row.sha256) for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _stored_keys(root: Path) -> set[str]:
    """Every file under a storage root, as a storage key."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_f21_backup_restores_into_a_new_database_that_serves(tmp_path: Path) -> None:
    """F21: files uploaded through the API, then the database dumped and the storage folder
    copied together; one more file uploaded after the backup; both restored into a new database
    and a new folder. The copy is at head, has the same rows (counts on every table, checksums
    on the main ones and `sys_file`), passes the sign-in and user-list smoke test, downloads
    every `sys_file` row with its stored SHA-256, holds no file without a row, and has the late
    file in neither half (a consistent pair)."""
    server = server_url()
    if server is None:
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL or MariaDB (SQLite has no server)")
    postgres = server.get_backend_name() == "postgresql"
    dump_database, restore_database = (
        (_postgres_dump, _postgres_restore) if postgres else (_mariadb_dump, _mariadb_restore)
    )
    storage, backup, restored_storage = (tmp_path / n for n in ("files", "backup", "restored"))
    backup.mkdir()
    with (
        temporary_database(tmp_path, "bak") as source_url,
        temporary_database(tmp_path, "rst") as target_url,
    ):
        seed_database(source_url)
        tally = Tally()
        uploaded = asyncio.run(_upload(source_url, storage, list(BACKED_UP_FILES), tally))
        before = row_counts(source_url)
        expected_sums = checksums(source_url, TABLES_TO_CHECKSUM)
        backed_up_rows = _file_rows(source_url)
        assert before["sys_file"] == len(BACKED_UP_FILES)

        # The backup: the database first, then the storage tree (a row never points at a file
        # the copy lacks; a file without a row would only be an orphan).
        dump = backup / ("fastapiadmin.dump" if postgres else "fastapiadmin.sql")
        dump_database(make_url(source_url), dump)
        shutil.copytree(storage, backup / "files")

        # Life goes on after the backup: this file must come back in neither half.
        (late,) = asyncio.run(_upload(source_url, storage, ["after-backup.txt"], tally))
        late_key = _file_rows(source_url)[late.id][0]
        assert (storage / late_key).is_file()

        # The restore: a new database, a new storage folder.
        restore_database(make_url(target_url), dump)
        shutil.copytree(backup / "files", restored_storage)

        # Compared before the smoke test, which signs in (and so writes).
        after = row_counts(target_url)
        restored_sums = checksums(target_url, TABLES_TO_CHECKSUM)
        rows = _file_rows(target_url)
        smoke = asyncio.run(_smoke(target_url, restored_storage, sorted(rows), late.id, tally))
        lost_rows = sum(max(0, count - after.get(name, 0)) for name, count in before.items())
        lost_files = sum(1 for i, (_, sha) in rows.items() if smoke.downloaded.get(i) != sha)
        fault_stats.record(
            f"F21 backup and restore with files ({'PostgreSQL' if postgres else 'MariaDB'})",
            requests=tally.requests,
            server_errors=tally.server_errors,
            writes_acknowledged=sum(before.values()) + len(uploaded),
            writes_lost=lost_rows + lost_files,
        )
        assert after == before
        assert restored_sums == expected_sums
        assert "status: up to date" in _cli_current(target_url)
        assert smoke.users_total == before["sys_user"]
        assert rows == backed_up_rows
        assert {u.id: u.sha256 for u in uploaded} == {i: sha for i, (_, sha) in rows.items()}
        assert smoke.downloaded == {i: sha for i, (_, sha) in rows.items()}, "files lost"
        assert _stored_keys(restored_storage) == {key for key, _ in rows.values()}
        assert late.id not in rows and late.sha256 not in {sha for _, sha in rows.values()}
        assert not (restored_storage / late_key).exists()
        assert smoke.late_status == 404
