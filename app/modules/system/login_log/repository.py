"""SQL of the login log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.login_log.models import LoginLog


def filtered(
    *,
    username: str | None = None,
    user_id: int | None = None,
    event: str | None = None,
    success: bool | None = None,
    ip: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[LoginLog]:
    stmt = select(LoginLog)
    if username:
        stmt = stmt.where(LoginLog.username == username)
    if user_id is not None:
        stmt = stmt.where(LoginLog.user_id == user_id)
    if event:
        stmt = stmt.where(LoginLog.event == event)
    if success is not None:
        stmt = stmt.where(LoginLog.success.is_(success))
    if ip:
        stmt = stmt.where(LoginLog.ip == ip)
    if since is not None:
        stmt = stmt.where(LoginLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(LoginLog.created_at < until)
    return stmt


async def clear(db: AsyncSession, before: datetime | None) -> int:
    stmt = delete(LoginLog)
    if before is not None:
        stmt = stmt.where(LoginLog.created_at < before)
    result = await db.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
