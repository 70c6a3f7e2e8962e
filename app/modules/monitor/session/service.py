"""Online sessions: the list (in the caller's data scope) and the forced logout."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.database import utcnow
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.monitor.session import repository as repo
from app.modules.monitor.session.schemas import SessionFilters
from app.modules.system.auth import power, sessions
from app.modules.system.auth.exceptions import SessionNotFound
from app.modules.system.auth.models import AuthSession
from app.modules.system.auth.schemas import SessionRead


async def list_sessions(
    db: AsyncSession, principal: Principal, *, filters: SessionFilters, page: PageParams
) -> CursorPage[SessionRead]:
    """One page of the live sessions of users in the caller's data scope (never any token);
    the count bounded and deep pages by cursor, like every list."""
    statement = repo.online_sessions(principal, utcnow(), filters)
    result = await fetch_page(db, statement, page, tiebreaker=[AuthSession.id], whole_rows=True)
    items = [
        SessionRead.of(row, username, principal.session_id) for row, username, *_ in result.items
    ]
    return CursorPage[SessionRead](
        items=items,
        total=result.total,
        page=page.page,
        page_size=page.page_size,
        total_exact=result.total_exact,
        next_cursor=result.next_cursor,
    )


async def force_logout(
    db: AsyncSession, cache: Cache, principal: Principal, session_id: str
) -> None:
    """End a session on every process: 404 outside the caller's data scope, 403 for a user
    the caller has no power over (`auth.power`)."""
    now = utcnow()
    owner = await repo.online_session_owner(db, principal, now, session_id)
    if owner is None:
        raise SessionNotFound()
    await power.ensure_power_over_users(db, principal, [owner])
    await sessions.revoke_sessions(db, cache, [session_id], reason="forced_logout", now=now)
