"""The scheduler engine in one process: leader lease, exactly-once firing, misfires, the runner
(claim, one run per job at a time, timeout, interruption) and the built-in jobs.

The two-process proof (real processes, SIGKILL of the leader) is in
tests/modules/scheduler/test_multi_process.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import MemoryCache
from app.core.database import utcnow
from app.core.jobs import JobContext
from app.modules.scheduler.jobs import ReapArgs, reap_stale_runs
from app.modules.scheduler.leader import Leader
from app.modules.scheduler.lifespan import Scheduler
from app.modules.scheduler.models import Job, JobRun
from app.modules.scheduler.runner import Runner
from app.modules.system.jobs import PurgeLogsArgs, purge_logs
from app.modules.system.login_log.models import LoginLog
from app.modules.system.operation_log.models import OperationLog
from tests.support.scheduler_plugin import CALLS


def scheduler_of(app: FastAPI) -> Scheduler:
    scheduler: Scheduler = app.state.scheduler
    return scheduler


def leader_for(app: FastAPI, cache: Any = None) -> Leader:
    scheduler = scheduler_of(app)
    return Leader(
        app.state.settings, cache or app.state.cache, app.state.sessionmaker, scheduler.queue
    )


async def make_job(app: FastAPI, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "name": f"job-{len(CALLS)}-{utcnow().timestamp()}",
        "target": "testjobs.behave",
        "args": {"key": "engine"},
        "trigger_type": "interval",
        "interval_seconds": 60,
        "start_at": utcnow() - timedelta(hours=1),
        "next_run_at": utcnow() - timedelta(seconds=1),
        "timeout_seconds": 30,
    }
    values.update(fields)
    values["args"] = orjson.dumps(values["args"]).decode()
    async with app.state.sessionmaker() as db, db.begin():
        job = Job(**values)
        db.add(job)
    return job


async def runs_of(app: FastAPI, job_id: int) -> list[JobRun]:
    async with app.state.sessionmaker() as db:
        statement = select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)
        return list((await db.execute(statement)).scalars())


async def reload(app: FastAPI, job: Job) -> Job:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with sessionmaker() as db:
        fresh = await db.get(Job, job.id)
    assert fresh is not None
    return fresh


async def wait_ended(
    app: FastAPI, job_id: int, count: int = 1, timeout: float = 10
) -> list[JobRun]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        runs = await runs_of(app, job_id)
        if len(runs) >= count and all(r.status not in ("queued", "running") for r in runs):
            return runs
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"runs did not end: {[(r.id, r.status) for r in runs]}")
        await asyncio.sleep(0.05)


async def test_a_due_job_fires_once_and_moves_to_its_next_tick(app: FastAPI) -> None:
    job = await make_job(app, args={"key": "fires-once"})
    leader = leader_for(app)
    try:
        assert await leader.tick() == 1
        assert await leader.tick() == 0  # nothing due until the next tick
    finally:
        await leader.lease.release()
    runs = await wait_ended(app, job.id)
    assert [run.status for run in runs] == ["succeeded"]
    assert runs[0].scheduled_at == job.next_run_at
    fresh = await reload(app, job)
    assert fresh.next_run_at is not None
    assert fresh.next_run_at > utcnow()
    assert fresh.last_fired_at == job.next_run_at
    assert fresh.version == job.version  # ticking never conflicts with an operator's edit


async def test_one_lease_holder_at_a_time(app: FastAPI) -> None:
    first, second = leader_for(app), leader_for(app)
    assert await first.lease.hold()
    assert not await second.lease.hold()
    assert await first.lease.hold()  # renewal
    await first.lease.release()
    assert await second.lease.hold()  # released at shutdown: taken over at once
    await second.lease.release()


async def test_two_leaders_at_once_still_record_each_fire_time_once(app: FastAPI) -> None:
    """Split brain (each with its own lease store) cannot run a fire time twice (§6)."""
    job = await make_job(app, args={"key": "split-brain"})
    one = leader_for(app, MemoryCache(prefix="a:"))
    two = leader_for(app, MemoryCache(prefix="b:"))
    queued = await asyncio.gather(one.tick(), two.tick())
    assert sum(queued) == 1
    runs = await wait_ended(app, job.id)
    assert len(runs) == 1
    assert len([call for call in CALLS if call[1] == runs[0].id]) == 1


async def test_missed_ticks_coalesce_into_one_run(app: FastAPI) -> None:
    """F22: down across several ticks, then up: one catch-up run, not one per missed tick."""
    now = utcnow()
    job = await make_job(
        app,
        args={"key": "coalesce"},
        interval_seconds=2,
        start_at=now - timedelta(seconds=60),
        next_run_at=now - timedelta(seconds=7),
    )
    leader = leader_for(app)
    try:
        assert await leader.tick() == 1
        assert await leader.tick() == 0
    finally:
        await leader.lease.release()
    runs = await wait_ended(app, job.id)
    assert len(runs) == 1
    fresh = await reload(app, job)
    assert fresh.next_run_at is not None
    assert fresh.next_run_at > now


async def test_skip_policy_records_a_missed_run_and_runs_nothing(app: FastAPI) -> None:
    job = await make_job(
        app,
        args={"key": "skipped-misfire"},
        misfire_policy="skip",
        misfire_grace_seconds=1,
        next_run_at=utcnow() - timedelta(seconds=30),
    )
    leader = leader_for(app)
    try:
        assert await leader.tick() == 0
    finally:
        await leader.lease.release()
    runs = await runs_of(app, job.id)
    assert [run.status for run in runs] == ["missed"]
    assert "Missed by" in (runs[0].error or "")
    assert not [call for call in CALLS if call[0] == "skipped-misfire"]


async def test_paused_and_finished_jobs_do_not_fire(app: FastAPI) -> None:
    paused = await make_job(app, status="paused")
    done = await make_job(app, next_run_at=None)
    leader = leader_for(app)
    try:
        assert await leader.tick() == 0
    finally:
        await leader.lease.release()
    assert await runs_of(app, paused.id) == []
    assert await runs_of(app, done.id) == []


async def test_a_date_job_fires_once_then_has_no_next_run(app: FastAPI) -> None:
    at = utcnow() - timedelta(seconds=1)
    job = await make_job(app, trigger_type="date", run_at=at, interval_seconds=None, next_run_at=at)
    leader = leader_for(app)
    try:
        assert await leader.tick() == 1
    finally:
        await leader.lease.release()
    await wait_ended(app, job.id)
    assert (await reload(app, job)).next_run_at is None


async def queue_run(app: FastAPI, job: Job, at: datetime | None = None) -> int:
    async with app.state.sessionmaker() as db, db.begin():
        run = JobRun(
            job_id=job.id,
            job_name=job.name,
            target=job.target,
            trigger="manual",
            scheduled_at=at or utcnow(),
            status="queued",
            attempts=0,
        )
        db.add(run)
        await db.flush()
        return run.id


async def test_a_run_delivered_twice_executes_once(app: FastAPI) -> None:
    job = await make_job(app, args={"key": "twice"}, next_run_at=None)
    run_id = await queue_run(app, job)
    runner = scheduler_of(app).runner
    await asyncio.gather(runner.execute(run_id), runner.execute(run_id))
    assert len([call for call in CALLS if call[1] == run_id]) == 1
    assert [run.status for run in await runs_of(app, job.id)] == ["succeeded"]


async def test_one_run_of_a_job_at_a_time(app: FastAPI) -> None:
    """The second run finds the job's lock held and is skipped (SECURITY.md 15.4.2)."""
    job = await make_job(app, args={"key": "overlap", "sleep_seconds": 0.5}, next_run_at=None)
    first = await queue_run(app, job)
    second = await queue_run(app, job, utcnow() + timedelta(milliseconds=1))
    runner = scheduler_of(app).runner
    await asyncio.gather(runner.execute(first), runner.execute(second))
    statuses = sorted(run.status for run in await runs_of(app, job.id))
    assert statuses == ["skipped", "succeeded"]


