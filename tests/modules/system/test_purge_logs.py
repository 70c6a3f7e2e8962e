"""The log purge keeps a minimum retention and is recorded like a manual clearing
(SECURITY.md §1.7 16.4.2: logs cannot be silently removed; API5).

Before: `older_than_days: 1` (or the parameter `log.retention_days` set to 1) deleted all but a
day of audit trail, and the purge left no trace in the operation log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core.database import utcnow
from app.core.jobs import JobContext
from app.modules.system.jobs import PurgeLogsArgs, purge_logs
from app.modules.system.login_log.models import LoginLog
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.param.models import Param
from app.modules.system.param.reader import invalidate
from tests.modules.scheduler.test_jobs import JOBS, wait_run
from tests.support.identity import superuser_headers

OPERATION_LOGS = "/api/v1/system/operation-logs"


def context(app: FastAPI, run_id: int = 7, requested_by: int | None = None) -> JobContext:
    return JobContext(
        run_id=run_id,
        job_id=None,
        job_name="purge",
        scheduled_at=utcnow(),
        attempt=1,
        settings=app.state.settings,
        cache=app.state.cache,
        sessionmaker=app.state.sessionmaker,
        requested_by=requested_by,
    )


async def seed_logs(app: FastAPI, ages_in_days: list[int]) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        for age in ages_in_days:
            created = utcnow() - timedelta(days=age, minutes=1)
            db.add(LoginLog(event="login", success=True, created_at=created))
            db.add(
                OperationLog(
                    method="POST",
                    path=f"/seed/{age}",
                    status_code=200,
                    success=True,
                    duration_ms=1.0,
                    created_at=created,
                )
            )
            db.add(ChangeLog(entity="user", entity_id="1", action="update", created_at=created))


async def surviving_seed_ages(app: FastAPI) -> list[int]:
    async with app.state.sessionmaker() as db:
        paths = (
            await db.execute(select(OperationLog.path).where(OperationLog.path.like("/seed/%")))
        ).scalars()
        return sorted(int(path.rsplit("/", 1)[1]) for path in paths)


async def clearings(app: FastAPI) -> list[ChangeLog]:
    async with app.state.sessionmaker() as db:
        rows = await db.execute(
            select(ChangeLog).where(ChangeLog.action == "clear").order_by(ChangeLog.entity)
        )
        return list(rows.scalars())


async def test_arguments_below_the_minimum_retention_are_raised_to_it(app: FastAPI) -> None:
    floor = app.state.settings.audit_min_retention_days
    await seed_logs(app, [2, floor - 1, floor + 1, 400])
    # A job saved before the floor was raised (or written to the table directly): the run
    # clamps instead of deleting what the floor protects.
    result = await purge_logs(context(app), PurgeLogsArgs(older_than_days=1))
    assert result["retention_days"] == floor
    assert result["operation_log"] == 2
    assert result["login_log"] == 2
    assert await surviving_seed_ages(app) == [2, floor - 1]


async def test_the_retention_parameter_cannot_go_below_the_minimum(app: FastAPI) -> None:
    """Whoever may edit parameters may not shorten the audit trail through them."""
    floor = app.state.settings.audit_min_retention_days
    async with app.state.sessionmaker() as db, db.begin():
        db.add(Param(key="log.retention_days", name="Days to keep logs", value="1"))
        await invalidate(app.state.cache, db)
    await seed_logs(app, [2, floor + 1])
    result = await purge_logs(context(app), PurgeLogsArgs())
    assert result["retention_days"] == floor
    assert await surviving_seed_ages(app) == [2]


async def test_a_purge_is_recorded_like_a_manual_clearing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await superuser_headers(app)
    await seed_logs(app, [400, 500])
    job_body: dict[str, Any] = {
        "name": "Purge",
        "target": "system.purge_logs",
        "args": {"older_than_days": 200},
        "trigger": {"type": "cron", "cron": "0 3 * * *"},
    }
    job = (await client.post(JOBS, json=job_body, headers=admin)).json()["data"]
    queued = (await client.post(f"{JOBS}/{job['id']}/run", headers=admin)).json()["data"]
    run = await wait_run(client, admin, queued["id"])
    assert run["status"] == "succeeded", run
    assert run["result"]["operation_log"] == 2

    # The purge is an entry of the operation log, attributed to who ran it, with its changes.
    listed = await client.get(OPERATION_LOGS, params={"module": "system"}, headers=admin)
    entries = [item for item in listed.json()["data"]["items"] if item["method"] == "JOB"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "purge_logs"
    assert entry["request_id"] == f"job-run-{run['id']}"
    assert entry["user_id"] == run["requested_by"]
    assert entry["path"] == f"/api/v1/scheduler/job-runs/{run['id']}"
    detail = (await client.get(f"{OPERATION_LOGS}/{entry['id']}", headers=admin)).json()["data"]
    purge_changes = {change["entity"]: change for change in detail["changes"]}
    assert set(purge_changes) == {"operation_log", "change_log", "login_log"}
    assert {c["action"] for c in purge_changes.values()} == {"clear"}
    assert purge_changes["operation_log"]["before"]["rows"] == 2
    assert purge_changes["login_log"]["before"]["rows"] == 2
    assert purge_changes["operation_log"]["before"]["created_before"] is not None

    # A manual clearing leaves the same kind of record.
    cutoff = (utcnow() - timedelta(days=300)).isoformat()
    cleared = await client.delete(OPERATION_LOGS, params={"before": cutoff}, headers=admin)
    assert cleared.status_code == 200, cleared.text
    manual = [row for row in await clearings(app) if row.request_id != entry["request_id"]]
    assert {row.entity for row in manual} == {"operation_log", "change_log"}
    assert all(set(row.before or ()) == {"created_before", "rows"} for row in manual)
    login_cleared = await client.delete("/api/v1/system/login-logs", headers=admin)
    assert login_cleared.status_code == 200
    login_rows = [row for row in await clearings(app) if row.entity == "login_log"]
    assert any(row.before == {"created_before": None, "rows": 0} for row in login_rows)
