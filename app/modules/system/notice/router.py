"""HTTP routes for notices (`/api/v1/system/notices`).

Administrators manage them (NOTICE_* permissions); any signed-in user reads the published
ones at `/published`.
"""

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
from app.core.schemas import Id
from app.modules.system.notice import service
from app.modules.system.notice.models import NOTICE_SORTS, PUBLISHED_NOTICE_SORTS
from app.modules.system.notice.schemas import (
    NoticeCreate,
    NoticeFilters,
    NoticeRead,
    NoticeStatus,
    NoticeType,
    NoticeUpdate,
    PublishedNoticeFilters,
)
from app.modules.system.permissions import (
    NOTICE_CREATE,
    NOTICE_DELETE,
    NOTICE_LIST,
    NOTICE_READ,
    NOTICE_UPDATE,
)

router = APIRouter(prefix="/api/v1/system/notices", tags=["system: notices"])

notices_page = pagination(sorts=NOTICE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
published_page = pagination(sorts=PUBLISHED_NOTICE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
NoticeIdPath = Annotated[Id, Path()]


@router.get("", responses=error_responses(401, 403, 422))
async def list_notices(
    principal: Annotated[Principal, Depends(require(NOTICE_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(notices_page)],
    title: Annotated[str | None, Query(max_length=200, description="Title contains")] = None,
    type: Annotated[NoticeType | None, Query()] = None,
    status: Annotated[NoticeStatus | None, Query()] = None,
) -> Envelope[CursorPage[NoticeRead]]:
    """List notices, drafts included."""
    filters = NoticeFilters(title=title.strip() if title else None, type=type, status=status)
    return ok(await service.list_notices(db, principal, filters=filters, page=params))


# Declared before `/{notice_id}` so that "published" is not taken for an id.
@router.get("/published", responses=error_responses(401, 403, 422))
async def list_published_notices(
    principal: Annotated[Principal, Depends(require())],
    db: SessionDep,
    params: Annotated[PageParams, Depends(published_page)],
    type: Annotated[NoticeType | None, Query()] = None,
) -> Envelope[CursorPage[NoticeRead]]:
    """Published notices for any signed-in user, newest first."""
    filters = PublishedNoticeFilters(type=type)
    return ok(await service.list_published_notices(db, principal, filters=filters, page=params))


@router.get("/{notice_id}", responses=error_responses(401, 403, 404, 422))
async def get_notice(
    _principal: Annotated[Principal, Depends(require(NOTICE_READ))],
    db: SessionDep,
    notice_id: NoticeIdPath,
) -> Envelope[NoticeRead]:
    """One notice."""
    return ok(NoticeRead.model_validate(await service.get_notice(db, notice_id)))


@router.post("", status_code=201, responses=error_responses(401, 403, 422))
async def create_notice(
    principal: Annotated[Principal, Depends(require(NOTICE_CREATE))],
    db: SessionDep,
    body: NoticeCreate,
) -> Envelope[NoticeRead]:
    """Create a notice; its HTML content is sanitised."""
    return created(NoticeRead.model_validate(await service.create_notice(db, principal, body)))


@router.patch("/{notice_id}", responses=error_responses(401, 403, 404, 422))
async def update_notice(
    _principal: Annotated[Principal, Depends(require(NOTICE_UPDATE))],
    db: SessionDep,
    notice_id: NoticeIdPath,
    body: NoticeUpdate,
) -> Envelope[NoticeRead]:
    """Edit or publish a notice; its HTML content is sanitised."""
    return ok(NoticeRead.model_validate(await service.update_notice(db, notice_id, body)))


@router.delete("/{notice_id}", status_code=204, responses=error_responses(401, 403, 404, 422))
async def delete_notice(
    _principal: Annotated[Principal, Depends(require(NOTICE_DELETE))],
    db: SessionDep,
    notice_id: NoticeIdPath,
) -> Response:
    """Delete a notice."""
    await service.delete_notice(db, notice_id)
    return Response(status_code=204)
