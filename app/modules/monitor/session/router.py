"""Online sessions: who is signed in where; force logout ends a session on every process."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.core.access import Principal
from app.core.database import SessionDep, utcnow
from app.core.deps import CacheDep
from app.core.guard import require
from app.core.pagination import Page, PageParams, pagination
from app.core.responses import Envelope, error_responses, ok
from app.modules.monitor.permissions import SESSION_DELETE, SESSION_LIST
from app.modules.system.auth import power, sessions
from app.modules.system.auth import repository as auth_repository
from app.modules.system.auth.exceptions import SessionNotFound
from app.modules.system.auth.models import AuthSession
from app.modules.system.auth.schemas import SessionRead
from app.modules.system.user.models import User

router = APIRouter(prefix="/api/v1/monitor/sessions", tags=["monitor: sessions"])

sessions_page = pagination(
    sortable={"created_at": AuthSession.created_at, "last_seen_at": AuthSession.last_seen_at},
    default="-last_seen_at",
)


@router.get("", responses=error_responses(401, 403, 422))
async def list_sessions(
    db: SessionDep,
    principal: Annotated[Principal, Depends(require(SESSION_LIST))],
    params: Annotated[PageParams, Depends(sessions_page)],
    username: Annotated[str | None, Query(max_length=64)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> Envelope[Page[SessionRead]]:
    """Live sessions of the users in the caller's data scope (never any token)."""
    stmt = auth_repository.online_sessions_query(principal, utcnow(), username=username, ip=ip)
    total = await auth_repository.count(db, stmt)
    rows = (
        await db.execute(
            stmt.order_by(*params.order_by, AuthSession.id)
            .limit(params.page_size)
            .offset(params.offset)
        )
    ).all()
    items = [
        SessionRead(
            session_id=row.id,
            user_id=row.user_id,
            username=username_,
            ip=row.ip,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            current=row.id == principal.session_id,
        )
        for row, username_ in rows
    ]
    return ok(
        Page[SessionRead](items=items, total=total, page=params.page, page_size=params.page_size)
    )


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
    stmt = auth_repository.online_sessions_query(principal, utcnow(), username=None, ip=None)
    found = (await db.execute(stmt.where(AuthSession.id == session_id))).first()
    if found is None:
        raise SessionNotFound()
    owner = await db.get(User, found[0].user_id)
    if owner is None:
        raise SessionNotFound()
    await power.ensure_power_over_users(db, principal, [owner])
    await sessions.revoke_sessions(db, cache, [session_id], reason="forced_logout", now=utcnow())
    return Response(status_code=204)
