"""HTTP routes for files (`/api/v1/files`).

Upload needs FILE_UPLOAD; listing needs FILE_LIST (data scope). Reading, downloading and
deleting one file are open to any signed-in caller at the route, and the service admits the
owner, or a holder of FILE_READ / FILE_DELETE with the file in their data scope (others: 404).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.database import SessionDep
from app.core.deps import SettingsDep
from app.core.guard import require
from app.core.pagination import (
    LARGE_LIST_EXACT_COUNT,
    CursorPage,
    PageParams,
    pagination,
)
from app.core.responses import Envelope, created, error_responses, ok
from app.core.schemas import Id, pattern
from app.modules.files import service
from app.modules.files.detect import TYPES
from app.modules.files.exceptions import FileTooLarge, MalformedUpload
from app.modules.files.models import FILE_SORTS
from app.modules.files.permissions import FILE_LIST, FILE_UPLOAD
from app.modules.files.schemas import FileFilters, FileRead
from app.modules.files.storage import StorageDep
from app.modules.files.upload import MULTIPART_OVERHEAD, MultipartFileReader

router = APIRouter(prefix="/api/v1/files", tags=["files"])

files_page = pagination(sorts=FILE_SORTS, exact_count_limit=LARGE_LIST_EXACT_COUNT)
FileIdPath = Annotated[Id, Path()]

# The body is parsed by `MultipartFileReader` (streamed, after the permission check), so the
# OpenAPI request body is declared by hand.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
# A download is served as the media type detected at upload (`detect.TYPES`): each is declared,
# so schema-validating clients accept the response (plus octet-stream, the generic fallback).
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_MEDIA_TYPES = sorted(
    {"application/octet-stream"} | {t.media_type.split(";")[0].strip() for t in TYPES.values()}
)
DOWNLOAD_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes, as an attachment, in the media type of its kind",
        "content": dict.fromkeys(DOWNLOAD_MEDIA_TYPES, BINARY),
    }
}


def content_disposition(name: str) -> str:
    """`attachment` with the name in RFC 6266/5987 form plus a plain ASCII fallback."""
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in name
    ).strip()
    encoded = quote(name, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"


async def release_connection(db: AsyncSession) -> None:
    """End the read-only transaction the sign-in check may have opened.

    An upload can take minutes on a slow link; it must not hold a pooled connection in an
    open transaction meanwhile (PostgreSQL ends those after its idle-in-transaction timeout).
    Only the sign-in's reads are in it; the metadata row is written in a new transaction.
    """
    if db.in_transaction():
        await db.commit()


@router.post(
    "",
    status_code=201,
    responses=error_responses(400, 401, 403, 413, 422, 503),
    openapi_extra=UPLOAD_BODY,
)
async def upload_file(
    principal: Annotated[Principal, Depends(require(FILE_UPLOAD))],
    db: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    request: Request,
) -> Envelope[FileRead]:
    """Upload a file (multipart field `file`); its content must match its extension."""
    limit = settings.file_max_size
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedUpload()
        if int(declared) > limit + MULTIPART_OVERHEAD:  # refused before reading a byte
            raise FileTooLarge(limit)
    reader = MultipartFileReader(request, field="file", max_size=limit)
    await release_connection(db)
    stored = await service.upload_file(db, storage, settings, principal, reader)
    return created(FileRead.model_validate(stored))


@router.get("", responses=error_responses(401, 403, 422))
async def list_files(
    principal: Annotated[Principal, Depends(require(FILE_LIST))],
    db: SessionDep,
    params: Annotated[PageParams, Depends(files_page)],
    name: Annotated[str | None, Query(max_length=255, description="Name contains")] = None,
    extension: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=pattern(r"^[A-Za-z0-9]+$", "letters and digits"),
            description="Extension",
        ),
    ] = None,
) -> Envelope[CursorPage[FileRead]]:
    """List the files in the caller's data scope."""
    filters = FileFilters(
        name=name.strip() if name else None, extension=extension.lower() if extension else None
    )
    return ok(await service.list_files(db, principal, filters=filters, page=params))


@router.get("/{file_id}", responses=error_responses(401, 403, 404, 422))
async def get_file(
    principal: Annotated[Principal, Depends(require())],
    db: SessionDep,
    file_id: FileIdPath,
) -> Envelope[FileRead]:
    """One file's metadata (its owner, or FILE_READ within the data scope)."""
    return ok(FileRead.model_validate(await service.get_file(db, principal, file_id)))


@router.get(
    "/{file_id}/content",
    response_class=StreamingResponse,
    responses={**DOWNLOAD_RESPONSE, **error_responses(401, 403, 404, 422, 503)},
)
async def download_file(
    principal: Annotated[Principal, Depends(require())],
    db: SessionDep,
    storage: StorageDep,
    file_id: FileIdPath,
) -> StreamingResponse:
    """Download a file's bytes (its owner, or FILE_READ within the data scope)."""
    stored, chunks = await service.open_content(db, storage, principal, file_id)
    return StreamingResponse(
        chunks,
        media_type=stored.content_type,
        headers={
            "Content-Disposition": content_disposition(stored.original_name),
            "Content-Length": str(stored.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.delete("/{file_id}", status_code=204, responses=error_responses(401, 403, 404, 422, 503))
async def delete_file(
    principal: Annotated[Principal, Depends(require())],
    db: SessionDep,
    storage: StorageDep,
    file_id: FileIdPath,
) -> Response:
    """Delete a file and its bytes (its owner, or FILE_DELETE within the data scope)."""
    await service.delete_file(db, storage, principal, file_id)
    return Response(status_code=204)
