"""The operation (audit) log, and the field-level changes of security-relevant records.

Neither table has foreign keys to users: an audit trail outlives the accounts it mentions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, UtcDateTime, utcnow
from app.core.sorts import list_sorts


class OperationLog(Base):
    __tablename__ = "sys_operation_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    module: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str | None] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    query: Mapped[Any | None] = mapped_column(JSON)
    body: Mapped[Any | None] = mapped_column(JSON)
    status_code: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean, index=True)
    error_message: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ChangeLog(Base):
    """Before/after values of the changed fields, written in the transaction of the change."""

    __tablename__ = "sys_change_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId)
    entity: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


# `(created_at, id)` also serves the retention purge (`created_at < cutoff`).
OPERATION_LOG_SORTS = list_sorts(
    sortable={
        "created_at": OperationLog.created_at,
        "duration_ms": OperationLog.duration_ms,
        "id": OperationLog.id,
    },
    default="-created_at",
    cursor_key=OperationLog.id,
)
