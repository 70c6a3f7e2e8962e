"""Graceful shutdown of the real server process (docs/security-checklist.md §0 #17, §5.3 F11).

`sigterm_during_slow_request` runs the scenario and returns what happened, so further
assertions about the same shutdown (e.g. the scheduler starting nothing new after SIGTERM) can
be added by starting the app with extra settings and checking the result.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.database import utcnow
from app.modules.scheduler.models import Job, JobRun
from tests.resilience.conftest import StartApp
from tests.resilience.harness import CLIENT_TIMEOUT
from tests.support.databases import ONCE_PER_CI
from tests.support.private_services import PrivatePostgres
from tests.support.processes import AppProcess

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

SLOW_MS = 3000
SIGTERM_AT = 0.5  # seconds after the slow request was sent
GRACEFUL_SHUTDOWN_TIMEOUT = 10  # what the app process is started with
EXIT_SLACK = 2.0  # docs/security-checklist.md F11: exit within the slow time plus 2 s


@dataclass(frozen=True)
class Shutdown:
    """What a SIGTERM during a slow request did."""

    in_flight: httpx.Response | BaseException  # the slow request's outcome
    after_sigterm: OSError | None  # connecting after SIGTERM: the error, or None if accepted
    exit_code: int | None  # None: still running at the deadline
    exit_after: float  # seconds from SIGTERM to exit (or to the deadline)


async def _outcome(request: asyncio.Task[httpx.Response]) -> httpx.Response | BaseException:
    try:
        return await request
    except httpx.HTTPError as exc:
        return exc


async def _connect(port: int) -> OSError | None:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except OSError as exc:  # TimeoutError included
        return exc
    writer.close()
    return None


async def sigterm_during_slow_request(
    app: AppProcess, *, ms: int = SLOW_MS, db: bool = True
) -> Shutdown:
    """Start `GET /__test/slow?ms=` (holding a DB connection when `db`), send SIGTERM
    `SIGTERM_AT` s later, then try a new connection, and wait for the process to end."""
    async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:
        slow = asyncio.create_task(
            http.get("/__test/slow", params={"ms": ms, "db": str(db).lower()})
        )
        await asyncio.sleep(SIGTERM_AT)
        assert not slow.done(), "the slow request ended before SIGTERM"
        app.signal(signal.SIGTERM)
        sent = time.monotonic()
        # uvicorn notices the signal on its next tick (every 0.1 s) and closes its listener.
        await asyncio.sleep(0.5)
        after = await _connect(app.port)
        in_flight = await _outcome(slow)
    deadline = ms / 1000 - SIGTERM_AT + GRACEFUL_SHUTDOWN_TIMEOUT + 5
    code = await app.wait_exit(within=max(0.0, deadline - (time.monotonic() - sent)))
    return Shutdown(in_flight, after, code, time.monotonic() - sent)


async def test_f11_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    private_postgres: PrivatePostgres, app_database: str, start_app: StartApp
) -> None:
    """F11: the in-flight request completes with 200; a connection opened after SIGTERM is
    refused (uvicorn closes its listening socket first); the process exits 0 within the rest of
    the slow request plus 2 s, well inside GRACEFUL_SHUTDOWN_TIMEOUT, and leaves no database
    session behind."""
    app = await start_app(
        app_database,
        ENABLE_TEST_ROUTES="true",
        GRACEFUL_SHUTDOWN_TIMEOUT=str(GRACEFUL_SHUTDOWN_TIMEOUT),
    )
    result = await sigterm_during_slow_request(app)

    assert isinstance(result.in_flight, httpx.Response), repr(result.in_flight)
    assert result.in_flight.status_code == 200
    assert result.in_flight.json()["data"] == {"slept_ms": SLOW_MS, "db": True}
    assert isinstance(result.after_sigterm, ConnectionRefusedError), repr(result.after_sigterm)
    assert result.exit_code == 0, f"exit code {result.exit_code}:\n{app.log()[-2000:]}"
    remaining = SLOW_MS / 1000 - SIGTERM_AT
    assert result.exit_after <= remaining + EXIT_SLACK, f"exited after {result.exit_after:.2f}s"
    left = private_postgres.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastapiadmin'"
    )
    assert left == "0", f"{left} database sessions left behind"


async def test_f11_the_scheduler_fires_nothing_after_sigterm(
    app_database: str, start_app: StartApp, tmp_path: Path
) -> None:
    """F11, scheduler part: a job due every second fires while the app runs; from SIGTERM on,
    while the server still finishes its in-flight request, no new run is recorded (the leader
    stops at the signal, not at the end of the graceful shutdown)."""
    out = tmp_path / "ticks.log"
    engine = create_async_engine(app_database)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(Job).where(Job.name == "every second"))
            start = utcnow() + timedelta(seconds=1)
            await connection.execute(
                insert(Job).values(
                    name="every second",
                    target="testjobs.append_line",
                    args=json.dumps({"path": str(out)}),
                    trigger_type="interval",
                    interval_seconds=1,
                    start_at=start,
                    next_run_at=start,
                    timezone="UTC",
                    status="active",
                    timeout_seconds=10,
                    max_retries=0,
                    retry_backoff_seconds=1,
                    misfire_policy="coalesce",
                    misfire_grace_seconds=60,
                    built_in=False,
                    version=1,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        app = await start_app(
            app_database,
            ENABLE_TEST_ROUTES="true",
            GRACEFUL_SHUTDOWN_TIMEOUT=str(GRACEFUL_SHUTDOWN_TIMEOUT),
            MODULES="*,tests.support.scheduler_plugin",
            SCHEDULER_ENABLED="true",
            SCHEDULER_TICK_SECONDS="0.1",
        )
        deadline = time.monotonic() + 10
        while not (out.exists() and len(out.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline, f"the job never ran:\n{app.log()[-2000:]}"
            await asyncio.sleep(0.1)
        result = await sigterm_during_slow_request(app, db=False)
        signalled = utcnow() - timedelta(seconds=result.exit_after)
        assert result.exit_code == 0, app.log()[-2000:]
        async with engine.connect() as connection:
            runs = (
                (
                    await connection.execute(
                        select(JobRun.created_at).where(JobRun.job_name == "every second")
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    before = [created for created in runs if created < signalled]
    after = [created for created in runs if created >= signalled]
    assert len(before) >= 2
    # The process lived on for about 2.5 s after SIGTERM (the slow request): 2 ticks at least.
    assert after == [], f"{len(after)} runs started after SIGTERM"
