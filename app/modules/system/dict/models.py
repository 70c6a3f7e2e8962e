"""Dictionaries: named lists of label/value items that front ends render (statuses, kinds)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin


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
        index=True,
    )
    label: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(100))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Presentation hints for front ends (e.g. "success", "danger"); optional.
    tag: Mapped[str | None] = mapped_column(String(32))
    remark: Mapped[str | None] = mapped_column(String(500))
