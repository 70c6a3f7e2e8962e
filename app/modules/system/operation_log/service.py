"""Reading the operation log: the list (one page), one entry with its changes, the export.

All are all-data operations (the routes need the data scope "all"), so no row filter applies
beyond the caller's filters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Principal
from app.core.errors import NotFound
from app.core.exports import keyset_batches
from app.core.pagination import CursorPage, PageParams, fetch_page
from app.modules.system.operation_log import repository as repo
from app.modules.system.operation_log.models import OperationLog
from app.modules.system.operation_log.schemas import (
    ChangeRead,
    OperationLogDetail,
    OperationLogFilters,
    OperationLogRead,
)


class LogNotFound(NotFound):
    default_message = "Operation log entry not found"


async def list_operation_logs(
    db: AsyncSession, principal: Principal, *, filters: OperationLogFilters, page: PageParams
) -> CursorPage[OperationLogRead]:
    """One page, newest first among equal times; the count bounded, deep pages by cursor.

    `principal` holds the data scope "all" (the route requires it): no row filter applies."""
    statement = repo.filtered(**asdict(filters))
    result = await fetch_page(db, statement, page, tiebreaker=[OperationLog.id.desc()])
    return result.as_page(OperationLogRead)


async def get_operation_log(db: AsyncSession, log_id: int) -> OperationLogDetail:
    """One entry with the record changes its request made."""
    entry = await repo.get(db, log_id)
    if entry is None:
        raise LogNotFound()
    detail = OperationLogDetail.model_validate(entry)
    detail.changes = [
        ChangeRead.model_validate(c) for c in await repo.changes_for(db, entry.request_id)
    ]
    return detail


def export_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    filters: OperationLogFilters,
    row: Callable[[Any], Sequence[object]],
) -> AsyncIterator[list[Sequence[object]]]:
    """Every matching entry, in batches read by key (`app.core.exports.keyset_batches`)."""
    return keyset_batches(sessionmaker, repo.filtered(**asdict(filters)), OperationLog.id, row)
