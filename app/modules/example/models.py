"""The example model (table `example`)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin
from app.core.sorts import list_sorts


class Example(TimestampMixin, Base):
    __tablename__ = "example"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    # Optimistic locking: every UPDATE checks and bumps it (a concurrent write is a 409).
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# The list's sorts, and the index each one reads a page from (app/core/sorts.py).
EXAMPLE_SORTS = list_sorts(
    sortable={
        "id": Example.id,
        "name": Example.name,
        "description": Example.description,
        "created_at": Example.created_at,
        "updated_at": Example.updated_at,
    },
    default="-created_at",
    cursor_key=Example.id,
)
