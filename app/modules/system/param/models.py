"""Parameters: typed runtime settings that operators change without a deploy."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin
from app.core.sorts import list_sorts


class Param(TimestampMixin, Base):
    __tablename__ = "sys_param"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(100))
    # str | int | float | bool | json: how `value` is validated and read from code.
    value_type: Mapped[str] = mapped_column(String(16), default="str")
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    remark: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


PARAM_SORTS = list_sorts(
    sortable={
        "key": Param.key,
        "name": Param.name,
        "created_at": Param.created_at,
        "updated_at": Param.updated_at,
        "id": Param.id,
    },
    default="key",
    cursor_key=Param.id,
)
