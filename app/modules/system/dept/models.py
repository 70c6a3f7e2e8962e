"""Departments: a tree stored with a materialized path, so subtree queries need no recursion."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, unique_ignoring_case
from app.core.sorts import list_sorts


class Dept(TimestampMixin, Base):
    __tablename__ = "sys_dept"
    # SQLite would otherwise reuse the id of a deleted last row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sys_dept.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    leader: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # "/1/4/9/": the ids from the root down to this department, inclusive. A subtree is
    # `path LIKE '/1/4/%'`; moving a department rewrites its descendants' paths in one UPDATE.
    path: Mapped[str] = mapped_column(String(1024), index=True, default="/")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# Department codes are unique regardless of case (docs/security-checklist.md F17), in the database
# too.
unique_ignoring_case(Dept.__table__.c.code)

DEPT_SORTS = list_sorts(
    sortable={"sort": Dept.sort, "name": Dept.name, "created_at": Dept.created_at, "id": Dept.id},
    default="sort,id",
    cursor_key=Dept.id,
)
