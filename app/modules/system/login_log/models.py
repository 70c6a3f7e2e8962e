"""Every sign-in attempt and session event, with the client it came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, UtcDateTime, utcnow
from app.core.sorts import list_sorts


class LoginLog(Base):
    __tablename__ = "sys_login_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId, index=True)
    # login | logout | refresh_reuse | lockout | mfa_failed | ...
    event: Mapped[str] = mapped_column(String(32), index=True)
    success: Mapped[bool] = mapped_column(Boolean, index=True)
    reason: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    browser: Mapped[str | None] = mapped_column(String(64))
    os: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


# `(created_at, id)` also serves the retention purge (`created_at < cutoff`).
LOGIN_LOG_SORTS = list_sorts(
    sortable={"created_at": LoginLog.created_at, "id": LoginLog.id},
    default="-created_at",
    cursor_key=LoginLog.id,
)
