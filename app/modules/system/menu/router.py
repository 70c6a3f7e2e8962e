"""HTTP routes for menus (`/api/v1/system/menus`)."""

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
from app.modules.system.menu import service
from app.modules.system.menu.models import MENU_SORTS
from app.modules.system.menu.schemas import (
    MenuCreate,
    MenuFilters,
    MenuRead,
    MenuTreeNode,
    MenuType,
    MenuUpdate,
)
from app.modules.system.permissions import (
    MENU_CREATE,
    MENU_DELETE,
    MENU_LIST,
    MENU_READ,
    MENU_UPDATE,
)

router = APIRouter(prefix="/api/v1/system/menus", tags=["system: menus"])

menus_page = pagination(sorts=MENU_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
MenuIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_menus(
    principal: Annotated[Principal, Depends(require(MENU_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(menus_page)],
    title: Annotated[str | None, Query(max_length=64, description="Title contains")] = None,
    type: Annotated[MenuType | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    visible: Annotated[bool | None, Query()] = None,
) -> Envelope[CursorPage[MenuRead]]:
    """List menus and buttons (flat)."""
    filters = MenuFilters(
        title=title.strip() if title else None, type_=type, status=status, visible=visible
    )
    return ok(await service.list_menus(db, principal, filters=filters, page=params))


@router.get("/tree", responses=error_responses(401, 403))
async def get_menu_tree(
    _principal: Annotated[Principal, Depends(require(MENU_LIST))],
    db: SessionDep,
) -> Envelope[list[MenuTreeNode]]:
    """Every menu as a tree (`children` ordered by `sort`, then `id`)."""
    return ok(await service.tree(db))


@router.get("/{menu_id}", responses=error_responses(401, 403, 404, 422))
async def get_menu(
    _principal: Annotated[Principal, Depends(require(MENU_READ))],
    db: SessionDep,
    menu_id: MenuIdPath,
) -> Envelope[MenuRead]:
    """One menu or button."""
    return ok(MenuRead.model_validate(await service.get_menu(db, menu_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 422))
async def create_menu(
    principal: Annotated[Principal, Depends(require(MENU_CREATE))],
    db: SessionDep,
    cache: CacheDep,
    body: MenuCreate,
) -> Envelope[MenuRead]:
    """Create a directory, menu or button."""
    menu = await service.create_menu(db, cache, principal, body)
    return created(MenuRead.model_validate(menu))


@router.patch("/{menu_id}", responses=error_responses(401, 403, 404, 409, 422))
async def update_menu(
    principal: Annotated[Principal, Depends(require(MENU_UPDATE))],
    db: SessionDep,
    cache: CacheDep,
    menu_id: MenuIdPath,
    body: MenuUpdate,
) -> Envelope[MenuRead]:
    """Edit or move a menu; permission changes apply to its holders on their next request."""
    menu = await service.update_menu(db, cache, principal, menu_id, body)
    return ok(MenuRead.model_validate(menu))


@router.delete("/{menu_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 422))
async def delete_menu(
    principal: Annotated[Principal, Depends(require(MENU_DELETE))],
    db: SessionDep,
    cache: CacheDep,
    menu_id: MenuIdPath,
) -> Response:
    """Delete a menu without sub-menus; roles lose the grant with it (403 for a menu whose
    code the caller does not hold)."""
    await service.delete_menu(db, cache, principal, menu_id)
    return Response(status_code=204)
