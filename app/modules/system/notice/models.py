"""Notices and announcements; content is sanitised HTML."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, UtcDateTime


class Notice(TimestampMixin, Base):
    __tablename__ = "sys_notice"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), default="notice")  # notice | announcement
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(BigId, index=True)


# Keyset order of the list (default and offered sorts; migration c3d9e1f0a7b2).
Index("ix_sys_notice_created_at_id", Notice.created_at, Notice.id)
