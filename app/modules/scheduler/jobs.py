"""Job targets of the scheduler itself: the stale-run reaper and the run-history purge."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from app.core.database import utcnow
from app.core.jobs import JobContext, job_target
from app.modules.scheduler import repository as repo
from app.modules.scheduler.settings import scheduler_settings


class ReapArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stale_after_seconds: int | None = Field(
        default=None,
        ge=1,
        le=86400,
        description="A running run is lost after this long without a heartbeat "
        "(default: 3 heartbeats, at least 30 s)",
    )
    queued_after_seconds: int = Field(
        default=3600, ge=60, le=7 * 86400, description="A run nobody picked up is lost after"
    )


@job_target("scheduler.reap_stale_runs", args=ReapArgs)
async def reap_stale_runs(ctx: JobContext, args: ReapArgs) -> dict[str, int]:
    """Mark runs whose worker died (no heartbeat) or that no worker took as lost."""
    now = utcnow()
    stale = args.stale_after_seconds or max(
        30, int(scheduler_settings(ctx.settings).heartbeat_seconds * 3)
    )
    async with ctx.transaction() as db:
        reaped = await repo.reap(
            db,
            now=now,
            beat_before=now - timedelta(seconds=stale),
            queued_before=now - timedelta(seconds=args.queued_after_seconds),
        )
    return {"reaped": reaped}


class PurgeRunsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: int = Field(default=30, ge=1, le=3650)


@job_target("scheduler.purge_runs", args=PurgeRunsArgs)
async def purge_runs(ctx: JobContext, args: PurgeRunsArgs) -> dict[str, int]:
    """Delete the history of finished runs older than `older_than_days`."""
    async with ctx.transaction() as db:
        deleted = await repo.purge_runs(db, utcnow() - timedelta(days=args.older_than_days))
    return {"deleted": deleted}
