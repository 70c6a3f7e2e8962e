"""PostgreSQL outages under load, against a private cluster and the app as a real process
(docs/security-checklist.md §0 #16, §5.3 F1 and F4; docs/resilience.md).

The load hits an authenticated, database-backed endpoint (the user list), liveness and
readiness (`database_outage_under_load` in harness.py, shared with MariaDB's F7). The pass
criteria are P1-P4 of docs/security-checklist.md §5.3 plus P5 (no transaction left open).
"""

from __future__ import annotations

import pytest

from tests.resilience.conftest import StartApp
from tests.resilience.harness import FROZEN_DB_TIMEOUTS, database_outage_under_load
from tests.support.databases import ONCE_PER_CI
from tests.support.private_services import PrivatePostgres

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

# /health/live normally answers in milliseconds; this bound only catches a blocked event loop.
LIVE_BUDGET = 0.5


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
    await database_outage_under_load(
        app,
        "F1 PostgreSQL stopped mid-load",
        break_=lambda: postgres.stop("fast"),
        repair=postgres.start,
        hold=3,
    )
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
    outage = await database_outage_under_load(
        app,
        "F4 PostgreSQL frozen",
        break_=postgres.freeze,
        repair=postgres.thaw,
        hold=5,
        state="frozen",
    )
    slowest = outage.live_worst_latency
    assert slowest <= LIVE_BUDGET, f"/health/live took {slowest:.2f}s: the event loop was blocked"
    _no_open_transactions(postgres)
