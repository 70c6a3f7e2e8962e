"""Users. Secrets (password hash, MFA seed) live here but never leave through a schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, UtcDateTime, unique_ignoring_case
from app.core.sorts import list_sorts

user_role = Table(
    "sys_user_role",
    Base.metadata,
    Column("user_id", BigId, ForeignKey("sys_user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", BigId, ForeignKey("sys_role.id", ondelete="CASCADE"), primary_key=True),
)

user_position = Table(
    "sys_user_position",
    Base.metadata,
    Column("user_id", BigId, ForeignKey("sys_user.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "position_id", BigId, ForeignKey("sys_position.id", ondelete="CASCADE"), primary_key=True
    ),
)

# The holders of a role (the users list's `role_id` filter, a role's delete and scope checks)
# and of a position: the primary keys lead with `user_id`, so these read the other way round.
Index("ix_sys_user_role_role_id_user_id", user_role.c.role_id, user_role.c.user_id)
Index(
    "ix_sys_user_position_position_id_user_id",
    user_position.c.position_id,
    user_position.c.user_id,
)


class User(TimestampMixin, Base):
    __tablename__ = "sys_user"
    # SQLite would otherwise reuse the id of a deleted last row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    dept_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sys_dept.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    mfa_secret: Mapped[str | None] = mapped_column(Text)  # encrypted (SecretBox "mfa")
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_ip: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(BigId, index=True)
    remark: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# Usernames and e-mail addresses are unique regardless of case (docs/security-checklist.md F17): the
# service
# checks `lower(...)` first, and these indexes settle the race between two creates of `Alice`
# and `alice`.
unique_ignoring_case(User.__table__.c.username)
unique_ignoring_case(User.__table__.c.email)

# The list's sorts and the index each needs (docs/performance.md, "Lists at any size"); a
# department-scoped caller's page is filtered by `dept_id`, so each sort is also indexed behind it.
USER_SORTS = list_sorts(
    sortable={
        "created_at": User.created_at,
        "username": User.username,
        "name": User.name,
        "id": User.id,
    },
    default="-created_at",
    cursor_key=User.id,
    leads=[(User.dept_id,)],
)
