"""Business rules of the positions feature: unique codes, and no deleting a held position."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.position import repository as repo
from app.modules.system.position.exceptions import (
    PositionCodeTaken,
    PositionInUse,
    PositionNotFound,
)
from app.modules.system.position.models import Position
from app.modules.system.position.schemas import (
    PositionCreate,
    PositionFilters,
    PositionRead,
    PositionUpdate,
)


async def list_positions(
    db: AsyncSession, principal: Principal, *, filters: PositionFilters, page: PageParams
) -> CursorPage[PositionRead]:
    """One page of positions; positions are not data-scoped."""
    statement = repo.list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Position.id])
    return result.as_page(PositionRead)


async def get_position(db: AsyncSession, position_id: int) -> Position:
    position = await repo.get(db, position_id)
    if position is None:
        raise PositionNotFound()
    return position


async def create_position(db: AsyncSession, data: PositionCreate) -> Position:
    if await repo.code_taken(db, data.code):
        raise PositionCodeTaken()
    return await repo.add(db, Position(**data.model_dump()))


async def update_position(db: AsyncSession, position_id: int, data: PositionUpdate) -> Position:
    position = await get_position(db, position_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if (
        "code" in changes
        and changes["code"].lower() != position.code.lower()
        and await repo.code_taken(db, changes["code"], exclude_id=position.id)
    ):
        raise PositionCodeTaken()
    for field, value in changes.items():
        setattr(position, field, value)
    await db.flush()
    return position


async def delete_position(db: AsyncSession, position_id: int) -> None:
    position = await get_position(db, position_id)
    # The link table cascades on delete, so the check must be explicit.
    if await repo.is_assigned(db, position.id):
        raise PositionInUse()
    await repo.delete(db, position)
