"""Deleting audit records, and recording that it happened.

Two ways delete the audit trail, and both leave the same record behind:

- a manual clearing (`DELETE /operation-logs`, `DELETE /login-logs`, each behind its own
  permission), in the request's transaction;
- the purge job (`system.purge_logs`), which deletes in batches and then records, in one
  transaction, an operation-log entry for the purge (method `JOB`, linked to the run) and the
  clearing rows.

The record is a `sys_change_log` row per cleared table: entity `operation_log`, `change_log`
or `login_log`, action `clear`, `before = {"created_before": <cutoff or null>, "rows": n}`,
linked to its operation by request id (a purge's is `job-run-<run id>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import current_request_id, user_id_var
from app.core.database import utcnow
from app.modules.system.login_log import repository as login_repo
from app.modules.system.operation_log import repository as operation_repo
from app.modules.system.operation_log.models import ChangeLog, OperationLog

CLEAR = "clear"


@dataclass(frozen=True)
class Actor:
    """Who cleared: a request (its id and user, the default) or a job run."""

    request_id: str | None
    user_id: int | None

    @classmethod
    def of_request(cls) -> Actor:
        return cls(current_request_id(), user_id_var.get())


def record_clearing(
    db: AsyncSession, actor: Actor, *, log: str, before: datetime | None, rows: int
) -> None:
    """Add the change-log row saying `rows` rows of `log` created before `before` were deleted.

    Call it after the deletion: a clearing of everything would otherwise delete its own record.
    """
    db.add(
        ChangeLog(
            request_id=actor.request_id,
            user_id=actor.user_id,
            entity=log,
            entity_id="*",
            action=CLEAR,
            before={"created_before": before.isoformat() if before else None, "rows": rows},
            after=None,
        )
    )


async def clear_operation_log(db: AsyncSession, before: datetime | None) -> int:
    """Delete operation-log (and change-log) rows; the request's own entry is written after."""
    operations, changes = await operation_repo.clear(db, before)
    actor = Actor.of_request()
    record_clearing(db, actor, log="operation_log", before=before, rows=operations)
    record_clearing(db, actor, log="change_log", before=before, rows=changes)
    await db.flush()
    return operations


async def clear_login_log(db: AsyncSession, before: datetime | None) -> int:
    deleted = await login_repo.clear(db, before)
    record_clearing(db, Actor.of_request(), log="login_log", before=before, rows=deleted)
    await db.flush()
    return deleted


def job_run_actor(run_id: int, requested_by: int | None) -> Actor:
    return Actor(f"job-run-{run_id}", requested_by)


def record_purge(
    db: AsyncSession,
    actor: Actor,
    *,
    target: str,
    run_id: int,
    before: datetime,
    retention_days: int,
    rows: dict[str, int],
    duration_ms: float,
) -> None:
    """The operation-log entry of a purge by a job, and its clearing rows (one transaction)."""
    db.add(
        OperationLog(
            request_id=actor.request_id,
            user_id=actor.user_id,
            module=target.split(".", 1)[0],
            action=target.split(".", 1)[1],
            method="JOB",
            route=target,
            path=f"/api/v1/scheduler/job-runs/{run_id}",
            query={"before": before.isoformat(), "retention_days": retention_days},
            body=None,
            status_code=200,
            success=True,
            duration_ms=round(duration_ms, 2),
            created_at=utcnow(),
        )
    )
    for log, count in rows.items():
        record_clearing(db, actor, log=log, before=before, rows=count)