async def test_a_run_over_its_timeout_is_timed_out(app: FastAPI) -> None:
    job = await make_job(
        app, args={"key": "slow", "sleep_seconds": 5}, timeout_seconds=1, next_run_at=None
    )
    run_id = await queue_run(app, job)
    await scheduler_of(app).runner.execute(run_id)
    (run,) = await runs_of(app, job.id)
    assert run.status == "timed_out"
    assert run.duration_ms is not None
    assert 900 <= run.duration_ms < 5000


async def test_stopping_interrupts_runs_past_the_grace(app: FastAPI) -> None:
    job = await make_job(app, args={"key": "long", "sleep_seconds": 10}, next_run_at=None)
    run_id = await queue_run(app, job)
    runner = Runner(
        app.state.settings,
        app.state.cache,
        app.state.sessionmaker,
        frozenset({"testjobs", "scheduler", "system"}),
    )
    task = asyncio.create_task(runner.execute(run_id))
    while not [call for call in CALLS if call[1] == run_id]:
        await asyncio.sleep(0.02)
    await runner.drain(0.2)
    assert task.done()
    (run,) = await runs_of(app, job.id)
    assert run.status == "interrupted"
    # A stopping runner takes nothing new: the run stays queued for another worker.
    other = await queue_run(app, job, utcnow() + timedelta(seconds=1))
    await runner.execute(other)
    assert [r.status for r in await runs_of(app, job.id) if r.id == other] == ["queued"]


