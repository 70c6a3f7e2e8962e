"""Streaming exports for list endpoints: keyset batches from a session of the export's own,
rendered as xlsx or CSV by `app.core.excel`, with bounded memory whatever the row count.

    @router.get("/export", response_class=StreamingResponse)
    async def export_things(request: Request, format: ExportFormat = "xlsx", ...):
        stmt = repo.filtered(...)                        # the list's own filters and scope
        rows = keyset_batches(request.app.state.sessionmaker, stmt, Thing.id, to_row)
        return await export_response(format, COLUMNS, rows, "things")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal, TypeVar

from fastapi.responses import StreamingResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from app.core.excel import Column, stream_csv, stream_xlsx
from app.core.excel.cells import XLSX_MEDIA_TYPE
from app.core.responses import error_responses

T = TypeVar("T")
ExportFormat = Literal["xlsx", "csv"]
BATCH_SIZE = 1000
# OpenAPI `responses=` of an export route: the two file types and the usual errors.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {XLSX_MEDIA_TYPE: {}, "text/csv": {}}},
    **error_responses(401, 403, 422),
}


async def keyset_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    statement: Select[Any],
    key: InstrumentedAttribute[int],
    to_row: Callable[[Any], Sequence[object]],
    *,
    size: int = BATCH_SIZE,
) -> AsyncIterator[list[Sequence[object]]]:
    """Rows of `statement`, newest key first, `size` at a time, never OFFSET.

    The response streams after the request's own session has closed, so the export reads in
    a session of its own.
    """
    last: int | None = None
    async with sessionmaker() as db:
        while True:
            page = statement.order_by(key.desc()).limit(size)
            if last is not None:
                page = page.where(key < last)
            rows = (await db.execute(page)).scalars().all()
            if not rows:
                return
            yield [to_row(row) for row in rows]
            last = getattr(rows[-1], key.key)


async def read_ahead(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """`items` with its first item already read.

    A streamed answer starts (status 200, headers sent) before its body is produced, so an
    error in the body's first query -- the database down, a value it refuses (a NUL byte on
    PostgreSQL) -- could only cut the download short. Read ahead in the route, the first
    query fails there and becomes the route's error answer (503, 422) instead."""
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _chain(None, items)
    return _chain((first,), items)


async def _chain(first: tuple[T] | None, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    if first is None:
        return
    yield first[0]
    async for item in rest:
        yield item


async def export_response(
    file_format: ExportFormat,
    columns: Sequence[Column],
    batches: AsyncIterator[list[Sequence[object]]],
    filename: str,
) -> StreamingResponse:
    """A download of `batches` as `<filename>.xlsx` or `.csv`; the first batch is read before
    the response starts (`read_ahead`)."""
    batches = await read_ahead(batches)
    if file_format == "csv":
        body: AsyncIterator[Any] = stream_csv(columns, batches)
        media_type = "text/csv; charset=utf-8"
    else:
        body = stream_xlsx(columns, batches)
        media_type = XLSX_MEDIA_TYPE
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}.{file_format}"'},
    )
