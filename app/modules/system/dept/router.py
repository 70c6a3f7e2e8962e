"""HTTP routes for depts (`/api/v1/system/depts`)."""

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
from app.modules.system.dept import service
from app.modules.system.dept.models import DEPT_SORTS
from app.modules.system.dept.schemas import (
    DeptCreate,
    DeptFilters,
    DeptRead,
    DeptTreeNode,
    DeptUpdate,
)
from app.modules.system.permissions import (
    DEPT_CREATE,
    DEPT_DELETE,
    DEPT_LIST,
    DEPT_READ,
    DEPT_UPDATE,
)

router = APIRouter(prefix="/api/v1/system/depts", tags=["system: depts"])

depts_page = pagination(sorts=DEPT_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
DeptIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_depts(
    principal: Annotated[Principal, Depends(require(DEPT_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(depts_page)],
    name: Annotated[str | None, Query(max_length=64, description="Name contains")] = None,
    code: Annotated[str | None, Query(max_length=64, description="Exact code")] = None,
    status: Annotated[Status | None, Query()] = None,
    parent_id: Annotated[Id | None, Query()] = None,
) -> Envelope[CursorPage[DeptRead]]:
    """List the departments in the caller's data scope."""
    filters = DeptFilters(
        name=name.strip() if name else None,
        code=code.strip() if code else None,
        status=status,
        parent_id=parent_id,
    )
    return ok(await service.list_depts(db, principal, filters=filters, page=params))


@router.get("/tree", responses=error_responses(401, 403, 422))
async def get_dept_tree(
    principal: Annotated[Principal, Depends(require(DEPT_LIST))],
    db: SessionDep,
    status: Annotated[Status | None, Query()] = None,
) -> Envelope[list[DeptTreeNode]]:
    """The department tree the caller may see; a department whose parent is hidden is a root."""
    return ok(await service.tree(db, principal, status=status))


@router.get("/{dept_id}", responses=error_responses(401, 403, 404, 422))
async def get_dept(
    principal: Annotated[Principal, Depends(require(DEPT_READ))],
    db: SessionDep,
    dept_id: DeptIdPath,
) -> Envelope[DeptRead]:
    """One department."""
    return ok(DeptRead.model_validate(await service.get_dept(db, principal, dept_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_dept(
    principal: Annotated[Principal, Depends(require(DEPT_CREATE))],
    db: SessionDep,
    cache: CacheDep,
    body: DeptCreate,
) -> Envelope[DeptRead]:
    """Create a department, under `parent_id` or (scope "all" only) at the top level."""
    dept = await service.create_dept(db, cache, principal, body)
    return created(DeptRead.model_validate(dept))


@router.patch("/{dept_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_dept(
    principal: Annotated[Principal, Depends(require(DEPT_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    dept_id: DeptIdPath,
    body: DeptUpdate,
) -> Envelope[DeptRead]:
    """Edit a department; a new `parent_id` moves it with its whole subtree."""
    dept = await service.update_dept(db, cache, principal, dept_id, body)
    return ok(DeptRead.model_validate(dept))


@router.delete("/{dept_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422))
async def delete_dept(
    principal: Annotated[Principal, Depends(require(DEPT_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    dept_id: DeptIdPath,
) -> Response:
    """Delete a department that has neither sub-departments nor users."""
    await service.delete_dept(db, cache, principal, dept_id)
    return Response(status_code=204)