def context(app: FastAPI) -> JobContext:
    return JobContext(
        run_id=0,
        job_id=None,
        job_name="test",
        scheduled_at=utcnow(),
        attempt=1,
        settings=app.state.settings,
        cache=app.state.cache,
        sessionmaker=app.state.sessionmaker,
    )


async def test_the_reaper_ends_runs_of_dead_workers(app: FastAPI) -> None:
    """F12 / §6: a run whose worker died is never `running` forever."""
    job = await make_job(app, next_run_at=None)
    old = utcnow() - timedelta(hours=2)
    async with app.state.sessionmaker() as db, db.begin():
        for index, (status, beat, created) in enumerate(
            [
                ("running", old, old),  # dead worker
                ("running", utcnow(), old),  # alive
                ("queued", None, old),  # nobody took it
                ("queued", None, utcnow()),  # just queued
            ]
        ):
            db.add(
                JobRun(
                    job_id=job.id,
                    job_name=job.name,
                    target=job.target,
                    trigger="schedule",
                    scheduled_at=created + timedelta(seconds=index),
                    status=status,
                    attempts=0,
                    heartbeat_at=beat,
                    created_at=created,
                )
            )
    result = await reap_stale_runs(context(app), ReapArgs())
    assert result == {"reaped": 2}
    statuses = sorted(run.status for run in await runs_of(app, job.id))
    assert statuses == ["lost", "lost", "queued", "running"]


async def test_purge_logs_keeps_the_retention_window(app: FastAPI) -> None:
    old = datetime.now(UTC) - timedelta(days=200)
    async with app.state.sessionmaker() as db, db.begin():
        for created in (old, utcnow()):
            db.add(LoginLog(event="login", success=True, created_at=created))
            db.add(
                OperationLog(
                    method="POST",
                    path="/x",
                    status_code=200,
                    success=True,
                    duration_ms=1.0,
                    created_at=created,
                )
            )
    result = await purge_logs(context(app), PurgeLogsArgs())
    assert result["retention_days"] == 180
    assert result["login_log"] == 1
    assert result["operation_log"] == 1
    async with app.state.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(LoginLog))).scalar() == 1
        methods = (await db.execute(select(OperationLog.method))).scalars().all()
    # The recent row, and the purge's own entry (tests/modules/system/test_purge_logs.py).
    assert sorted(methods) == ["JOB", "POST"]
