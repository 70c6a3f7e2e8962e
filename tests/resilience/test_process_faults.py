"""The app process itself failing: SIGKILL in the middle of a transaction and of a scheduler
run, a worker killed under load, and starting while the database is down
(docs/security-checklist.md §5.3 F12, F13, F14; docs/resilience.md).

Each runs the app as a real `python main.py run` process and records its figures
(tests/support/fault_stats.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.core.database import utcnow
from app.modules.scheduler.models import Job
from tests.resilience.conftest import StartApp
from tests.resilience.harness import (
    CLIENT_TIMEOUT,
    SUCCESS,
    Load,
    Sample,
    Target,
    assert_no_open_transactions,
)
from tests.support.databases import ONCE_PER_CI
from tests.support.fault_stats import record, record_samples
from tests.support.private_services import PrivatePostgres, PrivateRedis, ensure_running

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

DATABASE = "fastapiadmin"  # the database of `app_database` (tests/resilience/conftest.py)


async def _poll(postgres: PrivatePostgres, sql: str, expected: str, within: float) -> str:
    """Run `sql` until it answers `expected` (or `within` s pass); the last answer."""
    deadline = time.monotonic() + within
    while True:
        answer = await asyncio.to_thread(postgres.psql, sql, DATABASE)
        if answer == expected or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------------- F12 --

SCHEDULER = {
    "ENABLE_TEST_ROUTES": "true",
    "MODULES": "*,tests.support.scheduler_plugin",
    "SCHEDULER_ENABLED": "true",
    "SCHEDULER_TICK_SECONDS": "0.2",
    "SCHEDULER_HEARTBEAT_SECONDS": "0.5",
}
STALE_AFTER = 3  # the reaper's `stale_after_seconds` in this test (default: 30 s)
SLEEPY = "f12 sleepy"
RUN_STATUS = f"SELECT string_agg(status, ',') FROM sys_job_run WHERE job_name = '{SLEEPY}'"  # noqa: S608
KILLED_ROWS = "SELECT count(*) FROM sys_param WHERE key LIKE '__test.f12kill.%'"
MID_TRANSACTION = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastapiadmin' "
    "AND state = 'idle in transaction' AND query LIKE 'INSERT INTO sys_param%'"
)


async def _schedule(database_url: str) -> None:
    """A job that sleeps 30 s, due now; the reaper every second, with STALE_AFTER."""
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            now = utcnow()
            db.add(
                Job(
                    name=SLEEPY,
                    target="testjobs.behave",
                    args=json.dumps({"sleep_seconds": 30}),
                    trigger_type="interval",
                    interval_seconds=3600,
                    start_at=now,
                    next_run_at=now,
                    timeout_seconds=60,
                )
            )
            await db.execute(
                update(Job)
                .where(Job.target == "scheduler.reap_stale_runs")
                .values(
                    interval_seconds=1,
                    args=json.dumps({"stale_after_seconds": STALE_AFTER}),
                    next_run_at=now,
                )
            )
    finally:
        await engine.dispose()


async def test_f12_sigkill_mid_transaction_leaves_no_partial_rows_and_no_run_running(
    private_postgres: PrivatePostgres, app_database: str, start_app: StartApp
) -> None:
    """F12: SIGKILL of the app while a request is between the inserts of a 3-row transaction
    (`POST /__test/tx`) and while a scheduler run is `running`. The database rolls the
    transaction back when the connection dies: none of its rows exists, and no session is left
    `idle in transaction` (P5). The run its dead worker left `running` is ended as `lost` by the
    reaper of the restarted app, never `running` forever. The restarted app serves (P4)."""
    await _schedule(app_database)
    app = await start_app(app_database, **SCHEDULER)
    requests = 0
    async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:
        # The same route commits when it is not interrupted: its absence below means something.
        whole = await http.post("/__test/tx", params={"tag": "f12whole", "rows": 3, "ms": 0})
        requests += 1
        assert whole.status_code == 200, whole.text
        running = await _poll(private_postgres, RUN_STATUS, "running", within=10)
        assert running == "running", f"the job run never started: {running}"
        interrupted = asyncio.create_task(
            http.post("/__test/tx", params={"tag": "f12kill", "rows": 3, "ms": 1500})
        )
        requests += 1
        midway = await _poll(private_postgres, MID_TRANSACTION, "1", within=10)
        assert midway == "1", "the request never reached the middle of its transaction"
        app.kill()
        outcome = await asyncio.gather(interrupted, return_exceptions=True)
    assert isinstance(outcome[0], httpx.TransportError), repr(outcome[0])
    # PostgreSQL notices the closed socket and rolls back; the dead worker's run stays running.
    left = await _poll(
        private_postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastapiadmin'",
        "0",
        within=5,
    )
    assert left == "0", f"{left} sessions of the killed app are still open"
    assert await asyncio.to_thread(private_postgres.psql, RUN_STATUS, DATABASE) == "running"

    restarted = await start_app(app_database, **SCHEDULER)
    status = await _poll(private_postgres, RUN_STATUS, "lost", within=STALE_AFTER + 10)
    partial = await asyncio.to_thread(private_postgres.psql, KILLED_ROWS, DATABASE)
    async with httpx.AsyncClient(base_url=restarted.base, timeout=CLIENT_TIMEOUT) as http:
        after = await http.get("/__test/slow", params={"ms": 0, "db": "true"})
        requests += 1
    record(
        "F12 SIGKILL mid-transaction",
        requests=requests,
        server_errors=int(after.status_code >= 500) + int(whole.status_code >= 500),
        writes_acknowledged=3,
        writes_lost=3
        - int(
            private_postgres.psql(
                "SELECT count(*) FROM sys_param WHERE key LIKE '__test.f12whole.%'", DATABASE
            )
        ),
    )

    assert partial == "0", f"{partial} rows of the killed transaction survived"
    assert status == "lost", f"the dead worker's run is {status!r}, not lost"
    assert after.status_code == 200, after.text
    assert_no_open_transactions(private_postgres)


# --------------------------------------------------------------------------------- F13 --

WORKER_MS = 300  # each request stays in flight this long
# docs/security-checklist.md F13: uvicorn's supervisor checks its workers every 0.5 s
RESPAWN_WITHIN = 2.0


def _workers(supervisor: int) -> set[int]:
    """The worker processes of a `--workers N` server: multiprocessing-spawned children."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == supervisor and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _pid(sample: Sample) -> int | None:
    return sample.body["data"]["pid"] if sample.status == 200 else None


