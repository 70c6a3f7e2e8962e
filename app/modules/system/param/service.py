"""Business rules of the parameters feature.

- `value` must parse as the parameter's `value_type` and is stored normalised.
- Keys are unique. Built-in parameters (made by `init`, read by the code) keep their key and
  type and cannot be deleted; only their value, name and remark change.
- An update may carry the `version` the client read: if the row has moved on, 409
  (docs/security-checklist.md §0 #19); the mapper's version column also turns a concurrent write
  into a 409.
- Every change is written to the change log and invalidates every process's cached map.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.concurrency import check_version, versioned_flush
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.operation_log.changes import record_change, snapshot
from app.modules.system.param import reader
from app.modules.system.param import repository as repo
from app.modules.system.param.exceptions import (
    BuiltInParamLocked,
    InvalidParamValue,
    ParamKeyTaken,
    ParamNotFound,
    ParamVersionMismatch,
)
from app.modules.system.param.models import Param
from app.modules.system.param.schemas import (
    ParamCreate,
    ParamFilters,
    ParamRead,
    ParamUpdate,
    normalise,
)

# What the change log records of a parameter.
CHANGE_FIELDS = ("key", "value", "name", "value_type", "remark")
# What a built-in parameter keeps whatever the request says.
BUILT_IN_FIXED = ("key", "value_type")


def _normalised(value_type: str, value: str) -> str:
    try:
        return normalise(value_type, value)
    except ValueError as exc:
        raise InvalidParamValue(value_type, str(exc)) from None


async def list_params(
    db: AsyncSession, principal: Principal, *, filters: ParamFilters, page: PageParams
) -> CursorPage[ParamRead]:
    """One page of parameters; parameters are not data-scoped."""
    statement = repo.list_statement(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[Param.id])
    return result.as_page(ParamRead)


async def get_param(db: AsyncSession, param_id: int) -> Param:
    param = await repo.get(db, param_id)
    if param is None:
        raise ParamNotFound()
    return param


async def get_param_by_key(db: AsyncSession, key: str) -> Param:
    param = await repo.get_by_key(db, key)
    if param is None:
        raise ParamNotFound()
    return param


async def create_param(db: AsyncSession, cache: Cache, data: ParamCreate) -> Param:
    value = _normalised(data.value_type, data.value)
    if await repo.key_taken(db, data.key):
        raise ParamKeyTaken()
    param = await repo.add(db, Param(**(data.model_dump() | {"value": value, "built_in": False})))
    await record_change(
        db,
        entity="param",
        entity_id=param.id,
        action="create",
        after=snapshot(param, CHANGE_FIELDS),
    )
    await reader.invalidate(cache, db)
    return param


async def update_param(db: AsyncSession, cache: Cache, param_id: int, data: ParamUpdate) -> Param:
    param = await get_param(db, param_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    check_version(changes.pop("version", None), param.version, ParamVersionMismatch)
    if param.built_in:
        for field in BUILT_IN_FIXED:
            if field in changes and changes[field] != getattr(param, field):
                raise BuiltInParamLocked(field)
    value_type = changes.get("value_type", param.value_type)
    if "value" in changes or "value_type" in changes:
        changes["value"] = _normalised(value_type, changes.get("value", param.value))
    if (
        "key" in changes
        and changes["key"] != param.key
        and await repo.key_taken(db, changes["key"], exclude_id=param.id)
    ):
        raise ParamKeyTaken()
    before = snapshot(param, CHANGE_FIELDS)
    for field, value in changes.items():
        setattr(param, field, value)
    # The version column moves; a concurrent writer's flush becomes a 409.
    await versioned_flush(db, ParamVersionMismatch)
    await record_change(
        db,
        entity="param",
        entity_id=param.id,
        action="update",
        before=before,
        after=snapshot(param, CHANGE_FIELDS),
    )
    await reader.invalidate(cache, db)
    return param


async def delete_param(db: AsyncSession, cache: Cache, param_id: int) -> None:
    param = await get_param(db, param_id)
    if param.built_in:
        raise BuiltInParamLocked()
    before = snapshot(param, CHANGE_FIELDS)
    await repo.delete(db, param)
    await record_change(db, entity="param", entity_id=param_id, action="delete", before=before)
    await reader.invalidate(cache, db)
