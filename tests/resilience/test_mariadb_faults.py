"""MariaDB faults under load, against a private MariaDB server and the app as a real process
(docs/security-checklist.md §0 #16, §5.3 F7; docs/resilience.md).

F7 is F1, F3 and F4 on MariaDB, plus the idle drop MySQL/MariaDB servers do on their own
(`wait_timeout`): the server stopped mid-load, frozen (SIGSTOP) for 10 s, the app's connections
killed (`KILL <id>`), and pooled connections closed by the server after 2 s idle. The stopped
and frozen tests share their body with PostgreSQL's F1 and F4 (`database_outage_under_load`).
The pass criteria are P1-P4 of docs/security-checklist.md §5.3, plus: no transaction left open (P5),
at most
one failed request per killed connection (and it is a 503), and no "MySQL server has gone
away" 500 after an idle drop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.resilience.conftest import StartApp, prepare_database
from tests.resilience.harness import (
    BUDGET,
    CLIENT_TIMEOUT,
    FROZEN_DB_TIMEOUTS,
    USERS,
    Load,
    admin_headers,
    app_env,
    assert_all,
    assert_fails_cleanly,
    assert_recovers,
    database_outage_under_load,
    database_targets,
)
from tests.support import fault_stats
from tests.support.databases import ONCE_PER_CI
from tests.support.private_services import (
    PrivateMariaDB,
    ensure_running,
    private_mariadb_fixture,  # noqa: F401  (the `private_mariadb` fixture)
)
from tests.support.processes import AppProcess
from tests.support.startup import shared_fixture

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

DATABASE = "fastapiadmin"
# The scheduler would touch the database every tick and keep a pooled connection from idling.
SETTINGS = {"RATE_LIMIT_ENABLED": "false", "SCHEDULER_ENABLED": "false"}
IDLE_TIMEOUT = 2  # SET GLOBAL wait_timeout (seconds)
IDLE_FOR = 3.0  # how long the app stays idle before the next requests
KILL_ROUNDS = 3
FROZEN_FOR = 10.0  # seconds mariadbd stays SIGSTOPped (docs/security-checklist.md F4's 10 s)


@shared_fixture("the app database on the private MariaDB server", scope="module")
def mariadb_database(private_mariadb: PrivateMariaDB) -> str:
    """A database on the private MariaDB server, with the schema and initial data."""
    return prepare_database(private_mariadb.create_database(DATABASE))


@pytest.fixture
def mariadb(private_mariadb: PrivateMariaDB, mariadb_database: str) -> Iterator[PrivateMariaDB]:
    """The private server for one test, running again afterwards whatever the test did."""
    ensure_running(private_mariadb)
    yield private_mariadb
    ensure_running(private_mariadb)


@shared_fixture("the app process on the private MariaDB server", scope="module")
def mariadb_app(
    private_mariadb: PrivateMariaDB, mariadb_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppProcess]:
    """One app process for the module's tests (starting one costs seconds): each test leaves
    the server running, so the next one finds the app ready again. (The frozen test starts its
    own, with the short timeouts a frozen server needs.)"""
    directory = tmp_path_factory.mktemp("mariadb-app")
    app = AppProcess(directory, app_env(directory, mariadb_database, **SETTINGS))
    app.start()
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()


def _app_connections(server: PrivateMariaDB) -> list[str]:
    """Ids of the server connections the app holds (connected to its database)."""
    listed = server.sql(
        "SELECT id FROM information_schema.PROCESSLIST "
        "WHERE db = DATABASE() AND id <> CONNECTION_ID()",
        DATABASE,
    )
    return listed.split()


def _no_open_transactions(server: PrivateMariaDB) -> None:
    """P5: no InnoDB transaction left open by the app once the load has ended."""
    left = server.sql("SELECT count(*) FROM information_schema.INNODB_TRX")
    assert left == "0", f"{left} transactions left open"


async def test_f7_mariadb_stopped_mid_load_answers_503_and_recovers(
    mariadb: PrivateMariaDB, mariadb_app: AppProcess
) -> None:
    """F7 (as F1): mariadbd shut down under load (SIGTERM, what `mariadb-admin shutdown` does),
    ~3 s down, started again; the app is not restarted. Requests that need the database answer
    503 within B, readiness 503, liveness 200; the first success within R after it is back."""
    await database_outage_under_load(
        mariadb_app,
        "F7 MariaDB stopped mid-load",
        break_=mariadb.stop,
        repair=mariadb.start,
        hold=3,
    )
    _no_open_transactions(mariadb)


async def test_f7_mariadb_frozen_answers_503_within_budget_and_recovers(
    mariadb: PrivateMariaDB, mariadb_database: str, start_app: StartApp
) -> None:
    """F7 (as F4): mariadbd SIGSTOPped under light load for ~10 s, then SIGCONT; the app is not
    restarted. A frozen server accepts TCP connections and never answers: asyncmy's
    `read_timeout` (G = `DB_STATEMENT_TIMEOUT` + 1 s) ends a statement on a pooled connection,
    `DB_CONNECT_TIMEOUT` a new connection, so every request answers 503 within B = 3 s (never
    a hang, never a 500). Liveness answers 200 throughout: the database waits do not block the
    event loop (its slowest answer is recorded in the figures, not asserted). After SIGCONT the
    requests succeed again within R, and no transaction is left open (P5)."""
    app = await start_app(mariadb_database, **SETTINGS, **FROZEN_DB_TIMEOUTS)
    await database_outage_under_load(
        app,
        "F7 MariaDB frozen",
        break_=mariadb.freeze,
        repair=mariadb.thaw,
        hold=FROZEN_FOR,
        state="frozen",
    )
    _no_open_transactions(mariadb)


async def test_f7_mariadb_connections_killed_fail_at_most_once_each_with_503(
    mariadb: PrivateMariaDB, mariadb_app: AppProcess
) -> None:
    """F7 (as F3): every connection the app holds is killed (`KILL <id>`), three times, under
    load, without restarting anything. At most one request fails per killed connection, and it
    is a 503 (an idle one is replaced at checkout by the idle ping, `DB_PING_AFTER_IDLE`:
    zero failures); every request after the kills succeeds."""
    app = mariadb_app
    headers = await admin_headers(app)
    killed = 0
    async with Load(app.base, database_targets(headers)) as load:
        await asyncio.sleep(1.0)
        first_kill = load.now()
        for _ in range(KILL_ROUNDS):
            ids = await asyncio.to_thread(_app_connections, mariadb)
            assert ids, "the app holds no connection to kill"
            for connection_id in ids:
                # `KILL` fails on a connection that ended by itself meanwhile: not counted.
                with contextlib.suppress(RuntimeError):
                    await asyncio.to_thread(mariadb.sql, f"KILL {connection_id}")
                    killed += 1
            await asyncio.sleep(0.7)
        last_kill = load.now()
        await asyncio.sleep(1.5)
    samples = load.samples
    fault_stats.record_samples("F7 MariaDB connections killed", samples)

    assert killed >= KILL_ROUNDS
    assert_fails_cleanly(samples, budget=BUDGET)
    assert_all(load.of("live"), 200, "liveness must not depend on the database")
    failed = [s for s in samples if s.status != 200]
    assert len(failed) <= killed, f"{len(failed)} failures for {killed} killed connections"
    before = [s for s in samples if s.end < first_kill and s.target != "live"]
    assert before and all(s.status == 200 for s in before), "healthy before the fault"
    for target in ("users", "ready"):
        assert_recovers(samples, target, after=last_kill, within=BUDGET)
    _no_open_transactions(mariadb)


async def test_f7_mariadb_idle_drop_after_wait_timeout_is_invisible(
    mariadb: PrivateMariaDB, mariadb_app: AppProcess
) -> None:
    """F7, idle drop: with `SET GLOBAL wait_timeout = 2` the server closes every connection
    idle for 2 s. After 3 s idle, the pooled connections are gone on the server, and the next
    requests (several at once, so several pooled connections are checked out) all succeed:
    the idle ping (`DB_PING_AFTER_IDLE`) replaces the dead connections, no "MySQL server has
    gone away" 500."""
    default = mariadb.sql("SELECT @@GLOBAL.wait_timeout")
    mariadb.sql(f"SET GLOBAL wait_timeout = {IDLE_TIMEOUT}")  # for connections opened later
    statuses: list[int] = []
    try:
        app = mariadb_app
        headers = await admin_headers(app)
        # Connections opened before the change keep their old timeout: end them, so that the
        # pool opens new ones (the idle ping replaces them at checkout).
        for connection_id in await asyncio.to_thread(_app_connections, mariadb):
            with contextlib.suppress(RuntimeError):
                await asyncio.to_thread(mariadb.sql, f"KILL {connection_id}")
        async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:

            async def burst() -> list[httpx.Response]:
                answers = await asyncio.gather(
                    *(http.get(USERS, headers=headers) for _ in range(4))
                )
                statuses.extend(a.status_code for a in answers)
                return list(answers)

            # Connections just killed while in steady use are not pinged (only idle ones are,
            # DB_PING_AFTER_IDLE): as in F3, each may fail one request, with a 503, and the
            # pool then replaces them. The idle drop below must cost nothing at all.
            warm = await burst()
            assert all(a.status_code in (200, 503) for a in warm), [a.text for a in warm]
            for _ in range(3):
                if all(a.status_code == 200 for a in warm):
                    break
                warm = await burst()
            assert all(a.status_code == 200 for a in warm), [a.text for a in warm]
            for _ in range(2):  # twice: the replacements are dropped and replaced again
                pooled = set(await asyncio.to_thread(_app_connections, mariadb))
                assert pooled, "the app keeps no pooled connection"
                await asyncio.sleep(IDLE_FOR)
                # (The audit-log writers may have used one meanwhile: not all need be gone.)
                left = set(await asyncio.to_thread(_app_connections, mariadb))
                assert pooled - left, f"the server dropped no idle connection: {left}"
                after_idle = await burst()
                assert all(a.status_code == 200 for a in after_idle), [
                    f"{a.status_code} {a.text}" for a in after_idle
                ]
            ready = await http.get("/api/v1/health/ready")
            statuses.append(ready.status_code)
            assert ready.status_code == 200, ready.text
        assert "gone away" not in app.log()
    finally:
        mariadb.sql(f"SET GLOBAL wait_timeout = {int(default)}")
        fault_stats.record(
            "F7 MariaDB idle drop (wait_timeout=2)",
            requests=len(statuses),
            server_errors=sum(1 for s in statuses if s >= 500 and s not in (503, 504)),
        )
