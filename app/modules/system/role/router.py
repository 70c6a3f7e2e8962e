"""HTTP routes for roles (`/api/v1/system/roles`)."""

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
from app.modules.system.permissions import (
    ROLE_CREATE,
    ROLE_DELETE,
    ROLE_LIST,
    ROLE_READ,
    ROLE_UPDATE,
)
from app.modules.system.role import service
from app.modules.system.role.models import ROLE_SORTS
from app.modules.system.role.schemas import RoleCreate, RoleFilters, RoleRead, RoleUpdate

router = APIRouter(prefix="/api/v1/system/roles", tags=["system: roles"])

roles_page = pagination(sorts=ROLE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
RoleIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_roles(
    principal: Annotated[Principal, Depends(require(ROLE_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(roles_page)],
    name: Annotated[str | None, Query(max_length=64, description="Name contains")] = None,
    code: Annotated[str | None, Query(max_length=64, description="Exact code")] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Envelope[CursorPage[RoleRead]]:
    """List roles with their menu and department ids."""
    filters = RoleFilters(
        name=name.strip() if name else None, code=code.strip() if code else None, status=status
    )
    return ok(await service.list_roles(db, principal, filters=filters, page=params))


@router.get("/{role_id}", responses=error_responses(401, 403, 404, 422))
async def get_role(
    _principal: Annotated[Principal, Depends(require(ROLE_READ))],
    db: SessionDep,
    role_id: RoleIdPath,
) -> Envelope[RoleRead]:
    """One role with its menu and department ids."""
    return ok(await service.get_role(db, role_id))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_role(
    principal: Annotated[Principal, Depends(require(ROLE_CREATE))],
    db: SessionDep,
    body: RoleCreate,
) -> Envelope[RoleRead]:
    """Create a role; a non-superuser can only put in it what they hold themselves."""
    return created(await service.create_role(db, principal, body))


@router.patch("/{role_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_role(
    principal: Annotated[Principal, Depends(require(ROLE_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    role_id: RoleIdPath,
    body: RoleUpdate,
) -> Envelope[RoleRead]:
    """Edit a role; `menu_ids` / `dept_ids` replace its grants and apply on the next request."""
    role = await service.update_role(db, cache, principal, role_id, body)
    return ok(role)


@router.delete("/{role_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422))
async def delete_role(
    principal: Annotated[Principal, Depends(require(ROLE_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    role_id: RoleIdPath,
) -> Response:
    """Delete a role, even one in use: its holders lose its grants at once (403 for a role
    with permissions, a data scope or holders beyond the caller's)."""
    await service.delete_role(db, cache, principal, role_id)
    return Response(status_code=204)
