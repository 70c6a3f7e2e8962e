"""Menus: directories, pages and buttons; buttons (and pages) carry permission codes."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin
from app.core.sorts import list_sorts


class Menu(TimestampMixin, Base):
    __tablename__ = "sys_menu"
    # SQLite would otherwise reuse the id of a deleted last row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sys_menu.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # directory | menu | button
    title: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(255))
    component: Mapped[str | None] = mapped_column(String(255))
    icon: Mapped[str | None] = mapped_column(String(64))
    permission: Mapped[str | None] = mapped_column(String(128), index=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a front-end router needs besides `name` (route name), `path` and `component`:
    # keep the page's state when leaving it, open an external address instead of a view,
    # and where a directory's own path leads.
    keep_alive: Mapped[bool] = mapped_column(Boolean, default=False)
    link: Mapped[str | None] = mapped_column(String(512))
    redirect: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


MENU_SORTS = list_sorts(
    sortable={"sort": Menu.sort, "title": Menu.title, "created_at": Menu.created_at, "id": Menu.id},
    default="sort,id",
    cursor_key=Menu.id,
)
