"""Scheduled jobs over HTTP: validation, built-in rules, pause/resume, run now, run history."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.modules.scheduler.bootstrap import load_initial_data
from app.modules.scheduler.models import JobRun
from tests.support.identity import holder_headers, superuser_headers
from tests.support.scheduler_plugin import CALLS

JOBS = "/api/v1/scheduler/jobs"
RUNS = "/api/v1/scheduler/job-runs"


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Nightly thing",
        "target": "testjobs.behave",
        "args": {"key": "api"},
        "trigger": {"type": "cron", "cron": "0 2 * * *"},
        "timezone": "Europe/Paris",
    }
    body.update(overrides)
    return body


@pytest.fixture
async def admin(app: FastAPI) -> dict[str, str]:
    return await superuser_headers(app)


async def wait_run(
    client: httpx.AsyncClient, headers: dict[str, str], run_id: int, *, timeout: float = 10
) -> dict[str, Any]:
    """Poll a run until it ends (the in-process worker executes it in the test's loop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run: dict[str, Any] = (await client.get(f"{RUNS}/{run_id}", headers=headers)).json()["data"]
        if run["status"] not in ("queued", "running"):
            return run
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"run {run_id} still {run['status']}")
        await asyncio.sleep(0.05)


def field_of(response: httpx.Response) -> str:
    errors: list[dict[str, Any]] = response.json()["errors"]
    return str(errors[0]["field"])


