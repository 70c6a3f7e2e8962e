"""PostgreSQL outages under load, against a private cluster and the app as a real process
(SECURITY.md §0 #16, §5.3 F1 and F4; docs/resilience.md).

The load hits an authenticated, database-backed endpoint (the user list), liveness and
readiness. The pass criteria are P1-P4 of SECURITY.md §5.3 plus P5 (no transaction left open).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.resilience.conftest import StartApp
from tests.resilience.harness import (
    BUDGET,
    RECOVERY,
    Load,
    admin_headers,
    assert_all,
    assert_fails_cleanly,
    assert_recovers,
    window,
)
from tests.support import fault_stats
from tests.support.databases import ONCE_PER_CI
from tests.support.private_services import PrivatePostgres

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

USERS = "/api/v1/system/users?page_size=5"
# Timeouts under which a frozen database fails within B: 2 x (0.3 + 1) = 2.6 s (see F4).
FROZEN_DB_TIMEOUTS = {"DB_STATEMENT_TIMEOUT": "0.3", "DB_CONNECT_TIMEOUT": "1"}
# /health/live normally answers in milliseconds; this bound only catches a blocked event loop.
LIVE_BUDGET = 0.5


def _targets(headers: dict[str, str]) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "users": (USERS, headers),
        "live": ("/api/v1/health/live", {}),
        "ready": ("/api/v1/health/ready", {}),
    }


def _no_open_transactions(postgres: PrivatePostgres) -> None:
    """P5: the app left no session `idle in transaction` behind."""
    left = postgres.psql(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'fastapiadmin' AND state LIKE 'idle in transaction%'"
    )
    assert left == "0", f"{left} sessions idle in transaction"


async def test_f1_postgres_stopped_mid_load_answers_503_and_recovers(
    postgres: PrivatePostgres, app_database: str, start_app: StartApp
) -> None:
    """F1: `pg_ctl stop -m fast` under load, ~3 s down, started again; the app is not restarted."""
    app = await start_app(app_database, RATE_LIMIT_ENABLED="false")
    headers = await admin_headers(app)
    async with Load(app.base, _targets(headers)) as load:
        await asyncio.sleep(1.0)
        stopping = load.now()
        await asyncio.to_thread(postgres.stop, "fast")
        down = load.now()
        await asyncio.sleep(3)
        starting = load.now()
        await asyncio.to_thread(postgres.start)
        up = load.now()
        await load.first_success("users", after=up, within=RECOVERY + 3)
        await asyncio.sleep(0.5)
    samples = load.samples
    fault_stats.record_samples("F1 PostgreSQL stopped mid-load", samples)

    assert_fails_cleanly(samples, budget=BUDGET)
    assert_all(load.of("live"), 200, "liveness must not depend on the database")
    before = [s for s in samples if s.end < stopping and s.target != "live"]
    assert before and all(s.status == 200 for s in before), "healthy before the fault"
    for target in ("users", "ready"):
        during = window(samples, target, down, starting)
        assert_all(during, 503, f"{target} while the database was down")
        assert_recovers(samples, target, after=up)
    _no_open_transactions(postgres)


async def test_f4_postgres_frozen_answers_503_within_budget_and_recovers(
    postgres: PrivatePostgres, app_database: str, start_app: StartApp
) -> None:
    """F4: every PostgreSQL process SIGSTOPped for ~5 s, then SIGCONT.

    A frozen server accepts TCP connections and never answers, so only the timeouts end a
    request: on a pooled connection the client-side guard G = `DB_STATEMENT_TIMEOUT` + 1 s,
    then SQLAlchemy's graceful close of the dead connection (up to min(G, 2 s)); on a new one
    `DB_CONNECT_TIMEOUT`. The settings here make that fit the budget B = 3 s; with the defaults
    a request waits up to 16 + 2 = 18 s (docs/resilience.md).
    """
    app = await start_app(app_database, RATE_LIMIT_ENABLED="false", **FROZEN_DB_TIMEOUTS)
    headers = await admin_headers(app)
    async with Load(app.base, _targets(headers)) as load:
        await asyncio.sleep(1.0)
        frozen = load.now()
        postgres.freeze()
        try:
            await asyncio.sleep(5)
        finally:
            thawing = load.now()
            postgres.thaw()
        thawed = load.now()
        await load.first_success("users", after=thawed, within=RECOVERY + 3)
        await asyncio.sleep(0.5)
    samples = load.samples
    fault_stats.record_samples("F4 PostgreSQL frozen", samples)

    assert_fails_cleanly(samples, budget=BUDGET)
    live = load.of("live")
    assert_all(live, 200, "liveness must not depend on the database")
    slowest = max(s.latency for s in live)
    assert slowest <= LIVE_BUDGET, f"/health/live took {slowest:.2f}s: the event loop was blocked"
    for target in ("users", "ready"):
        during = window(samples, target, frozen, thawing)
        assert_all(during, 503, f"{target} while the database was frozen")
        assert_recovers(samples, target, after=thawed)
    _no_open_transactions(postgres)
