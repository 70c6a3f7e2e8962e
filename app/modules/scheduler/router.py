"""HTTP routes of the scheduler: `/api/v1/scheduler/jobs`, `/job-runs`, `/targets`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.deps import CacheDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, accepted, created, error_responses, ok
from app.core.schemas import Id, UtcDateTime, pattern
from app.modules.scheduler import service
from app.modules.scheduler.leader import LEADER_INFO
from app.modules.scheduler.lifespan import Scheduler, get_scheduler
from app.modules.scheduler.models import JOB_RUN_SORTS, JOB_SORTS
from app.modules.scheduler.permissions import (
    JOB_CREATE,
    JOB_DELETE,
    JOB_LIST,
    JOB_PAUSE,
    JOB_READ,
    JOB_RUN,
    JOB_UPDATE,
    RUN_LIST,
    RUN_READ,
)
from app.modules.scheduler.schemas import (
    JobCreate,
    JobFilters,
    JobRead,
    JobRunFilters,
    JobRunRead,
    JobStatus,
    JobUpdate,
    LeaderInfo,
    RunStatus,
    SchedulerStatus,
    TargetRead,
)

SchedulerDep = Annotated[Scheduler, Depends(get_scheduler)]
JobIdPath = Annotated[Id, Path()]

router = APIRouter(prefix="/api/v1/scheduler", tags=["scheduler"])

jobs_page = pagination(sorts=JOB_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
runs_page = pagination(sorts=JOB_RUN_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)


@router.get("/targets", responses=error_responses(401, 403))
async def list_targets(
    _principal: Annotated[Principal, Depends(require(JOB_LIST))],
    scheduler: SchedulerDep,
) -> Envelope[list[TargetRead]]:
    """What jobs may run: the targets that enabled modules register, with their argument schema."""
    from app.core.jobs import targets

    return ok(
        [
            TargetRead(
                name=target.name,
                module=target.module,
                description=target.description,
                args_schema=target.args.model_json_schema(),
                permissions=sorted(target.permissions),
            )
            for target in targets.all()
            if scheduler.runner.target(target.name) is not None
        ]
    )


@router.get("/status", responses=error_responses(401, 403, 503))
async def scheduler_status(
    _principal: Annotated[Principal, Depends(require(JOB_LIST))],
    scheduler: SchedulerDep,
    cache: CacheDep,
) -> Envelope[SchedulerStatus]:
    """Which process leads (fires due jobs) and what this process runs."""
    info = await cache.get_json(LEADER_INFO)
    leader = scheduler.leader
    return ok(
        SchedulerStatus(
            leader=LeaderInfo.model_validate(info) if info else None,
            host=scheduler.runner.host,
            pid=scheduler.runner.pid,
            candidate=leader is not None,
            is_leader=leader is not None and leader.is_leader,
            worker=scheduler.worker,
            queue=scheduler.queue.describe()["backend"],
        )
    )


@router.get("/jobs", responses=error_responses(401, 403, 422))
async def list_jobs(
    principal: Annotated[Principal, Depends(require(JOB_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(jobs_page)],
    name: Annotated[str | None, Query(max_length=100, description="Name contains")] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    status: JobStatus | None = None,
    built_in: bool | None = None,
) -> Envelope[CursorPage[JobRead]]:
    """List scheduled jobs."""
    filters = JobFilters(
        name=name.strip() if name else None, target=target, status=status, built_in=built_in
    )
    return ok(await service.list_jobs(db, principal, filters=filters, page=params))


@router.get("/jobs/{job_id}", responses=error_responses(401, 403, 404, 422))
async def get_job(
    _principal: Annotated[Principal, Depends(require(JOB_READ))],
    db: SessionDep,
    job_id: JobIdPath,
) -> Envelope[JobRead]:
    """One scheduled job."""
    return ok(JobRead.model_validate(await service.get_job(db, job_id)))


@router.post("/jobs", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_job(
    principal: Annotated[Principal, Depends(require(JOB_CREATE))],
    db: SessionDep,
    scheduler: SchedulerDep,
    body: JobCreate,
) -> Envelope[JobRead]:
    """Schedule a registered target with validated arguments and a cron/interval/date trigger."""
    job = await service.create_job(db, scheduler, principal, body)
    return created(JobRead.model_validate(job))


@router.patch("/jobs/{job_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_job(
    principal: Annotated[Principal, Depends(require(JOB_UPDATE))],
    db: SessionDep,
    scheduler: SchedulerDep,
    job_id: JobIdPath,
    body: JobUpdate,
) -> Envelope[JobRead]:
    """Edit a job; send the `version` you read to refuse overwriting someone else."""
    job = await service.update_job(db, scheduler, principal, job_id, body)
    return ok(JobRead.model_validate(job))


@router.delete(
    "/jobs/{job_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422)
)
async def delete_job(
    _principal: Annotated[Principal, Depends(require(JOB_DELETE))],
    db: SessionDep,
    job_id: JobIdPath,
) -> Response:
    """Delete a job that is not built in (its run history is kept)."""
    await service.delete_job(db, job_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/pause", responses=error_responses(401, 403, 404, 422))
async def pause_job(
    _principal: Annotated[Principal, Depends(require(JOB_PAUSE))],
    db: SessionDep,
    job_id: JobIdPath,
) -> Envelope[JobRead]:
    """Stop firing the job until it is resumed (a run in progress finishes)."""
    return ok(JobRead.model_validate(await service.set_status(db, job_id, "paused")))


@router.post("/jobs/{job_id}/resume", responses=error_responses(401, 403, 404, 422))
async def resume_job(
    _principal: Annotated[Principal, Depends(require(JOB_PAUSE))],
    db: SessionDep,
    job_id: JobIdPath,
) -> Envelope[JobRead]:
    """Fire the job again from its next fire time after now (no catch-up of the pause)."""
    return ok(JobRead.model_validate(await service.set_status(db, job_id, "active")))


@router.post("/jobs/{job_id}/run", status_code=202, responses=error_responses(401, 403, 404, 422))
async def run_job(
    principal: Annotated[Principal, Depends(require(JOB_RUN))],
    db: SessionDep,
    scheduler: SchedulerDep,
    job_id: JobIdPath,
) -> Envelope[JobRunRead]:
    """Queue a run of the job now (also for a paused job); follow it at /job-runs/{id}."""
    run = await service.run_now(db, scheduler, principal, job_id)
    return accepted(JobRunRead.model_validate(run))


@router.get("/job-runs", responses=error_responses(401, 403, 422))
async def list_runs(
    principal: Annotated[Principal, Depends(require(RUN_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(runs_page)],
    job_id: Annotated[Id | None, Query()] = None,
    job_name: Annotated[str | None, Query(max_length=100, description="Job name contains")] = None,
    status: RunStatus | None = None,
    trigger: Annotated[
        str | None, Query(pattern=pattern("^(schedule|manual)$", "must be schedule or manual"))
    ] = None,
    scheduled_from: UtcDateTime | None = None,
    scheduled_to: UtcDateTime | None = None,
) -> Envelope[CursorPage[JobRunRead]]:
    """The run history, newest first: status, times, duration, result or error, host and pid."""
    filters = JobRunFilters(
        job_id=job_id,
        job_name=job_name.strip() if job_name else None,
        status=status,
        trigger=trigger,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
    )
    return ok(await service.list_runs(db, principal, filters=filters, page=params))


@router.get("/job-runs/{run_id}", responses=error_responses(401, 403, 404, 422))
async def get_run(
    _principal: Annotated[Principal, Depends(require(RUN_READ))],
    db: SessionDep,
    run_id: Annotated[Id, Path()],
) -> Envelope[JobRunRead]:
    """One job run."""
    return ok(JobRunRead.model_validate(await service.get_run(db, run_id)))
