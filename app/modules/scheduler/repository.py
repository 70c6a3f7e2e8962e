"""All SQL of the scheduler: jobs, runs, and the atomic steps that keep runs exactly-once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Select, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.scheduler.models import Job, JobRun

# Statuses of a run that has ended.
FINISHED = ("succeeded", "failed", "timed_out", "skipped", "missed", "lost", "interrupted")

# ------------------------------------------------------------------------------ jobs --


def jobs_statement(
    *,
    name: str | None = None,
    target: str | None = None,
    status: str | None = None,
    built_in: bool | None = None,
) -> Select[Any]:
    statement = select(Job)
    if name:
        statement = statement.where(Job.name.icontains(name, autoescape=True))
    if target:
        statement = statement.where(Job.target == target)
    if status:
        statement = statement.where(Job.status == status)
    if built_in is not None:
        statement = statement.where(Job.built_in == built_in)
    return statement


async def get_job(db: AsyncSession, job_id: int) -> Job | None:
    return await db.get(Job, job_id)


async def get_job_by_name(db: AsyncSession, name: str) -> Job | None:
    return (await db.execute(select(Job).where(Job.name == name))).scalar_one_or_none()


async def name_taken(db: AsyncSession, name: str, *, exclude_id: int | None = None) -> bool:
    condition = Job.name == name
    if exclude_id is not None:
        condition = condition & (Job.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def add(db: AsyncSession, row: Job | JobRun) -> None:
    db.add(row)
    await db.flush()


async def delete_job(db: AsyncSession, job: Job) -> None:
    await db.delete(job)
    await db.flush()


async def due_jobs(db: AsyncSession, now: datetime, limit: int) -> Sequence[Job]:
    statement = (
        select(Job)
        .where(Job.status == "active", Job.next_run_at.is_not(None), Job.next_run_at <= now)
        .order_by(Job.next_run_at, Job.id)
        .limit(limit)
    )
    return (await db.execute(statement)).scalars().all()


async def advance(
    db: AsyncSession, job_id: int, fired: datetime, next_run_at: datetime | None
) -> bool:
    """Move a job past the fire time `fired`, only if nobody else did (compare and set).

    A plain UPDATE, so the row's `version` (the operators' optimistic lock) does not move:
    the scheduler ticking must not turn an operator's edit into a conflict.
    """
    result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
        update(Job)
        .where(Job.id == job_id, Job.next_run_at == fired)
        .values(next_run_at=next_run_at, last_fired_at=fired)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# ------------------------------------------------------------------------------ runs --


def runs_statement(
    *,
    job_id: int | None = None,
    job_name: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    scheduled_from: datetime | None = None,
    scheduled_to: datetime | None = None,
) -> Select[Any]:
    statement = select(JobRun)
    if job_id is not None:
        statement = statement.where(JobRun.job_id == job_id)
    if job_name:
        statement = statement.where(JobRun.job_name.icontains(job_name, autoescape=True))
    if status:
        statement = statement.where(JobRun.status == status)
    if trigger:
        statement = statement.where(JobRun.trigger == trigger)
    if scheduled_from is not None:
        statement = statement.where(JobRun.scheduled_at >= scheduled_from)
    if scheduled_to is not None:
        statement = statement.where(JobRun.scheduled_at < scheduled_to)
    return statement


async def get_run(db: AsyncSession, run_id: int) -> JobRun | None:
    return await db.get(JobRun, run_id)


async def claim_run(db: AsyncSession, run_id: int, *, now: datetime, host: str, pid: int) -> bool:
    """queued -> running, atomically: of two workers handed the same run, one gets it."""
    result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, host=host, pid=pid)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def heartbeat(db: AsyncSession, run_id: int, now: datetime) -> None:
    await db.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == "running")
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )


async def finish_run(db: AsyncSession, run_id: int, **values: Any) -> bool:
    """running -> a final status; False if the run was already ended (e.g. reaped)."""
    result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status.in_(("queued", "running")))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def reap(
    db: AsyncSession, *, now: datetime, beat_before: datetime, queued_before: datetime
) -> int:
    """Mark runs whose worker stopped beating, or that nobody picked up, as lost."""
    result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
        update(JobRun)
        .where(
            or_(
                and_(JobRun.status == "running", JobRun.heartbeat_at < beat_before),
                and_(JobRun.status == "queued", JobRun.created_at < queued_before),
            )
        )
        .values(
            status="lost",
            finished_at=now,
            error="The worker stopped responding, or no worker picked the run up in time.",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def purge_runs(db: AsyncSession, before: datetime) -> int:
    result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
        delete(JobRun)
        .where(JobRun.created_at < before, JobRun.status.in_(FINISHED))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)
