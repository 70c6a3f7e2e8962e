"""Job targets of the system module."""

from __future__ import annotations

import time
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.core.config import Settings
from app.core.database import delete_older_than, utcnow
from app.core.jobs import JobContext, job_target
from app.modules.system.login_log.models import LoginLog
from app.modules.system.operation_log import clearing
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.param.reader import ParamReader
from app.modules.system.permissions import LOGIN_LOG_CLEAR, OPERATION_LOG_CLEAR

RETENTION_PARAM = "log.retention_days"
DEFAULT_RETENTION_DAYS = 180


class PurgeLogsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description=f"Overrides the parameter {RETENTION_PARAM} for this job; "
        "never below AUDIT_MIN_RETENTION_DAYS",
    )

    @field_validator("older_than_days")
    @classmethod
    def _keeps_the_minimum(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Saving a job refuses less than the minimum retention (a run clamps instead)."""
        settings = (info.context or {}).get("settings")
        floor = settings.audit_min_retention_days if isinstance(settings, Settings) else 1
        if value is not None and value < floor:
            raise ValueError(
                f"must be at least {floor} (the minimum retention, AUDIT_MIN_RETENTION_DAYS)"
            )
        return value


@job_target(
    "system.purge_logs",
    args=PurgeLogsArgs,
    permissions=(OPERATION_LOG_CLEAR, LOGIN_LOG_CLEAR),
)
async def purge_logs(ctx: JobContext, args: PurgeLogsArgs) -> dict[str, int]:
    """Delete operation, change and login log rows older than the retention parameter."""
    started = time.perf_counter()
    requested = args.older_than_days or await ParamReader(ctx.cache, ctx.sessionmaker).get_int(
        RETENTION_PARAM, DEFAULT_RETENTION_DAYS
    )
    # Neither the job's arguments nor the parameter may shorten the audit trail below the floor.
    days = max(requested, ctx.settings.audit_min_retention_days)
    cutoff = utcnow() - timedelta(days=days)
    rows = {
        "operation_log": await delete_older_than(ctx.sessionmaker, OperationLog, cutoff),
        "change_log": await delete_older_than(ctx.sessionmaker, ChangeLog, cutoff),
        "login_log": await delete_older_than(ctx.sessionmaker, LoginLog, cutoff),
    }
    async with ctx.transaction() as db:
        clearing.record_purge(
            db,
            clearing.job_run_actor(ctx.run_id, ctx.requested_by),
            target="system.purge_logs",
            run_id=ctx.run_id,
            before=cutoff,
            retention_days=days,
            rows=rows,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return {"retention_days": days, **rows}
