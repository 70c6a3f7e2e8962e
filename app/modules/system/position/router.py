"""HTTP routes for positions (`/api/v1/system/positions`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id, Status
from app.modules.system.permissions import (
    POSITION_CREATE,
    POSITION_DELETE,
    POSITION_LIST,
    POSITION_READ,
    POSITION_UPDATE,
)
from app.modules.system.position import service
from app.modules.system.position.models import POSITION_SORTS
from app.modules.system.position.schemas import (
    PositionCreate,
    PositionFilters,
    PositionRead,
    PositionUpdate,
)

router = APIRouter(prefix="/api/v1/system/positions", tags=["system: positions"])

positions_page = pagination(sorts=POSITION_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
PositionIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_positions(
    principal: Annotated[Principal, Depends(require(POSITION_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(positions_page)],
    name: Annotated[str | None, Query(max_length=64, description="Name contains")] = None,
    code: Annotated[str | None, Query(max_length=64, description="Exact code")] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Envelope[CursorPage[PositionRead]]:
    """List positions."""
    filters = PositionFilters(
        name=name.strip() if name else None, code=code.strip() if code else None, status=status
    )
    return ok(await service.list_positions(db, principal, filters=filters, page=params))


@router.get("/{position_id}", responses=error_responses(401, 403, 404, 422))
async def get_position(
    _principal: Annotated[Principal, Depends(require(POSITION_READ))],
    db: SessionDep,
    position_id: PositionIdPath,
) -> Envelope[PositionRead]:
    """One position."""
    return ok(PositionRead.model_validate(await service.get_position(db, position_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_position(
    _principal: Annotated[Principal, Depends(require(POSITION_CREATE))],
    db: SessionDep,
    body: PositionCreate,
) -> Envelope[PositionRead]:
    """Create a position; its `code` must be unique."""
    return created(PositionRead.model_validate(await service.create_position(db, body)))


@router.patch("/{position_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_position(
    _principal: Annotated[Principal, Depends(require(POSITION_UPDATE))],
    db: SessionDep,
    position_id: PositionIdPath,
    body: PositionUpdate,
) -> Envelope[PositionRead]:
    """Edit a position."""
    position = await service.update_position(db, position_id, body)
    return ok(PositionRead.model_validate(position))


@router.delete(
    "/{position_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422)
)
async def delete_position(
    _principal: Annotated[Principal, Depends(require(POSITION_DELETE))],
    db: SessionDep,
    position_id: PositionIdPath,
) -> Response:
    """Delete a position no user holds."""
    await service.delete_position(db, position_id)
    return Response(status_code=204)
