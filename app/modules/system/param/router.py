"""HTTP routes for parameters (`/api/v1/system/params`)."""

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
from app.core.schemas import Id
from app.modules.system.param import service
from app.modules.system.param.models import PARAM_SORTS
from app.modules.system.param.schemas import (
    KEY_PATTERN,
    ParamCreate,
    ParamFilters,
    ParamRead,
    ParamUpdate,
)
from app.modules.system.permissions import (
    PARAM_CREATE,
    PARAM_DELETE,
    PARAM_LIST,
    PARAM_READ,
    PARAM_UPDATE,
)

router = APIRouter(prefix="/api/v1/system/params", tags=["system: parameters"])

params_page = pagination(sorts=PARAM_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
ParamIdPath = Annotated[Id, Path()]


def _stripped(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@router.get("", responses=error_responses(401, 403, 422))
async def list_params(
    principal: Annotated[Principal, Depends(require(PARAM_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(params_page)],
    key: Annotated[str | None, Query(max_length=100, description="Key contains")] = None,
    name: Annotated[str | None, Query(max_length=100, description="Name contains")] = None,
    built_in: Annotated[bool | None, Query(description="Built-in (made by init)")] = None,
) -> Envelope[CursorPage[ParamRead]]:
    """List parameters."""
    filters = ParamFilters(key=_stripped(key), name=_stripped(name), built_in=built_in)
    return ok(await service.list_params(db, principal, filters=filters, page=params))


@router.get("/key/{key}", responses=error_responses(401, 403, 404, 422))
async def get_param_by_key(
    _principal: Annotated[Principal, Depends(require(PARAM_READ))],
    db: SessionDep,
    key: Annotated[str, Path(max_length=100, pattern=KEY_PATTERN)],
) -> Envelope[ParamRead]:
    """One parameter, by its key."""
    return ok(ParamRead.model_validate(await service.get_param_by_key(db, key)))


@router.get("/{param_id}", responses=error_responses(401, 403, 404, 422))
async def get_param(
    _principal: Annotated[Principal, Depends(require(PARAM_READ))],
    db: SessionDep,
    param_id: ParamIdPath,
) -> Envelope[ParamRead]:
    """One parameter."""
    return ok(ParamRead.model_validate(await service.get_param(db, param_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_param(
    _principal: Annotated[Principal, Depends(require(PARAM_CREATE))],
    db: SessionDep,
    cache: CacheDep,
    body: ParamCreate,
) -> Envelope[ParamRead]:
    """Create a parameter; its `key` must be unique and its `value` parse as `value_type`."""
    return created(ParamRead.model_validate(await service.create_param(db, cache, body)))


@router.patch("/{param_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_param(
    _principal: Annotated[Principal, Depends(require(PARAM_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    param_id: ParamIdPath,
    body: ParamUpdate,
) -> Envelope[ParamRead]:
    """Edit a parameter; send the `version` you read to refuse overwriting someone else."""
    return ok(ParamRead.model_validate(await service.update_param(db, cache, param_id, body)))


@router.delete("/{param_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422))
async def delete_param(
    _principal: Annotated[Principal, Depends(require(PARAM_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    param_id: ParamIdPath,
) -> Response:
    """Delete a parameter that is not built in."""
    await service.delete_param(db, cache, param_id)
    return Response(status_code=204)