async def test_create_cron_job_computes_next_run_in_its_time_zone(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(JOBS, json=job_body(), headers=admin)
    assert response.status_code == 201, response.text
    job = response.json()["data"]
    assert job["trigger"] == {"type": "cron", "cron": "0 2 * * *"}
    assert job["status"] == "active"
    next_run = datetime.fromisoformat(job["next_run_at"])
    # 02:00 in Paris is 00:00 or 01:00 UTC depending on daylight saving time.
    assert next_run.astimezone(UTC).hour in (0, 1)
    assert next_run > datetime.now(UTC)
    assert job["args"] == {"key": "api"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target": "os.system"}, "target"),
        ({"target": "testjobs.nope"}, "target"),
        ({"args": {"sleep_seconds": "long"}}, "args.sleep_seconds"),
        ({"args": {"unexpected": 1}}, "args.unexpected"),
        ({"trigger": {"type": "cron", "cron": "99 * * * *"}}, "trigger.cron"),
        ({"trigger": {"type": "cron", "cron": "* * * *"}}, "trigger.cron"),
        ({"trigger": {"type": "interval", "seconds": 0}}, "trigger.seconds"),
        ({"trigger": {"type": "date", "run_at": "2020-01-01T00:00:00Z"}}, "trigger.run_at"),
        ({"trigger": {"type": "date", "run_at": "2030-01-01T00:00:00"}}, "trigger.run_at"),
        ({"trigger": {"type": "shell", "cmd": "rm -rf /"}}, "trigger"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"misfire_policy": "run_all"}, "misfire_policy"),
        ({"args": {"key": "x" * 20_000}}, "args"),
        # Lone surrogates (found by API fuzzing: a 500 on PostgreSQL and MariaDB).
        ({"args": {"\ud9de": 1}}, "args"),
        ({"args": {"key": "\ud9de"}}, "args"),
    ],
)
async def test_invalid_jobs_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    overrides: dict[str, Any],
    field: str,
) -> None:
    """Never code strings or import paths: only registered targets (docs/security-checklist.md
    §1.4)."""
    # json.dumps escapes what UTF-8 cannot carry (`\ud9de`), as a client's encoder would.
    body = json.dumps(job_body(**overrides)).encode()
    headers = {**admin, "Content-Type": "application/json"}
    response = await client.post(JOBS, content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field_of(response).startswith(field)
    assert (await client.get(JOBS, headers=admin)).json()["data"]["total"] == 0


async def test_duplicate_name_is_409_and_stale_version_is_409(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    job = (await client.post(JOBS, json=job_body(), headers=admin)).json()["data"]
    again = await client.post(JOBS, json=job_body(), headers=admin)
    assert again.status_code == 409
    assert field_of(again) == "name"

    first = await client.patch(
        f"{JOBS}/{job['id']}",
        json={"timeout_seconds": 30, "version": job["version"]},
        headers=admin,
    )
    assert first.status_code == 200
    assert first.json()["data"]["version"] == job["version"] + 1
    stale = await client.patch(
        f"{JOBS}/{job['id']}",
        json={"timeout_seconds": 60, "version": job["version"]},
        headers=admin,
    )
    assert stale.status_code == 409  # docs/security-checklist.md §0 #19
    assert (await client.get(f"{JOBS}/{job['id']}", headers=admin)).json()["data"][
        "timeout_seconds"
    ] == 30


async def test_update_trigger_recomputes_next_run(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    job = (await client.post(JOBS, json=job_body(), headers=admin)).json()["data"]
    response = await client.patch(
        f"{JOBS}/{job['id']}", json={"trigger": {"type": "interval", "seconds": 30}}, headers=admin
    )
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["trigger"]["type"] == "interval"
    assert updated["trigger"]["seconds"] == 30
    next_run = datetime.fromisoformat(updated["next_run_at"])
    assert datetime.now(UTC) <= next_run <= datetime.now(UTC) + timedelta(seconds=31)
    bad = await client.patch(f"{JOBS}/{job['id']}", json={"name": None}, headers=admin)
    assert bad.status_code == 422


async def test_pause_and_resume(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    job = (await client.post(JOBS, json=job_body(), headers=admin)).json()["data"]
    paused = (await client.post(f"{JOBS}/{job['id']}/pause", headers=admin)).json()["data"]
    assert paused["status"] == "paused"
    assert paused["next_run_at"] is None
    listed = (await client.get(JOBS, params={"status": "paused"}, headers=admin)).json()["data"]
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    resumed = (await client.post(f"{JOBS}/{job['id']}/resume", headers=admin)).json()["data"]
    assert resumed["status"] == "active"
    assert resumed["next_run_at"] == job["next_run_at"]


async def test_built_in_jobs_keep_name_and_target_and_cannot_be_deleted(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, app.state.settings)
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, app.state.settings)  # idempotent
    jobs = (await client.get(JOBS, params={"built_in": True}, headers=admin)).json()["data"]
    assert jobs["total"] == 3
    names = {job["target"] for job in jobs["items"]}
    assert names == {"system.purge_logs", "scheduler.reap_stale_runs", "scheduler.purge_runs"}
    job = jobs["items"][0]
    rename = await client.patch(f"{JOBS}/{job['id']}", json={"name": "Mine"}, headers=admin)
    assert rename.status_code == 409
    assert field_of(rename) == "name"
    retarget = await client.patch(
        f"{JOBS}/{job['id']}", json={"target": "testjobs.behave"}, headers=admin
    )
    assert retarget.status_code == 409
    assert (await client.delete(f"{JOBS}/{job['id']}", headers=admin)).status_code == 409
    assert (await client.post(f"{JOBS}/{job['id']}/pause", headers=admin)).status_code == 200


async def test_run_now_executes_and_records_the_run(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    job = (
        await client.post(
            JOBS, json=job_body(args={"key": "run-now"}, status="paused"), headers=admin
        )
    ).json()["data"]
    response = await client.post(f"{JOBS}/{job['id']}/run", headers=admin)
    assert response.status_code == 202, response.text
    queued = response.json()["data"]
    assert queued["trigger"] == "manual"
    assert queued["status"] in ("queued", "running", "succeeded")
    run = await wait_run(client, admin, queued["id"])
    assert run["status"] == "succeeded"
    assert run["result"] == {"attempt": 1}
    assert run["attempts"] == 1
    assert run["host"]
    assert run["pid"]
    assert run["duration_ms"] is not None
    assert run["requested_by"] is not None
    assert ("run-now", run["id"], 1) in CALLS
    history = (await client.get(RUNS, params={"job_id": job["id"]}, headers=admin)).json()
    assert [item["id"] for item in history["data"]["items"]] == [run["id"]]


async def test_failed_run_records_the_error_after_retries(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    job = (
        await client.post(
            JOBS,
            json=job_body(
                args={"key": "fails", "fail_times": 5}, max_retries=2, retry_backoff_seconds=1
            ),
            headers=admin,
        )
    ).json()["data"]
    queued = (await client.post(f"{JOBS}/{job['id']}/run", headers=admin)).json()["data"]
    run = await wait_run(client, admin, queued["id"], timeout=15)
    assert run["status"] == "failed"
    assert run["attempts"] == 3
    assert "planned failure 3" in run["error"]
    failed = (await client.get(RUNS, params={"status": "failed"}, headers=admin)).json()["data"]
    assert failed["total"] == 1


async def test_deleting_a_job_keeps_its_history(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    job = (await client.post(JOBS, json=job_body(), headers=admin)).json()["data"]
    queued = (await client.post(f"{JOBS}/{job['id']}/run", headers=admin)).json()["data"]
    await wait_run(client, admin, queued["id"])
    assert (await client.delete(f"{JOBS}/{job['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{JOBS}/{job['id']}", headers=admin)).status_code == 404
    async with app.state.sessionmaker() as db:
        run = await db.get(JobRun, queued["id"])
    assert run is not None
    assert run.job_id is None
    assert run.job_name == "Nightly thing"


async def test_targets_lists_registered_targets_with_their_schema(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/api/v1/scheduler/targets", headers=admin)
    assert response.status_code == 200
    targets = {target["name"]: target for target in response.json()["data"]}
    assert {"system.purge_logs", "scheduler.reap_stale_runs", "testjobs.behave"} <= set(targets)
    assert "older_than_days" in targets["system.purge_logs"]["args_schema"]["properties"]


async def test_permissions_are_enforced(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Reading jobs does not allow running or changing them (docs/security-checklist.md §1.3,
    API5)."""
    assert (await client.get(JOBS)).status_code == 401
    reader = await holder_headers(app, ["scheduler:job:list", "scheduler:job:read"])
    assert (await client.get(JOBS, headers=reader)).status_code == 200
    assert (await client.post(JOBS, json=job_body(), headers=reader)).status_code == 403
    assert (await client.post(f"{JOBS}/1/run", headers=reader)).status_code == 403
    assert (await client.post(f"{JOBS}/1/pause", headers=reader)).status_code == 403
    assert (await client.get(RUNS, headers=reader)).status_code == 403