async def _wait_for(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not (callable(condition) and condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_f13_a_killed_worker_is_respawned_and_only_its_requests_fail(
    sqlite_app_database: str, private_redis: PrivateRedis, start_app: StartApp
) -> None:
    """F13: `main.py run --workers 2` (uvicorn's supervisor) under load; `kill -9` one worker
    while it serves. Only requests that worker had accepted fail (no answer: the connection
    drops), at most one per load loop; no request gets a 5xx; the supervisor starts a new
    worker within RESPAWN_WITHIN, and the new worker serves."""
    app = await start_app(
        sqlite_app_database,
        private_redis.url,
        args=("--workers", "2"),
        ENABLE_TEST_ROUTES="true",
        RATE_LIMIT_ENABLED="false",
        SCHEDULER_ENABLED="false",
    )
    path = f"/__test/worker?ms={WORKER_MS}"
    targets: dict[str, Target] = {f"loop{n}": (path, {}) for n in range(4)}
    async with Load(app.base, targets, keepalive=False) as load:
        before = _workers(app.pid)
        assert len(before) == 2, f"workers: {before}"
        # Both workers serve before one is killed.
        await _wait_for(
            lambda: {_pid(s) for s in load.samples} >= before, 30, "both workers to answer"
        )
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed_at = load.now()
        await _wait_for(lambda: len(_workers(app.pid) - before) == 1, RESPAWN_WITHIN, "respawn")
        (new,) = _workers(app.pid) - before
        await _wait_for(lambda: any(_pid(s) == new for s in load.samples), 30, "the new worker")
        await asyncio.sleep(0.5)
    samples = load.samples
    record_samples("F13 worker SIGKILLed under load", samples)

    failed = [s for s in samples if s.status not in SUCCESS]
    assert all(s.status is None for s in failed), "\n".join(s.describe() for s in failed)
    # Each failure was sent before the kill and is one of the loops' requests then in flight.
    assert all(s.start < killed_at < s.end for s in failed), [s.describe() for s in failed]
    assert len(failed) <= len(targets), len(failed)
    served = Counter(_pid(s) for s in samples if s.status == 200)
    assert set(served) == {*before, new}, served
    assert not [s for s in samples if s.start > killed_at and s.status != 200]
    assert _workers(app.pid) == (before - {victim}) | {new}, "a worker crashed again"


# --------------------------------------------------------------------------------- F14 --


async def test_f14_app_start_with_the_database_down_fails_fast_with_one_clear_line(
    private_postgres: PrivatePostgres, app_database: str, start_app: StartApp
) -> None:
    """F14: the policy is fail-fast (docs/resilience.md). `main.py run` with PostgreSQL
    stopped, both with `AUTO_MIGRATE=false` (checks the schema version) and `true` (migrates):
    the process exits 1 by itself, having written one line `error: database unreachable: ...`
    and nothing that repeats (no crash loop: uvicorn is never started, so no worker is
    restarted over and over); a process supervisor restarts it with back-off."""
    await asyncio.to_thread(private_postgres.stop, "fast")
    try:
        apps = [
            await start_app(app_database, wait=False, AUTO_MIGRATE=auto)
            for auto in ("false", "true")
        ]
        codes = [await app.wait_exit(within=60) for app in apps]
    finally:
        await asyncio.to_thread(ensure_running, private_postgres)
    logs = [app.log() for app in apps]
    record("F14 app start with the database down", requests=0, server_errors=0)

    for code, log in zip(codes, logs, strict=True):
        assert code == 1, f"exit code {code}:\n{log[-2000:]}"
        lines = [line for line in log.splitlines() if line.strip()]
        reported = [line for line in lines if line.startswith("error: database unreachable: ")]
        assert len(reported) == 1, log[-2000:]
        assert len(lines) <= 5, f"{len(lines)} log lines:\n{log[-2000:]}"
        assert "Traceback" not in log, log[-2000:]
