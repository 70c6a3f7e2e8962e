"""HTTP routes for dictionaries.

- `/api/v1/system/dict-types`: the types (`dict_type_router`), for administrators.
- `/api/v1/system/dict-data`: their items (`dict_data_router`), for administrators.
- `/api/v1/system/dicts/{type_code}`: the active items of one type, for any signed-in user,
  served from the shared cache (`dict_router`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.deps import CacheDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id, Status
from app.modules.system.dict import service
from app.modules.system.dict.models import DICT_DATA_SORTS, DICT_TYPE_SORTS
from app.modules.system.dict.schemas import (
    DictDataCreate,
    DictDataFilters,
    DictDataRead,
    DictDataUpdate,
    DictItem,
    DictTypeCreate,
    DictTypeFilters,
    DictTypeRead,
    DictTypeUpdate,
)
from app.modules.system.permissions import (
    DICT_CREATE,
    DICT_DELETE,
    DICT_LIST,
    DICT_READ,
    DICT_UPDATE,
)

dict_type_router = APIRouter(prefix="/api/v1/system/dict-types", tags=["system: dictionaries"])
dict_data_router = APIRouter(prefix="/api/v1/system/dict-data", tags=["system: dictionaries"])
dict_router = APIRouter(prefix="/api/v1/system/dicts", tags=["system: dictionaries"])

types_page = pagination(sorts=DICT_TYPE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
data_page = pagination(sorts=DICT_DATA_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
IdPath = Annotated[Id, Path()]


def _stripped(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


# ------------------------------------------------------------------------ dict types --


@dict_type_router.get("", responses=error_responses(401, 403, 422))
async def list_dict_types(
    principal: Annotated[Principal, Depends(require(DICT_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(types_page)],
    name: Annotated[str | None, Query(max_length=100, description="Name contains")] = None,
    code: Annotated[str | None, Query(max_length=100, description="Exact code")] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Envelope[CursorPage[DictTypeRead]]:
    """List dictionary types."""
    filters = DictTypeFilters(name=_stripped(name), code=_stripped(code), status=status)
    return ok(await service.list_dict_types(db, principal, filters=filters, page=params))


@dict_type_router.get("/{type_id}", responses=error_responses(401, 403, 404, 422))
async def get_dict_type(
    _principal: Annotated[Principal, Depends(require(DICT_READ))],
    db: SessionDep,
    type_id: IdPath,
) -> Envelope[DictTypeRead]:
    """One dictionary type."""
    return ok(DictTypeRead.model_validate(await service.get_type(db, type_id)))


@dict_type_router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_dict_type(
    _principal: Annotated[Principal, Depends(require(DICT_CREATE))],
    db: SessionDep,
    cache: CacheDep,
    body: DictTypeCreate,
) -> Envelope[DictTypeRead]:
    """Create a dictionary type; its `code` must be unique."""
    return created(DictTypeRead.model_validate(await service.create_type(db, cache, body)))


@dict_type_router.patch("/{type_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_dict_type(
    _principal: Annotated[Principal, Depends(require(DICT_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    type_id: IdPath,
    body: DictTypeUpdate,
) -> Envelope[DictTypeRead]:
    """Edit a dictionary type; a new `code` is carried to its items."""
    return ok(DictTypeRead.model_validate(await service.update_type(db, cache, type_id, body)))


@dict_type_router.delete(
    "/{type_id}", status_code=204, responses=error_responses(401, 403, 404, 422)
)
async def delete_dict_type(
    _principal: Annotated[Principal, Depends(require(DICT_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    type_id: IdPath,
) -> Response:
    """Delete a dictionary type and its items."""
    await service.delete_type(db, cache, type_id)
    return Response(status_code=204)


# ------------------------------------------------------------------------- dict data --


@dict_data_router.get("", responses=error_responses(401, 403, 422))
async def list_dict_data(
    principal: Annotated[Principal, Depends(require(DICT_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(data_page)],
    type_code: Annotated[str | None, Query(max_length=100, description="Exact type code")] = None,
    label: Annotated[str | None, Query(max_length=100, description="Label contains")] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Envelope[CursorPage[DictDataRead]]:
    """List dictionary items."""
    filters = DictDataFilters(type_code=_stripped(type_code), label=_stripped(label), status=status)
    return ok(await service.list_dict_data(db, principal, filters=filters, page=params))


@dict_data_router.get("/{data_id}", responses=error_responses(401, 403, 404, 422))
async def get_dict_data(
    _principal: Annotated[Principal, Depends(require(DICT_READ))],
    db: SessionDep,
    data_id: IdPath,
) -> Envelope[DictDataRead]:
    """One dictionary item."""
    return ok(DictDataRead.model_validate(await service.get_data(db, data_id)))


@dict_data_router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_dict_data(
    _principal: Annotated[Principal, Depends(require(DICT_CREATE))],
    db: SessionDep,
    cache: CacheDep,
    body: DictDataCreate,
) -> Envelope[DictDataRead]:
    """Add an item to a dictionary type; its `value` must be unique within the type."""
    return created(DictDataRead.model_validate(await service.create_data(db, cache, body)))


@dict_data_router.patch("/{data_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_dict_data(
    _principal: Annotated[Principal, Depends(require(DICT_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    data_id: IdPath,
    body: DictDataUpdate,
) -> Envelope[DictDataRead]:
    """Edit a dictionary item."""
    return ok(DictDataRead.model_validate(await service.update_data(db, cache, data_id, body)))


@dict_data_router.delete(
    "/{data_id}", status_code=204, responses=error_responses(401, 403, 404, 422)
)
async def delete_dict_data(
    _principal: Annotated[Principal, Depends(require(DICT_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    data_id: IdPath,
) -> Response:
    """Delete a dictionary item."""
    await service.delete_data(db, cache, data_id)
    return Response(status_code=204)


# ----------------------------------------------------------------------- public read --


@dict_router.get("/{type_code}", responses=error_responses(401, 403, 404))
async def get_dict(
    _principal: Annotated[Principal, Depends(require())],
    db: SessionDep,
    cache: CacheDep,
    type_code: Annotated[str, Path(description="Dictionary type code")],
) -> Envelope[list[DictItem]]:
    """The active items of an active dictionary type, for any signed-in user."""
    items = await service.active_items(db, cache, type_code)
    return ok([DictItem.model_validate(item) for item in items])
