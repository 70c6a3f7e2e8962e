"""Roles: a set of menus (hence permission codes) and a data scope."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, unique_ignoring_case
from app.core.sorts import list_sorts

role_menu = Table(
    "sys_role_menu",
    Base.metadata,
    Column("role_id", BigId, ForeignKey("sys_role.id", ondelete="CASCADE"), primary_key=True),
    Column("menu_id", BigId, ForeignKey("sys_menu.id", ondelete="CASCADE"), primary_key=True),
)

# Departments a role with data scope "custom" may see.
role_dept = Table(
    "sys_role_dept",
    Base.metadata,
    Column("role_id", BigId, ForeignKey("sys_role.id", ondelete="CASCADE"), primary_key=True),
    Column("dept_id", BigId, ForeignKey("sys_dept.id", ondelete="CASCADE"), primary_key=True),
)


class Role(TimestampMixin, Base):
    __tablename__ = "sys_role"
    # SQLite would otherwise reuse the id of a deleted last row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    sort: Mapped[int] = mapped_column(Integer, default=0)
    # all | custom | dept | dept_and_children | self
    data_scope: Mapped[str] = mapped_column(String(32), default="self")
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    remark: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# Role codes are unique regardless of case (docs/security-checklist.md F17), in the database too.
unique_ignoring_case(Role.__table__.c.code)

ROLE_SORTS = list_sorts(
    sortable={
        "sort": Role.sort,
        "name": Role.name,
        "code": Role.code,
        "created_at": Role.created_at,
        "id": Role.id,
    },
    default="sort,id",
    cursor_key=Role.id,
)
