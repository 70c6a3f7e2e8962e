"""SQL of the operation log: filtered reads, keyset batches for export, clearing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.operation_log.models import ChangeLog, OperationLog


def filtered(
    *,
    user_id: int | None = None,
    username: str | None = None,
    module: str | None = None,
    method: str | None = None,
    success: bool | None = None,
    status_code: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[OperationLog]:
    stmt = select(OperationLog)
    if user_id is not None:
        stmt = stmt.where(OperationLog.user_id == user_id)
    if username:
        stmt = stmt.where(OperationLog.username == username)
    if module:
        stmt = stmt.where(OperationLog.module == module)
    if method:
        stmt = stmt.where(OperationLog.method == method)
    if success is not None:
        stmt = stmt.where(OperationLog.success.is_(success))
    if status_code is not None:
        stmt = stmt.where(OperationLog.status_code == status_code)
    if since is not None:
        stmt = stmt.where(OperationLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(OperationLog.created_at < until)
    return stmt


async def get(db: AsyncSession, log_id: int) -> OperationLog | None:
    return await db.get(OperationLog, log_id)


async def changes_for(db: AsyncSession, request_id: str | None) -> Sequence[ChangeLog]:
    if not request_id:
        return []
    rows = await db.execute(
        select(ChangeLog).where(ChangeLog.request_id == request_id).order_by(ChangeLog.id)
    )
    return rows.scalars().all()


async def clear(db: AsyncSession, before: datetime | None) -> tuple[int, int]:
    """Delete operation and change rows (all, or created before `before`); their counts."""
    stmt = delete(OperationLog)
    changes = delete(ChangeLog)
    if before is not None:
        stmt = stmt.where(OperationLog.created_at < before)
        changes = changes.where(ChangeLog.created_at < before)
    result = await db.execute(stmt)
    changed = await db.execute(changes)
    return (
        int(getattr(result, "rowcount", 0) or 0),
        int(getattr(changed, "rowcount", 0) or 0),
    )
