"""Business rules of scheduled jobs.

- A job's target must be registered by an enabled module; its `args` must validate against
  the target's model (422 naming `args.<field>`); cron lines and time zones are checked by
  APScheduler and zoneinfo (422 naming `trigger.cron` / `timezone`).
- A target may declare permission codes (`@job_target(permissions=...)`): creating, editing
  and running a job of it needs them all (403), besides the scheduler's own permission, since
  the scheduled fire runs as the system. Editing checks the target before and after the edit.
- Names are unique. Built-in jobs (made by `init`) keep their name and target and cannot be
  deleted; their schedule, arguments and limits can change, and they can be paused.
- Saving recomputes `next_run_at` from now; pausing clears it, resuming recomputes it (a
  paused job does not catch up on what it missed while paused).
- Run now records a `manual` run and queues it once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.concurrency import check_version, versioned_flush
from app.core.database import after_commit, utcnow
from app.core.jobs import JobTarget
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.core.validation import field_path, human_message
from app.modules.scheduler import repository as repo
from app.modules.scheduler import triggers
from app.modules.scheduler.exceptions import (
    BuiltInJobLocked,
    InvalidJob,
    JobNameTaken,
    JobNotFound,
    JobRunNotFound,
    JobVersionMismatch,
    TargetPermissionDenied,
)
from app.modules.scheduler.lifespan import Scheduler
from app.modules.scheduler.models import Job, JobRun
from app.modules.scheduler.schemas import (
    CronTriggerSpec,
    DateTriggerSpec,
    IntervalTriggerSpec,
    JobCreate,
    JobFilters,
    JobRead,
    JobRunFilters,
    JobRunRead,
    JobUpdate,
)
from app.modules.system.operation_log.changes import record_change, snapshot

CHANGE_FIELDS = (
    "name",
    "target",
    "args",
    "trigger_type",
    "cron",
    "interval_seconds",
    "run_at",
    "timezone",
    "status",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "misfire_policy",
    "misfire_grace_seconds",
    "remark",
)
BUILT_IN_FIXED = ("name", "target")


async def list_jobs(
    db: AsyncSession, principal: Principal, *, filters: JobFilters, page: PageParams
) -> CursorPage[JobRead]:
    """One page of scheduled jobs."""
    statement = repo.jobs_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Job.id])
    return result.as_page(JobRead)


async def list_runs(
    db: AsyncSession, principal: Principal, *, filters: JobRunFilters, page: PageParams
) -> CursorPage[JobRunRead]:
    """One page of the run history."""
    statement = repo.runs_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[JobRun.id])
    return result.as_page(JobRunRead)


async def get_job(db: AsyncSession, job_id: int) -> Job:
    job = await repo.get_job(db, job_id)
    if job is None:
        raise JobNotFound()
    return job


async def get_run(db: AsyncSession, run_id: int) -> JobRun:
    run = await repo.get_run(db, run_id)
    if run is None:
        raise JobRunNotFound()
    return run


def _target(scheduler: Scheduler, name: str) -> JobTarget:
    target = scheduler.runner.target(name)
    if target is None:
        raise InvalidJob("target", "is not a job target of an enabled module", "unknown_target")
    return target


def _authorise(target: JobTarget, principal: Principal) -> None:
    """Refuse (403) a caller lacking any permission the target declares."""
    missing = target.missing_permissions(principal)
    if missing:
        raise TargetPermissionDenied(missing)


def _args(scheduler: Scheduler, target: JobTarget, args: dict[str, Any]) -> str:
    try:
        parsed = target.parse_args(args, scheduler.runner.settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        _location, where = field_path(first["loc"], args)
        raise InvalidJob(f"args.{where}" if where else "args", human_message(first)) from None
    return orjson.dumps(parsed.model_dump(mode="json", exclude_unset=True)).decode()


def _apply_trigger(
    job: Job, spec: CronTriggerSpec | IntervalTriggerSpec | DateTriggerSpec, now: datetime
) -> None:
    job.trigger_type = spec.type
    job.cron = job.interval_seconds = job.run_at = None
    if isinstance(spec, CronTriggerSpec):
        job.cron = " ".join(spec.cron.split())
    elif isinstance(spec, IntervalTriggerSpec):
        job.interval_seconds = spec.seconds
        # Like APScheduler: "every N seconds" first fires N seconds from now.
        job.start_at = spec.start_at or now + timedelta(seconds=spec.seconds)
    else:
        job.run_at = spec.run_at


def _schedule(job: Job, now: datetime, *, new_trigger: bool) -> None:
    """Check the trigger and time zone; set `next_run_at` (None while paused)."""
    try:
        triggers.zone(job.timezone)
    except ValueError as exc:
        raise InvalidJob("timezone", str(exc)) from None
    try:
        first = triggers.first_fire_time(job, now)
    except ValueError as exc:
        raise InvalidJob("trigger.cron", str(exc)) from None
    if job.trigger_type == "date" and new_trigger and (job.run_at is None or job.run_at <= now):
        raise InvalidJob("trigger.run_at", "must be in the future")
    job.next_run_at = first if job.status == "active" else None


async def create_job(
    db: AsyncSession, scheduler: Scheduler, principal: Principal, data: JobCreate
) -> Job:
    target = _target(scheduler, data.target)
    _authorise(target, principal)
    now = utcnow()
    job = Job(
        name=data.name,
        target=target.name,
        args=_args(scheduler, target, data.args),
        timezone=data.timezone,
        status=data.status,
        timeout_seconds=data.timeout_seconds,
        max_retries=data.max_retries,
        retry_backoff_seconds=data.retry_backoff_seconds,
        misfire_policy=data.misfire_policy,
        misfire_grace_seconds=data.misfire_grace_seconds,
        remark=data.remark,
        built_in=False,
        start_at=now,
    )
    _apply_trigger(job, data.trigger, now)
    _schedule(job, now, new_trigger=True)
    if await repo.name_taken(db, job.name):
        raise JobNameTaken()
    await repo.add(db, job)
    await record_change(
        db, entity="job", entity_id=job.id, action="create", after=snapshot(job, CHANGE_FIELDS)
    )
    return job


async def update_job(
    db: AsyncSession, scheduler: Scheduler, principal: Principal, job_id: int, data: JobUpdate
) -> Job:
    job = await get_job(db, job_id)
    current = scheduler.runner.target(job.target)
    if current is not None:
        _authorise(current, principal)
    changes = data.model_dump(exclude_unset=True)
    check_version(changes.pop("version", None), job.version, JobVersionMismatch)
    if job.built_in:
        for field in BUILT_IN_FIXED:
            if field in changes and changes[field] != getattr(job, field):
                raise BuiltInJobLocked(field)
    before = snapshot(job, CHANGE_FIELDS)
    now = utcnow()
    target = _target(scheduler, changes.get("target", job.target))
    _authorise(target, principal)
    if "name" in changes and changes["name"] != job.name:
        if await repo.name_taken(db, changes["name"], exclude_id=job.id):
            raise JobNameTaken()
        job.name = changes["name"]
    if "target" in changes or "args" in changes:
        job.target = target.name
        job.args = _args(scheduler, target, changes.get("args", orjson.loads(job.args or "{}")))
    for field in (
        "timezone",
        "timeout_seconds",
        "max_retries",
        "retry_backoff_seconds",
        "misfire_policy",
        "misfire_grace_seconds",
        "remark",
    ):
        if field in changes:
            setattr(job, field, changes[field])
    if data.trigger is not None:
        _apply_trigger(job, data.trigger, now)
    if data.trigger is not None or "timezone" in changes:
        _schedule(job, now, new_trigger=data.trigger is not None)
    await versioned_flush(db, JobVersionMismatch)
    await record_change(
        db,
        entity="job",
        entity_id=job.id,
        action="update",
        before=before,
        after=snapshot(job, CHANGE_FIELDS),
    )
    return job


async def set_status(db: AsyncSession, job_id: int, status: str) -> Job:
    job = await get_job(db, job_id)
    if job.status == status:
        return job
    before = snapshot(job, CHANGE_FIELDS)
    job.status = status
    _schedule(job, utcnow(), new_trigger=False)
    await db.flush()
    await record_change(
        db,
        entity="job",
        entity_id=job.id,
        action="update",
        before=before,
        after=snapshot(job, CHANGE_FIELDS),
    )
    return job


async def delete_job(db: AsyncSession, job_id: int) -> None:
    job = await get_job(db, job_id)
    if job.built_in:
        raise BuiltInJobLocked()
    before = snapshot(job, CHANGE_FIELDS)
    await repo.delete_job(db, job)
    await record_change(db, entity="job", entity_id=job_id, action="delete", before=before)


async def run_now(
    db: AsyncSession, scheduler: Scheduler, principal: Principal, job_id: int
) -> JobRun:
    job = await get_job(db, job_id)
    _authorise(_target(scheduler, job.target), principal)
    run = JobRun(
        job_id=job.id,
        job_name=job.name,
        target=job.target,
        trigger="manual",
        scheduled_at=utcnow(),
        status="queued",
        attempts=0,
        requested_by=principal.user_id,
    )
    await repo.add(db, run)
    run_id = run.id

    async def queue_it() -> None:
        try:
            await scheduler.queue.kick(run_id)
        except Exception:
            # Committed but not queued: end it now rather than leave it for the reaper.
            async with scheduler.runner.sessionmaker() as session, session.begin():
                await repo.finish_run(
                    session,
                    run_id,
                    status="failed",
                    finished_at=utcnow(),
                    error="The job queue is unavailable; try again.",
                )
            raise

    after_commit(db, queue_it)
    return run
