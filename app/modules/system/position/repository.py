"""All SQL of the positions feature (not data-scoped: positions are a shared catalogue)."""

from __future__ import annotations

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.position.models import Position
from app.modules.system.user.models import user_position


def list_statement(
    *, name: str | None = None, code: str | None = None, status: str | None = None
) -> Select[Position]:
    statement = select(Position)
    if name:
        statement = statement.where(Position.name.icontains(name, autoescape=True))
    if code:
        statement = statement.where(func.lower(Position.code) == code.lower())
    if status:
        statement = statement.where(Position.status == status)
    return statement


async def get(db: AsyncSession, position_id: int) -> Position | None:
    return await db.get(Position, position_id)


async def code_taken(db: AsyncSession, code: str, *, exclude_id: int | None = None) -> bool:
    """True if another position has `code` (case-insensitively)."""
    condition = func.lower(Position.code) == code.lower()
    if exclude_id is not None:
        condition = condition & (Position.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def is_assigned(db: AsyncSession, position_id: int) -> bool:
    statement = select(exists().where(user_position.c.position_id == position_id))
    return bool((await db.execute(statement)).scalar())


async def add(db: AsyncSession, position: Position) -> Position:
    db.add(position)
    await db.flush()
    return position


async def delete(db: AsyncSession, position: Position) -> None:
    await db.delete(position)
    await db.flush()
