"""Online sessions: who is signed in where; force logout ends a session on every process."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.deps import CacheDep
from app.core.guard import require
from app.core.pagination import LARGE_LIST_EXACT_COUNT, CursorPage, PageParams, pagination
from app.core.responses import Envelope, error_responses, ok
from app.modules.monitor.permissions import SESSION_DELETE, SESSION_LIST
from app.modules.monitor.session import service
from app.modules.monitor.session.schemas import SessionFilters
from app.modules.system.auth.models import SESSION_SORTS
from app.modules.system.auth.schemas import SessionRead

router = APIRouter(prefix="/api/v1/monitor/sessions", tags=["monitor: sessions"])

sessions_page = pagination(sorts=SESSION_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)


@router.get("", responses=error_responses(401, 403, 422))
async def list_sessions(
    db: SessionDep,
    principal: Annotated[Principal, Depends(require(SESSION_LIST))],
    page: Annotated[PageParams, Depends(sessions_page)],
    username: Annotated[str | None, Query(max_length=64)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> Envelope[CursorPage[SessionRead]]:
    """Live sessions of the users in the caller's data scope (never any token)."""
    filters = SessionFilters(username=username, ip=ip)
    return ok(await service.list_sessions(db, principal, filters=filters, page=page))


@router.delete("/{session_id}", status_code=204, responses=error_responses(401, 403, 404))
async def delete_session(
    db: SessionDep,
    cache: CacheDep,
    principal: Annotated[Principal, Depends(require(SESSION_DELETE))],
    session_id: Annotated[str, Path(max_length=64)],
) -> Response:
    """Force a session to log out, at once on every process: 404 for a session of a user
    outside the caller's data scope, 403 for one of a user the caller has no power over (a
    superuser, or a user holding more than the caller: `auth.power`)."""
    await service.force_logout(db, cache, principal, session_id)
    return Response(status_code=204)
