"""All SQL of the parameters feature (not data-scoped: parameters are system-wide)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.modules.system.param.models import Param


def list_statement(
    *, key: str | None = None, name: str | None = None, built_in: bool | None = None
) -> Select[Any]:
    statement = select(Param)
    if key:
        statement = statement.where(Param.key.icontains(key, autoescape=True))
    if name:
        statement = statement.where(Param.name.icontains(name, autoescape=True))
    if built_in is not None:
        statement = statement.where(Param.built_in == built_in)
    return statement


async def get(db: AsyncSession, param_id: int) -> Param | None:
    return await db.get(Param, param_id)


async def get_by_key(db: AsyncSession, key: str) -> Param | None:
    return (await db.execute(select(Param).where(Param.key == key))).scalar_one_or_none()


async def key_taken(db: AsyncSession, key: str, *, exclude_id: int | None = None) -> bool:
    condition = Param.key == key
    if exclude_id is not None:
        condition = condition & (Param.id != exclude_id)
    return bool((await db.execute(select(exists().where(condition)))).scalar())


async def all_values(db: AsyncSession) -> dict[str, str]:
    """Every parameter as `{key: value}` (one query; the reader caches it)."""
    return {row.key: row.value for row in await db.execute(select(Param.key, Param.value))}


async def add(db: AsyncSession, param: Param) -> Param:
    db.add(param)
    await db.flush()
    return param


async def delete(db: AsyncSession, param: Param) -> None:
    await db.delete(param)
    await db.flush()
