"""Positions (job titles) that users hold."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, unique_ignoring_case
from app.core.sorts import list_sorts


class Position(TimestampMixin, Base):
    __tablename__ = "sys_position"
    # SQLite would otherwise reuse the id of a deleted last row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    remark: Mapped[str | None] = mapped_column(String(500))


# Position codes are unique regardless of case (docs/security-checklist.md F17), in the database
# too.
unique_ignoring_case(Position.__table__.c.code)

POSITION_SORTS = list_sorts(
    sortable={
        "sort": Position.sort,
        "name": Position.name,
        "code": Position.code,
        "created_at": Position.created_at,
        "id": Position.id,
    },
    default="sort,id",
    cursor_key=Position.id,
)
