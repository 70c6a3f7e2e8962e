"""The operation (audit) log: read, filter, export, clear (`/api/v1/system/operation-logs`).

Every route here also needs the data scope "all" (`require(..., all_data=True)`: 403 for a
department- or self-scoped caller, superusers pass). Entries name their actor, and carry
request paths, masked bodies and before/after records of whatever the request touched (users
of any department included), which no data-scope filter can sort reliably (a failed request
has no change record, a deleted user no department): so the list, the detail, the export and
the clearing are all-data operations, and all agree (docs/access-control.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
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
from app.core.schemas import Id, UtcDateTime, pattern
from app.modules.system.operation_log import clearing, service
from app.modules.system.operation_log.models import OPERATION_LOG_SORTS, OperationLog
from app.modules.system.operation_log.schemas import (
    ClearResult,
    OperationLogDetail,
    OperationLogFilters,
    OperationLogRead,
)
from app.modules.system.permissions import (
    OPERATION_LOG_CLEAR,
    OPERATION_LOG_EXPORT,
    OPERATION_LOG_LIST,
)

router = APIRouter(prefix="/api/v1/system/operation-logs", tags=["system: operation log"])

logs_page = pagination(sorts=OPERATION_LOG_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)


async def log_filters(
    user_id: Annotated[Id | None, Query()] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    module: Annotated[str | None, Query(max_length=64)] = None,
    method: Annotated[
        str | None,
        Query(
            pattern=pattern(
                "^(GET|POST|PUT|PATCH|DELETE)$", "must be one of GET, POST, PUT, PATCH, DELETE"
            )
        ),
    ] = None,
    success: bool | None = None,
    status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
) -> OperationLogFilters:
    """The filters from the query string (a dependency: `Depends(log_filters)`)."""
    return OperationLogFilters(
        user_id=user_id,
        username=username,
        module=module,
        method=method,
        success=success,
        status_code=status_code,
        since=since,
        until=until,
    )


@router.get("", responses=error_responses(401, 403, 422))
async def list_operation_logs(
    principal: Annotated[Principal, Depends(require(OPERATION_LOG_LIST, all_data=True))],
    db: SessionDep,
    page: Annotated[PageParams, Depends(logs_page)],
    filters: Annotated[OperationLogFilters, Depends(log_filters)],
) -> Envelope[CursorPage[OperationLogRead]]:
    """Recorded operations, newest first, with filters; deep pages by `cursor`."""
    return ok(await service.list_operation_logs(db, principal, filters=filters, page=page))


EXPORT_COLUMNS = [
    Column("id", "ID", width=10),
    Column("created_at", "Time", width=20),
    Column("username", "User", width=16),
    Column("module", "Module", width=12),
    Column("action", "Action", width=24),
    Column("method", "Method", width=8),
    Column("route", "Route", width=36),
    Column("status_code", "Status", width=8),
    Column("success", "Success", width=8),
    Column("error_message", "Error", width=36),
    Column("ip", "IP", width=16),
    Column("duration_ms", "Duration (ms)", width=12),
    Column("request_id", "Request id", width=34),
]


def _export_row(entry: OperationLog) -> list[object]:
    return [getattr(entry, column.key) for column in EXPORT_COLUMNS]


# Declared before `/{log_id}` so that "export" is not read as an id.
@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
async def export_operation_logs(
    request: Request,
    _principal: Annotated[Principal, Depends(require(OPERATION_LOG_EXPORT, all_data=True))],
    filters: Annotated[OperationLogFilters, Depends(log_filters)],
    file_format: Annotated[ExportFormat, Query(alias="format")] = "xlsx",
) -> StreamingResponse:
    """Download the filtered log as xlsx or CSV (streamed; the export is itself recorded)."""
    batches = service.export_batches(request.app.state.sessionmaker, filters, _export_row)
    return await export_response(file_format, EXPORT_COLUMNS, batches, "operation-log")


@router.get("/{log_id}", responses=error_responses(401, 403, 404))
async def get_operation_log(
    _principal: Annotated[Principal, Depends(require(OPERATION_LOG_LIST, all_data=True))],
    db: SessionDep,
    log_id: Annotated[Id, Path()],
) -> Envelope[OperationLogDetail]:
    """One operation with its (masked) query and body and the record changes it made."""
    return ok(await service.get_operation_log(db, log_id))


@router.delete("", responses=error_responses(401, 403, 422))
async def clear_operation_logs(
    _principal: Annotated[Principal, Depends(require(OPERATION_LOG_CLEAR, all_data=True))],
    db: SessionDep,
    before: UtcDateTime | None = None,
) -> Envelope[ClearResult]:
    """Delete entries (all, or those older than `before`); the clearing itself is recorded."""
    return ok(ClearResult(deleted=await clearing.clear_operation_log(db, before)))
