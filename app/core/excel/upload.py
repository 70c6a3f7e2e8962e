"""Receiving an uploaded spreadsheet with the size limit enforced while the body streams.

FastAPI parses a `File()` parameter before the route runs, spooling any size to disk; routes
that import spreadsheets read the body themselves with `receive_upload` instead, so an
oversized upload is refused by its `Content-Length`, or as soon as the limit is crossed
(ASVS 5.2.1), and never lands on disk whole.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.core.excel.cells import SpreadsheetRejected, SpreadsheetTooLarge
from app.core.responses import ErrorDetail

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def upload_openapi(field: str = "file") -> dict[str, Any]:
    """`openapi_extra` documenting a multipart body with one file in `field`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {field: {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    }


def _too_large(max_bytes: int, field: str) -> SpreadsheetTooLarge:
    message = f"The file is larger than {max_bytes} bytes"
    return SpreadsheetTooLarge(
        message,
        errors=[ErrorDetail(field=field, location="body", message=message, type="too_large")],
    )


def _missing(field: str) -> SpreadsheetRejected:
    return SpreadsheetRejected(
        f"Send the workbook as multipart/form-data in the field {field!r}",
        errors=[
            ErrorDetail(field=field, location="body", message="Field required", type="missing")
        ],
    )


async def receive_upload(request: Request, *, max_bytes: int, field: str = "file") -> bytes:
    """The bytes of the one file uploaded in multipart field `field`.

    Raises:
        SpreadsheetTooLarge: 413, the body or the file is over `max_bytes`.
        SpreadsheetRejected: 422, not multipart, malformed, or no file in `field`.
    """
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _missing(field)
    limit = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(max_bytes, field)

    async def limited() -> AsyncGenerator[bytes, None]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(max_bytes, field)
            yield chunk

    async with aclosing(limited()) as stream:
        parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=16)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise SpreadsheetRejected(f"Invalid multipart body: {exc.message}") from None
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise _missing(field)
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(max_bytes, field)
        return data
    finally:
        await form.close()
