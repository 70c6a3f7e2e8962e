"""PostgreSQL faults other than a clean stop, under load, against a private cluster and the app
as a real process (docs/security-checklist.md §5.3 F2, F3, F5, F6; docs/resilience.md).

F2 crash during writes, F3 backends killed, F5 a table locked by another session, F6 the
connection pool exhausted. Each checks the pass criteria P1-P5 of docs/security-checklist.md §5.3
that apply,
and records its figures (tests/support/fault_stats.py).

One app process serves the four tests (starting one costs several seconds on CI): small pool
and lock timeouts so that F5 and F6 fail within B. Each test leaves it healthy (P4 proves it)
and begins by waiting for readiness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.resilience.harness import (
    BUDGET,
    CLIENT_TIMEOUT,
    RECOVERY,
    SUCCESS,
    Load,
    Sample,
    Target,
    admin_headers,
    app_env,
    assert_all,
    assert_fails_cleanly,
    assert_no_open_transactions,
    assert_recovers,
    window,
)
from tests.support.databases import ONCE_PER_CI
from tests.support.fault_stats import record_samples
from tests.support.private_services import PrivatePostgres
from tests.support.processes import AppProcess
from tests.support.startup import shared_fixture

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

USERS = "/api/v1/system/users"
USER_LIST = "/api/v1/system/users?page_size=5"
DEPTS = "/api/v1/system/depts"
LIVE = "/api/v1/health/live"
READY = "/api/v1/health/ready"
DATABASE = "fastapiadmin"  # the database of `app_database` (tests/resilience/conftest.py)
PASSWORD = "velvet-orbit-quarry-58"  # passes the password policy

POOL_SIZE, MAX_OVERFLOW = 2, 1
POOL = POOL_SIZE + MAX_OVERFLOW
POOL_TIMEOUT = 1.5  # F6: a request waiting for a connection gives up after this
LOCK_TIMEOUT = 1.5  # F5: a statement waiting for a lock gives up after this
LOCK_SECONDS = 6  # F5: how long the other session holds the table
HOLD_MS = 4000  # F6: how long the slow requests hold every pooled connection
LIVE_BUDGET = 0.5  # /health/live answers in milliseconds; this only catches a blocked loop
SETTINGS = {
    "RATE_LIMIT_ENABLED": "false",
    "ENABLE_TEST_ROUTES": "true",
    "SCHEDULER_ENABLED": "false",  # no background queries on the small pool
    "DB_POOL_SIZE": str(POOL_SIZE),
    "DB_MAX_OVERFLOW": str(MAX_OVERFLOW),
    "DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
    "DB_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
}


@shared_fixture("the app process on the private PostgreSQL cluster", scope="module")
async def shared_app(
    app_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppProcess]:
    directory = tmp_path_factory.mktemp("database-faults")
    process = AppProcess(directory, app_env(directory, app_database, **SETTINGS))
    process.start()
    try:
        await process.wait_ready_async()
        yield process
    finally:
        await asyncio.to_thread(process.stop)


@pytest.fixture
async def ready_app(postgres: PrivatePostgres, shared_app: AppProcess) -> AppProcess:
    """The shared app, ready (the `postgres` fixture has the cluster running)."""
    await shared_app.wait_ready_async(within=15)
    return shared_app


async def _role_id(app: AppProcess, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:
        response = await http.get("/api/v1/system/roles", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["items"][0]["id"])


def _new_users(prefix: str, role_id: int) -> Callable[[int], dict[str, Any]]:
    """Bodies of `POST /users`: user `<prefix><n>` with one role (two tables in one commit)."""

    def body(number: int) -> dict[str, Any]:
        return {
            "username": f"{prefix}{number}",
            "name": f"Fault {prefix} {number}",
            "password": PASSWORD,
            "role_ids": [role_id],
            "must_change_password": False,
        }

    return body


def _usernames(samples: list[Sample], statuses: frozenset[int]) -> set[str]:
    return {s.sent["username"] for s in samples if s.sent and s.status in statuses}


def _stored_users(postgres: PrivatePostgres, prefix: str) -> set[str]:
    out = postgres.psql(
        f"SELECT username FROM sys_user WHERE username LIKE '{prefix}%'",  # noqa: S608
        database=DATABASE,
    )
    return set(out.split())


def _users_without_role(postgres: PrivatePostgres, prefix: str, role_id: int) -> set[str]:
    """Half-written users: the `sys_user` row without its `sys_user_role` row."""
    out = postgres.psql(
        f"SELECT u.username FROM sys_user u WHERE u.username LIKE '{prefix}%' AND NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM sys_user_role r WHERE r.user_id = u.id AND r.role_id = {role_id})",
        database=DATABASE,
    )
    return set(out.split())


# The SQL below is built from this module's constants (prefixes, ids read back), not from input.

# ---------------------------------------------------------------------------------- F2 --


async def test_f2_postgres_crash_during_writes_keeps_every_acknowledged_write(
    postgres: PrivatePostgres, ready_app: AppProcess
) -> None:
    """F2: `pg_ctl stop -m immediate` (a crash: no checkpoint, backends killed) while two loops
    create users with a role, ~2 s down, started again (crash recovery); the app is not
    restarted. P1-P5; every create answered 201 is in the database afterwards (durability of
    an acknowledged commit), and no user exists without its role (atomicity)."""
    app = ready_app
    headers = await admin_headers(app)
    role_id = await _role_id(app, headers)
    targets: dict[str, Target] = {
        "write-a": (USERS, headers, _new_users("f2a.", role_id)),
        "write-b": (USERS, headers, _new_users("f2b.", role_id)),
        "live": (LIVE, {}),
        "ready": (READY, {}),
    }
    async with Load(app.base, targets) as load:
        await asyncio.sleep(1.5)
        crashing = load.now()
        await asyncio.to_thread(postgres.stop, "immediate")
        down = load.now()
        await asyncio.sleep(2)
        starting = load.now()
        await asyncio.to_thread(postgres.start)
        up = load.now()
        for target in ("write-a", "write-b"):
            await load.first_success(target, after=up, within=RECOVERY + 3)
        await asyncio.sleep(0.5)
    samples = load.samples
    writes = [s for s in samples if s.target.startswith("write")]
    acknowledged = _usernames(writes, SUCCESS)
    stored = _stored_users(postgres, "f2")
    lost = acknowledged - stored
    record_samples(
        "F2 PostgreSQL crash during writes",
        samples,
        writes_acknowledged=len(acknowledged),
        writes_lost=len(lost),
    )

    assert_fails_cleanly(samples, budget=BUDGET)
    assert_all(load.of("live"), 200, "liveness must not depend on the database")
    before = [s for s in samples if s.end < crashing and s.target != "live"]
    assert before and all(s.status in SUCCESS for s in before), "healthy before the crash"
    for target in ("write-a", "write-b", "ready"):
        assert_all(window(samples, target, down, starting), 503, f"{target} while crashed")
        assert_recovers(samples, target, after=up)
    assert len(acknowledged) >= 3, f"too few writes acknowledged: {sorted(acknowledged)}"
    assert not lost, f"acknowledged (201) but missing after the crash: {sorted(lost)}"
    # A create answered 503 may or may not have committed (the crash can fall between COMMIT
    # and its answer); either way it is whole: no user without the role of the same commit.
    assert stored <= _usernames(writes, frozenset({*SUCCESS, 503})), "a user nobody created"
    assert not _users_without_role(postgres, "f2", role_id), "half-written users"
    assert_no_open_transactions(postgres)


# ---------------------------------------------------------------------------------- F3 --


async def test_f3_killed_backends_cost_at_most_one_request_each(
    postgres: PrivatePostgres, ready_app: AppProcess
) -> None:
    """F3: `pg_terminate_backend` on every connection of the app, under load, no restart.
    Each killed connection may fail at most the one request using it, with a 503 (the idle
    ping, `DB_PING_AFTER_IDLE`, replaces idle ones); P1-P3, and P4 at once: the first request
    after the kill that finds a new connection succeeds, and nothing fails after it."""
    app = ready_app
    headers = await admin_headers(app)
    targets = {"users": (USER_LIST, headers), "ready": (READY, {}), "live": (LIVE, {})}
    async with Load(app.base, targets) as load:
        await asyncio.sleep(1.0)
        killed_rows = await asyncio.to_thread(
            postgres.psql,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608
            f"WHERE application_name = 'fastapiadmin' AND datname = '{DATABASE}'",
        )
        killed_at = load.now()
        await asyncio.sleep(2.0)
    samples = load.samples
    killed = killed_rows.split().count("t")
    record_samples("F3 PostgreSQL backends killed", samples)

    assert killed >= 1, "the app had no connection to kill"
    assert_fails_cleanly(samples, budget=BUDGET)
    assert_all(load.of("live"), 200, "liveness must not depend on the database")
    failed = [s for s in samples if s.status not in SUCCESS]
    assert len(failed) <= killed, (
        f"{len(failed)} failures for {killed} killed connections:\n"
        + "\n".join(s.describe() for s in failed)
    )
    for target in ("users", "ready"):
        assert_recovers(samples, target, after=killed_at)
    assert_no_open_transactions(postgres)


# ---------------------------------------------------------------------------------- F5 --


async def _wait_for_lock(postgres: PrivatePostgres, table: str, within: float = 10) -> None:
    query = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "  # noqa: S608
        f"WHERE c.relname = '{table}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    )
    deadline = time.monotonic() + within
    while await asyncio.to_thread(postgres.psql, query, DATABASE) != "1":
        assert time.monotonic() < deadline, f"{table} was never locked"
        await asyncio.sleep(0.05)


async def test_f5_a_locked_table_fails_writes_after_the_lock_timeout_not_later(
    postgres: PrivatePostgres, ready_app: AppProcess
) -> None:
    """F5: another session holds `ACCESS EXCLUSIVE` on `sys_user` for LOCK_SECONDS. Creating a
    user waits for the lock only `DB_LOCK_TIMEOUT` (PostgreSQL `lock_timeout`, SQLSTATE 55P03),
    then answers 503 `...: database` with `Retry-After` (P3, far below the 5 s bound), leaving
    nothing behind; reads of other tables (departments) are not held up at all; once the lock
    is released, writes succeed again (P4)."""
    app = ready_app
    headers = await admin_headers(app)
    role_id = await _role_id(app, headers)
    locking = time.monotonic()  # the lock is held at least until LOCK_SECONDS after this
    holder = asyncio.create_task(
        asyncio.to_thread(
            postgres.psql,
            "BEGIN; LOCK TABLE sys_user IN ACCESS EXCLUSIVE MODE; "
            f"SELECT pg_sleep({LOCK_SECONDS}); COMMIT;",
            DATABASE,
        )
    )
    try:
        await _wait_for_lock(postgres, "sys_user")
        targets: dict[str, Target] = {
            "write-a": (USERS, headers, _new_users("f5a.", role_id)),
            "write-b": (USERS, headers, _new_users("f5b.", role_id)),
            "depts": (DEPTS, headers),
            "live": (LIVE, {}),
        }
        async with Load(app.base, targets) as load:
            locked_until = load.now() + locking + LOCK_SECONDS - time.monotonic()
            await holder
            released = load.now()
            for target in ("write-a", "write-b"):
                await load.first_success(target, after=released, within=RECOVERY + 3)
            await asyncio.sleep(0.3)
    finally:
        await asyncio.gather(holder, return_exceptions=True)
    samples = load.samples
    writes = [s for s in samples if s.target.startswith("write")]
    acknowledged = _usernames(writes, SUCCESS)
    stored = _stored_users(postgres, "f5")
    record_samples(
        "F5 lock contention on sys_user",
        samples,
        writes_acknowledged=len(acknowledged),
        writes_lost=len(acknowledged - stored),
    )

    assert_fails_cleanly(samples, budget=BUDGET, component="database")
    for target in ("write-a", "write-b"):
        assert_all(window(samples, target, 0, locked_until), 503, f"{target} while locked")
        assert_recovers(samples, target, after=released)
    depts = load.of("depts")
    assert_all(depts, 200, "reads of another table while sys_user is locked")
    slowest = max(s.latency for s in depts)
    assert slowest < LOCK_TIMEOUT, f"a department read waited {slowest:.2f}s: it hit the lock"
    assert_all(load.of("live"), 200, "liveness")
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)}"
    refused = _usernames(writes, frozenset({503}))
    assert refused and not refused & stored, "a refused write left its user behind"
    assert_no_open_transactions(postgres)


# ---------------------------------------------------------------------------------- F6 --


async def _wait_for_idle_in_transaction(postgres: PrivatePostgres, count: int) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastapiadmin' "
        "AND state = 'idle in transaction'"
    )
    deadline = time.monotonic() + 10
    while await asyncio.to_thread(postgres.psql, query) != str(count):
        assert time.monotonic() < deadline, f"the slow requests never held {count} connections"
        await asyncio.sleep(0.05)


async def test_f6_an_exhausted_pool_answers_503_after_the_pool_timeout_and_recovers(
    postgres: PrivatePostgres, ready_app: AppProcess
) -> None:
    """F6: `DB_POOL_SIZE + DB_MAX_OVERFLOW` slow requests (`/__test/slow?db=true`) hold every
    connection for HOLD_MS. Requests needing the database wait `DB_POOL_TIMEOUT`, then answer
    503 `...: database` with `Retry-After` (P1-P3); `/health/live` stays fast; the slow ones
    complete with 200; when they end, the next requests succeed (P4)."""
    app = ready_app
    headers = await admin_headers(app)
    async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:
        holding = time.monotonic()  # every connection is held at least HOLD_MS after this
        holders = [
            asyncio.create_task(http.get("/__test/slow", params={"ms": HOLD_MS, "db": "true"}))
            for _ in range(POOL)
        ]
        await _wait_for_idle_in_transaction(postgres, POOL)
        targets = {
            "users": (USER_LIST, headers),
            "db": ("/__test/slow?ms=0&db=true", {}),
            "live": (LIVE, {}),
        }
        async with Load(app.base, targets) as load:
            full_until = load.now() + holding + HOLD_MS / 1000 - time.monotonic()
            held = await asyncio.gather(*holders)
            released = load.now()
            for target in ("users", "db"):
                await load.first_success(target, after=released, within=RECOVERY + 3)
            await asyncio.sleep(0.3)
    samples = load.samples
    record_samples(
        "F6 connection pool exhausted",
        [*samples, *(Sample("hold", 0, 0, response.status_code) for response in held)],
    )

    assert [r.status_code for r in held] == [200] * POOL, [r.text for r in held]
    assert_fails_cleanly(samples, budget=BUDGET, component="database")
    for target in ("users", "db"):
        assert_all(window(samples, target, 0, full_until), 503, f"{target} with the pool full")
        assert_recovers(samples, target, after=released)
    live = load.of("live")
    assert_all(live, 200, "liveness must not need a connection")
    slowest = max(s.latency for s in live)
    assert slowest <= LIVE_BUDGET, f"/health/live took {slowest:.2f}s: the event loop was blocked"
    assert_no_open_transactions(postgres)
