"""Job targets of the system module."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from app.core.database import delete_older_than, utcnow
from app.core.jobs import JobContext, job_target
from app.modules.system.login_log.models import LoginLog
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.param.reader import ParamReader

RETENTION_PARAM = "log.retention_days"
DEFAULT_RETENTION_DAYS = 180


class PurgeLogsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description=f"Overrides the parameter {RETENTION_PARAM} for this job",
    )


@job_target("system.purge_logs", args=PurgeLogsArgs)
async def purge_logs(ctx: JobContext, args: PurgeLogsArgs) -> dict[str, int]:
    """Delete operation, change and login log rows older than the retention parameter."""
    days = args.older_than_days or await ParamReader(ctx.cache, ctx.sessionmaker).get_int(
        RETENTION_PARAM, DEFAULT_RETENTION_DAYS
    )
    cutoff = utcnow() - timedelta(days=max(1, days))
    return {
        "retention_days": days,
        "operation_log": await delete_older_than(ctx.sessionmaker, OperationLog, cutoff),
        "change_log": await delete_older_than(ctx.sessionmaker, ChangeLog, cutoff),
        "login_log": await delete_older_than(ctx.sessionmaker, LoginLog, cutoff),
    }
