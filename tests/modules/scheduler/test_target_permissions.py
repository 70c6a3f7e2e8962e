"""Job targets declare the permissions they need; creating, editing and running a job of such a
target needs them, besides the scheduler's own (SECURITY.md §2 API5, ASVS 8.2.1 and 16.4.2).

Before: a user with only scheduler rights created (or edited the built-in) `system.purge_logs`
job with `older_than_days: 1` and ran it, deleting the audit trail that
`DELETE /operation-logs` refused them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import func, select

from app.core.access import registry as permission_registry
from app.core.jobs import JobContext, TargetRegistry, targets
from app.modules.scheduler.bootstrap import load_initial_data
from app.modules.scheduler.models import JobRun
from tests.modules.scheduler.test_jobs import JOBS, field_of, wait_run
from tests.support.identity import holder_headers, superuser_headers

SCHEDULER_ONLY = [
    "scheduler:job:list",
    "scheduler:job:read",
    "scheduler:job:create",
    "scheduler:job:update",
    "scheduler:job:run",
    "scheduler:run:read",
]
LOG_CLEAR = ["system:operation-log:clear", "system:login-log:clear"]


def purge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Purge everything",
        "target": "system.purge_logs",
        "args": {"older_than_days": 1},
        "trigger": {"type": "cron", "cron": "* * * * *"},
    }
    body.update(overrides)
    return body


async def run_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(JobRun))).scalar_one())


async def built_in_purge_job(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, app.state.settings)
    admin = await superuser_headers(app)
    listed = await client.get(JOBS, params={"target": "system.purge_logs"}, headers=admin)
    job: dict[str, Any] = listed.json()["data"]["items"][0]
    return job


async def test_scheduler_rights_alone_cannot_create_a_purge_job(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    scheduler_user = await holder_headers(app, SCHEDULER_ONLY)
    response = await client.post(JOBS, json=purge_body(), headers=scheduler_user)
    assert response.status_code == 403, response.text
    assert field_of(response) == "target"
    assert "system:operation-log:clear" in response.json()["errors"][0]["message"]
    admin = await superuser_headers(app)
    assert (await client.get(JOBS, headers=admin)).json()["data"]["total"] == 0
    # The same user may still schedule targets that declare nothing.
    harmless = purge_body(name="Harmless", target="testjobs.behave", args={})
    assert (await client.post(JOBS, json=harmless, headers=scheduler_user)).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        {"args": {"older_than_days": 1}},
        {"args": {}},
        {"trigger": {"type": "interval", "seconds": 60}},
        {"timeout_seconds": 10},
    ],
)
async def test_scheduler_rights_alone_cannot_edit_the_built_in_purge_job(
    app: FastAPI, client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    job = await built_in_purge_job(app, client)
    scheduler_user = await holder_headers(app, SCHEDULER_ONLY)
    response = await client.patch(f"{JOBS}/{job['id']}", json=change, headers=scheduler_user)
    assert response.status_code == 403, response.text
    admin = await superuser_headers(app)
    after = (await client.get(f"{JOBS}/{job['id']}", headers=admin)).json()["data"]
    assert after["version"] == job["version"]
    assert after["args"] == job["args"]


async def test_scheduler_rights_alone_cannot_run_the_purge_job(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    job = await built_in_purge_job(app, client)
    scheduler_user = await holder_headers(app, SCHEDULER_ONLY)
    response = await client.post(f"{JOBS}/{job['id']}/run", headers=scheduler_user)
    assert response.status_code == 403, response.text
    assert await run_count(app) == 0


async def test_a_job_cannot_be_retargeted_away_from_or_onto_a_guarded_target(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await superuser_headers(app)
    scheduler_user = await holder_headers(app, SCHEDULER_ONLY)
    mine = purge_body(name="Mine", target="testjobs.behave", args={})
    job = (await client.post(JOBS, json=mine, headers=scheduler_user)).json()["data"]
    onto = await client.patch(
        f"{JOBS}/{job['id']}",
        json={"target": "system.purge_logs", "args": {"older_than_days": 40}},
        headers=scheduler_user,
    )
    assert onto.status_code == 403, onto.text
    guarded = purge_body(name="Guarded", args={"older_than_days": 40})
    theirs = (await client.post(JOBS, json=guarded, headers=admin)).json()["data"]
    away = await client.patch(
        f"{JOBS}/{theirs['id']}",
        json={"target": "testjobs.behave", "args": {}},
        headers=scheduler_user,
    )
    assert away.status_code == 403, away.text


@pytest.mark.parametrize("grants", [LOG_CLEAR, ["system:*"]])
async def test_holders_of_the_declared_permissions_may_schedule_and_run_it(
    app: FastAPI, client: httpx.AsyncClient, grants: list[str]
) -> None:
    operator = await holder_headers(app, [*SCHEDULER_ONLY, *grants])
    too_short = await client.post(JOBS, json=purge_body(), headers=operator)
    assert too_short.status_code == 422, too_short.text  # below AUDIT_MIN_RETENTION_DAYS
    assert field_of(too_short) == "args.older_than_days"
    body = purge_body(args={"older_than_days": app.state.settings.audit_min_retention_days})
    created = await client.post(JOBS, json=body, headers=operator)
    assert created.status_code == 201, created.text
    job = created.json()["data"]
    queued = await client.post(f"{JOBS}/{job['id']}/run", headers=operator)
    assert queued.status_code == 202, queued.text
    run = await wait_run(client, operator, queued.json()["data"]["id"])
    assert run["status"] == "succeeded", run


async def test_targets_show_the_permissions_they_need(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await superuser_headers(app)
    listed = (await client.get("/api/v1/scheduler/targets", headers=admin)).json()["data"]
    by_name = {target["name"]: target for target in listed}
    assert by_name["system.purge_logs"]["permissions"] == sorted(LOG_CLEAR)
    assert by_name["testjobs.behave"]["permissions"] == []


def test_every_declared_target_permission_is_a_known_permission_code() -> None:
    """A typo in `permissions=` would make the target unusable for everyone but superusers."""
    for target in targets.all():
        for code in target.permissions:
            assert code in permission_registry, (target.name, code)


def test_registering_a_malformed_permission_code_fails() -> None:
    registry = TargetRegistry()

    async def func(ctx: JobContext, args: BaseModel) -> None:
        return None

    with pytest.raises(ValueError, match="module:resource:action"):
        registry.register("demo.thing", permissions=["delete everything"])(func)
    registry.register("demo.thing", permissions=["demo:thing:run"])(func)
    target = registry.get("demo.thing")
    assert target is not None
    assert target.permissions == frozenset({"demo:thing:run"})
