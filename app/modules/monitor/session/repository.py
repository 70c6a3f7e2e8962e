"""SQL of the live-sessions monitor: sessions in use, with their user, inside a data scope."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal, scope_filter
from app.modules.monitor.session.schemas import SessionFilters
from app.modules.system.auth.models import AuthSession
from app.modules.system.user.models import User


def online_sessions(
    principal: Principal, now: datetime, filters: SessionFilters
) -> Select[AuthSession, str]:
    """Live sessions with their user's name, limited to users inside the caller's scope."""
    stmt = select(AuthSession, User.username).join(User, User.id == AuthSession.user_id)
    stmt = stmt.where(*AuthSession.live(now))
    scope = scope_filter(principal, dept_column=User.dept_id, owner_column=User.id)
    if scope is not None:
        stmt = stmt.where(scope)
    if filters.username:
        stmt = stmt.where(User.username.contains(filters.username, autoescape=True))
    if filters.ip:
        stmt = stmt.where(AuthSession.ip == filters.ip)
    return stmt


async def online_session_owner(
    db: AsyncSession, principal: Principal, now: datetime, session_id: str
) -> User | None:
    """The user of live session `session_id` if they are inside the caller's scope."""
    stmt = online_sessions(principal, now, SessionFilters())
    found = (await db.execute(stmt.where(AuthSession.id == session_id))).first()
    return None if found is None else await db.get(User, found[0].user_id)
