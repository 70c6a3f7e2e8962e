"""Initial data of the scheduler: the built-in jobs (matched by name; never overwritten)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.database import utcnow
from app.modules.scheduler import repository as repo
from app.modules.scheduler import triggers
from app.modules.scheduler.models import Job

BUILT_IN_JOBS: tuple[dict[str, Any], ...] = (
    {
        "name": "Purge old logs",
        "target": "system.purge_logs",
        "trigger_type": "cron",
        "cron": "30 3 * * *",
        "timeout_seconds": 3600,
        "remark": "Keeps the parameter log.retention_days worth of operation and login logs.",
    },
    {
        "name": "Reap stale job runs",
        "target": "scheduler.reap_stale_runs",
        "trigger_type": "interval",
        "interval_seconds": 60,
        "timeout_seconds": 60,
        "remark": "Ends runs whose worker died, so no run shows running forever.",
    },
    {
        "name": "Purge old job runs",
        "target": "scheduler.purge_runs",
        "trigger_type": "cron",
        "cron": "45 3 * * *",
        "args": {"older_than_days": 30},
        "timeout_seconds": 3600,
        "remark": "Deletes the history of finished runs older than 30 days.",
    },
)


async def load_initial_data(db: AsyncSession, _settings: Settings) -> None:
    now = utcnow()
    for item in BUILT_IN_JOBS:
        if await repo.get_job_by_name(db, item["name"]) is not None:
            continue
        values = dict(item)
        job = Job(
            **values
            | {
                "args": orjson.dumps(values.get("args", {})).decode(),
                "built_in": True,
                "status": "active",
                "timezone": "UTC",
                "start_at": now + timedelta(seconds=values.get("interval_seconds") or 0),
            }
        )
        job.next_run_at = triggers.first_fire_time(job, now)
        await repo.add(db, job)
