"""Fixtures of the fault-injection tests: a private PostgreSQL with the schema and initial data,
and a factory that starts the app as a real process (stopped again in teardown)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from app.core import migrations
from app.core.bootstrap import load_initial_data
from tests.conftest import make_settings
from tests.resilience.harness import ADMIN_PASSWORD, app_env
from tests.support.private_services import (
    PrivatePostgres,
    ensure_running,
    private_postgres_fixture,
    private_redis_fixture,
)
from tests.support.processes import AppProcess
from tests.support.startup import shared_fixture

__all__ = ["private_postgres_fixture", "private_redis_fixture"]

StartApp = Callable[..., Awaitable[AppProcess]]


def prepare_database(url: str) -> str:
    """Build `url` like a deployment: migrations, then the initial data (with a known admin
    password)."""
    migrations.upgrade(url)
    settings = make_settings(url, redis_url="", init_admin_password=ADMIN_PASSWORD)
    asyncio.run(load_initial_data(settings))
    return url


@shared_fixture("the app database on the private PostgreSQL cluster", scope="module")
def app_database(private_postgres: PrivatePostgres) -> str:
    """A database on the private PostgreSQL cluster, with the schema and initial data.

    The cluster runs with `synchronous_commit = off` for speed; this database turns it back on,
    so that a commit the app acknowledged survives `pg_ctl stop -m immediate` (F2): with it
    off, the last ~0.2 s of commits live only in shared memory and a crash loses them.
    """
    url = private_postgres.create_database("fastapiadmin")
    private_postgres.psql('ALTER DATABASE "fastapiadmin" SET synchronous_commit = on')
    return prepare_database(url)


@shared_fixture("the SQLite app database", scope="module")
def sqlite_app_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database file with the schema and initial data (for tests whose fault is not
    in the database: they need no database server)."""
    path = tmp_path_factory.mktemp("sqlite") / "fastapiadmin.db"
    return prepare_database(f"sqlite+aiosqlite:///{path.as_posix()}")


@pytest.fixture
def postgres(private_postgres: PrivatePostgres, app_database: str) -> Iterator[PrivatePostgres]:
    """The private cluster for one test, running again afterwards whatever the test did."""
    ensure_running(private_postgres)
    yield private_postgres
    ensure_running(private_postgres)


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[StartApp]:
    """`await start_app(database_url, redis_url="", **SETTINGS)`: the app as a real process,
    ready to serve; every process started is stopped at teardown.

    `args` adds command-line arguments (`("--workers", "2")`); `wait=False` returns as soon as
    the process is started, without waiting for readiness (F14: it may never be ready)."""
    started: list[AppProcess] = []

    async def start(
        database_url: str,
        redis_url: str = "",
        *,
        args: Sequence[str] = (),
        wait: bool = True,
        **settings: str,
    ) -> AppProcess:
        directory = tmp_path / f"app{len(started)}"
        directory.mkdir()
        process = AppProcess(
            directory, app_env(directory, database_url, redis_url, **settings), args=args
        )
        started.append(process)
        process.start()
        if wait:
            await process.wait_ready_async()
        return process

    yield start
    for process in started:
        await asyncio.to_thread(process.stop)
