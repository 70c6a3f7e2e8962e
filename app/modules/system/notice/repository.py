"""All SQL of the notices feature (not data-scoped: notices are addressed to everyone)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.notice.models import Notice


def list_statement(
    *, title: str | None = None, type: str | None = None, status: str | None = None
) -> Select[Notice]:
    statement = select(Notice)
    if title:
        statement = statement.where(Notice.title.icontains(title, autoescape=True))
    if type:
        statement = statement.where(Notice.type == type)
    if status:
        statement = statement.where(Notice.status == status)
    return statement


def published_statement(*, type: str | None = None) -> Select[Notice]:
    return list_statement(type=type, status="published")


async def get(db: AsyncSession, notice_id: int) -> Notice | None:
    return await db.get(Notice, notice_id)


async def add(db: AsyncSession, notice: Notice) -> Notice:
    db.add(notice)
    await db.flush()
    return notice


async def delete(db: AsyncSession, notice: Notice) -> None:
    await db.delete(notice)
    await db.flush()
