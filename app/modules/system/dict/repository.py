"""All SQL of the dictionaries feature (not data-scoped: dictionaries are a shared catalogue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.dict.models import DictData, DictType

# ------------------------------------------------------------------------ dict types --


def type_list_statement(
    *, name: str | None = None, code: str | None = None, status: str | None = None
) -> Select[Any]:
    statement = select(DictType)
    if name:
        statement = statement.where(DictType.name.icontains(name, autoescape=True))
    if code:
        statement = statement.where(DictType.code == code)
    if status:
        statement = statement.where(DictType.status == status)
    return statement


async def get_type(db: AsyncSession, type_id: int) -> DictType | None:
    return await db.get(DictType, type_id)


async def code_taken(db: AsyncSession, code: str, *, exclude_id: int | None = None) -> bool:
    condition = DictType.code == code
    if exclude_id is not None:
        condition = condition & (DictType.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def type_exists(db: AsyncSession, code: str) -> bool:
    return await code_taken(db, code)


async def add(db: AsyncSession, row: DictType | DictData) -> None:
    db.add(row)
    await db.flush()


async def delete(db: AsyncSession, row: DictType | DictData) -> None:
    await db.delete(row)
    await db.flush()


# ------------------------------------------------------------------------- dict data --


def data_list_statement(
    *,
    type_code: str | None = None,
    label: str | None = None,
    status: str | None = None,
) -> Select[Any]:
    statement = select(DictData)
    if type_code:
        statement = statement.where(DictData.type_code == type_code)
    if label:
        statement = statement.where(DictData.label.icontains(label, autoescape=True))
    if status:
        statement = statement.where(DictData.status == status)
    return statement


async def get_data(db: AsyncSession, data_id: int) -> DictData | None:
    return await db.get(DictData, data_id)


async def value_taken(
    db: AsyncSession, type_code: str, value: str, *, exclude_id: int | None = None
) -> bool:
    """True if the type has another item with `value` (case-insensitively, as MySQL would)."""
    condition = (DictData.type_code == type_code) & (func.lower(DictData.value) == value.lower())
    if exclude_id is not None:
        condition = condition & (DictData.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def active_items(db: AsyncSession, type_code: str) -> list[DictData] | None:
    """The active items of the active type `type_code` by (sort, id); None if there is no
    such active type."""
    active = (
        await db.execute(
            select(DictType.id).where(DictType.code == type_code, DictType.status == "active")
        )
    ).first()
    if active is None:
        return None
    statement = (
        select(DictData)
        .where(DictData.type_code == type_code, DictData.status == "active")
        .order_by(DictData.sort, DictData.id)
    )
    return list((await db.execute(statement)).scalars())
