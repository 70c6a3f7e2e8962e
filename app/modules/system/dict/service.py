"""Business rules of the dictionaries feature.

Type codes are unique; item values are unique within their type (case-insensitively, so the
rule is the same on every database); an item's type must exist. Renaming a type's code carries
its items along (the foreign key cascades on update), deleting a type deletes its items.
Every change invalidates the shared cache of the public read for every process.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.dict import cache as dict_cache
from app.modules.system.dict import repository as repo
from app.modules.system.dict.exceptions import (
    DictDataNotFound,
    DictNotFound,
    DictTypeCodeTaken,
    DictTypeNotFound,
    DictValueTaken,
    UnknownDictType,
)
from app.modules.system.dict.models import DictData, DictType
from app.modules.system.dict.schemas import (
    TYPE_CODE_RE,
    DictDataCreate,
    DictDataFilters,
    DictDataRead,
    DictDataUpdate,
    DictTypeCreate,
    DictTypeFilters,
    DictTypeRead,
    DictTypeUpdate,
)

# ------------------------------------------------------------------------ dict types --


async def list_dict_types(
    db: AsyncSession, principal: Principal, *, filters: DictTypeFilters, page: PageParams
) -> CursorPage[DictTypeRead]:
    """One page of dictionary types."""
    statement = repo.type_list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[DictType.id])
    return result.as_page(DictTypeRead)


async def get_type(db: AsyncSession, type_id: int) -> DictType:
    row = await repo.get_type(db, type_id)
    if row is None:
        raise DictTypeNotFound()
    return row


async def create_type(db: AsyncSession, cache: Cache, data: DictTypeCreate) -> DictType:
    if await repo.code_taken(db, data.code):
        raise DictTypeCodeTaken()
    row = DictType(**data.model_dump())
    await repo.add(db, row)
    await dict_cache.invalidate(cache, db)
    return row


async def update_type(
    db: AsyncSession, cache: Cache, type_id: int, data: DictTypeUpdate
) -> DictType:
    row = await get_type(db, type_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if (
        "code" in changes
        and changes["code"] != row.code
        and await repo.code_taken(db, changes["code"], exclude_id=row.id)
    ):
        raise DictTypeCodeTaken()
    for field, value in changes.items():
        setattr(row, field, value)
    # A new code reaches the items through ON UPDATE CASCADE, in the database.
    await db.flush()
    await dict_cache.invalidate(cache, db)
    return row


async def delete_type(db: AsyncSession, cache: Cache, type_id: int) -> None:
    row = await get_type(db, type_id)
    # Its items go with it: ON DELETE CASCADE.
    await repo.delete(db, row)
    await dict_cache.invalidate(cache, db)


# ------------------------------------------------------------------------- dict data --


async def list_dict_data(
    db: AsyncSession, principal: Principal, *, filters: DictDataFilters, page: PageParams
) -> CursorPage[DictDataRead]:
    """One page of dictionary items."""
    statement = repo.data_list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[DictData.id])
    return result.as_page(DictDataRead)


async def get_data(db: AsyncSession, data_id: int) -> DictData:
    row = await repo.get_data(db, data_id)
    if row is None:
        raise DictDataNotFound()
    return row


async def create_data(db: AsyncSession, cache: Cache, data: DictDataCreate) -> DictData:
    if not await repo.type_exists(db, data.type_code):
        raise UnknownDictType()
    if await repo.value_taken(db, data.type_code, data.value):
        raise DictValueTaken()
    row = DictData(**data.model_dump())
    await repo.add(db, row)
    await dict_cache.invalidate(cache, db)
    return row


async def update_data(
    db: AsyncSession, cache: Cache, data_id: int, data: DictDataUpdate
) -> DictData:
    row = await get_data(db, data_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    type_code = changes.get("type_code", row.type_code)
    value = changes.get("value", row.value)
    if type_code != row.type_code and not await repo.type_exists(db, type_code):
        raise UnknownDictType()
    if (type_code, value.lower()) != (row.type_code, row.value.lower()) and await repo.value_taken(
        db, type_code, value, exclude_id=row.id
    ):
        raise DictValueTaken()
    for field, new in changes.items():
        setattr(row, field, new)
    await db.flush()
    await dict_cache.invalidate(cache, db)
    return row


async def delete_data(db: AsyncSession, cache: Cache, data_id: int) -> None:
    row = await get_data(db, data_id)
    await repo.delete(db, row)
    await dict_cache.invalidate(cache, db)


# ----------------------------------------------------------------------- public read --


async def active_items(db: AsyncSession, cache: Cache, type_code: str) -> list[dict[str, Any]]:
    """The active items of an active type, from the shared cache; 404 otherwise."""
    if not TYPE_CODE_RE.fullmatch(type_code):
        raise DictNotFound()  # cannot exist: no cache entry, no query
    items = await dict_cache.active_items(db, cache, type_code)
    if items is None:
        raise DictNotFound()
    return items
