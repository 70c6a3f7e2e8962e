"""Reading the login log: the list (one page) and the export (every matching row, in batches).

Both are all-data operations (the routes need the data scope "all"), so no row filter
applies beyond the caller's filters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Principal
from app.core.exports import keyset_batches
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.login_log import repository as repo
from app.modules.system.login_log.models import LoginLog
from app.modules.system.login_log.schemas import LoginLogFilters, LoginLogRead


async def list_login_logs(
    db: AsyncSession, principal: Principal, *, filters: LoginLogFilters, page: PageParams
) -> CursorPage[LoginLogRead]:
    """One page, newest first among equal times; the count bounded, deep pages by cursor.

    `principal` holds the data scope "all" (the route requires it): no row filter applies."""
    statement = repo.filtered(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[LoginLog.id.desc()])
    return result.as_page(LoginLogRead)


def export_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    filters: LoginLogFilters,
    row: Callable[[Any], Sequence[object]],
) -> AsyncIterator[list[Sequence[object]]]:
    """Every matching entry, in batches read by key (`app.core.exports.keyset_batches`)."""
    return keyset_batches(sessionmaker, repo.filtered(**asdict(filters)), LoginLog.id, row)
