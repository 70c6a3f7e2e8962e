"""The login log: read, filter, export, clear (`/api/v1/system/login-logs`).

Every route here also needs the data scope "all" (`require(..., all_data=True)`: 403 for a
department- or self-scoped caller, superusers pass). Entries name the account tried (user
id, username, IP, user agent) whatever its department, and an attempt for an unknown or
deleted name has no department at all to filter on: so the list, the export and the clearing
are all-data operations, like those of the operation log (docs/access-control.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.excel import Column
from app.core.exports import EXPORT_RESPONSES, ExportFormat, export_response
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, error_responses, ok
from app.core.schemas import Id, UtcDateTime
from app.modules.system.login_log import service
from app.modules.system.login_log.models import LOGIN_LOG_SORTS, LoginLog
from app.modules.system.login_log.schemas import LoginLogFilters, LoginLogRead
from app.modules.system.operation_log import clearing
from app.modules.system.operation_log.schemas import ClearResult
from app.modules.system.permissions import LOGIN_LOG_CLEAR, LOGIN_LOG_EXPORT, LOGIN_LOG_LIST

router = APIRouter(prefix="/api/v1/system/login-logs", tags=["system: login log"])

logs_page = pagination(sorts=LOGIN_LOG_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)


async def login_log_filters(
    username: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[Id | None, Query()] = None,
    event: Annotated[str | None, Query(max_length=32)] = None,
    success: bool | None = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
) -> LoginLogFilters:
    """The filters from the query string (a dependency: `Depends(login_log_filters)`)."""
    return LoginLogFilters(
        username=username,
        user_id=user_id,
        event=event,
        success=success,
        ip=ip,
        since=since,
        until=until,
    )


@router.get("", responses=error_responses(401, 403, 422))
async def list_login_logs(
    principal: Annotated[Principal, Depends(require(LOGIN_LOG_LIST, all_data=True))],
    db: SessionDep,
    page: Annotated[PageParams, Depends(logs_page)],
    filters: Annotated[LoginLogFilters, Depends(login_log_filters)],
) -> Envelope[CursorPage[LoginLogRead]]:
    """Sign-in attempts and session events, newest first, with filters; deep pages by `cursor`."""
    return ok(await service.list_login_logs(db, principal, filters=filters, page=page))


EXPORT_COLUMNS = [
    Column("id", "ID", width=10),
    Column("created_at", "Time", width=20),
    Column("username", "User", width=16),
    Column("event", "Event", width=14),
    Column("success", "Success", width=8),
    Column("reason", "Reason", width=18),
    Column("ip", "IP", width=16),
    Column("browser", "Browser", width=18),
    Column("os", "OS", width=16),
    Column("device", "Device", width=8),
]


def _export_row(entry: LoginLog) -> list[object]:
    return [getattr(entry, column.key) for column in EXPORT_COLUMNS]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
async def export_login_logs(
    request: Request,
    _principal: Annotated[Principal, Depends(require(LOGIN_LOG_EXPORT, all_data=True))],
    filters: Annotated[LoginLogFilters, Depends(login_log_filters)],
    file_format: Annotated[ExportFormat, Query(alias="format")] = "xlsx",
) -> StreamingResponse:
    """Download the filtered login log as xlsx or CSV (streamed)."""
    batches = service.export_batches(request.app.state.sessionmaker, filters, _export_row)
    return await export_response(file_format, EXPORT_COLUMNS, batches, "login-log")


@router.delete("", responses=error_responses(401, 403, 422))
async def clear_login_logs(
    _principal: Annotated[Principal, Depends(require(LOGIN_LOG_CLEAR, all_data=True))],
    db: SessionDep,
    before: UtcDateTime | None = None,
) -> Envelope[ClearResult]:
    """Delete entries (all, or those older than `before`); the clearing itself is recorded."""
    return ok(ClearResult(deleted=await clearing.clear_login_log(db, before)))
