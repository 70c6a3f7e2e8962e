"""Notices and announcements; content is sanitised HTML."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, UtcDateTime
from app.core.sorts import list_sorts


class Notice(TimestampMixin, Base):
    __tablename__ = "sys_notice"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), default="notice")  # notice | announcement
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(BigId, index=True)


# Keyset order of the list (default and offered sorts; migration c3d9e1f0a7b2).

NOTICE_SORTS = list_sorts(
    sortable={
        "created_at": Notice.created_at,
        "updated_at": Notice.updated_at,
        "published_at": Notice.published_at,
        "title": Notice.title,
        "type": Notice.type,
        "status": Notice.status,
        "id": Notice.id,
    },
    default="-created_at",
    cursor_key=Notice.id,
)
# The published notices (every signed-in user's list) are always filtered by `status`.
PUBLISHED_NOTICE_SORTS = list_sorts(
    sortable={"published_at": Notice.published_at, "title": Notice.title, "id": Notice.id},
    default="-published_at",
    cursor_key=Notice.id,
    leads=[(Notice.status,)],
)
