"""Dictionaries: named lists of label/value items that front ends render (statuses, kinds)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin
from app.core.sorts import list_sorts


class DictType(TimestampMixin, Base):
    __tablename__ = "sys_dict_type"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    remark: Mapped[str | None] = mapped_column(String(500))


class DictData(TimestampMixin, Base):
    __tablename__ = "sys_dict_data"
    __table_args__ = (
        UniqueConstraint("type_code", "value"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type_code: Mapped[str] = mapped_column(
        String(100),
        ForeignKey("sys_dict_type.code", ondelete="CASCADE", onupdate="CASCADE"),
    )
    label: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(100))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Presentation hints for front ends (e.g. "success", "danger"); optional.
    tag: Mapped[str | None] = mapped_column(String(32))
    remark: Mapped[str | None] = mapped_column(String(500))


DICT_TYPE_SORTS = list_sorts(
    sortable={
        "name": DictType.name,
        "code": DictType.code,
        "status": DictType.status,
        "created_at": DictType.created_at,
        "updated_at": DictType.updated_at,
        "id": DictType.id,
    },
    default="code",
    cursor_key=DictType.id,
)
# `(type_code, sort, id)` (the default) also serves the `type_code` filter and the foreign key.
DICT_DATA_SORTS = list_sorts(
    sortable={
        "type_code": DictData.type_code,
        "sort": DictData.sort,
        "label": DictData.label,
        "value": DictData.value,
        "status": DictData.status,
        "created_at": DictData.created_at,
        "updated_at": DictData.updated_at,
        "id": DictData.id,
    },
    default="type_code,sort",
    cursor_key=DictData.id,
)
