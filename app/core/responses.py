"""The response envelope `{"code", "message", "data"}` that every JSON body uses.

Typed routes return `Envelope[T]` (via `ok()` / `created()`); FastAPI then serialises it with
pydantic-core straight to JSON bytes. Responses built by hand (errors, health) go through
`JSONBytesResponse`, which uses orjson.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.core.context import current_request_id
from app.core.error_types import status_type

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """Success envelope; `code` repeats the HTTP status."""

    code: int = 200
    message: str = "OK"
    data: T


class ErrorDetail(BaseModel):
    """One problem with the request, naming the field when there is one."""

    field: str | None = Field(default=None, description="Dotted field name, e.g. `name`")
    location: str | None = Field(default=None, description="body, query, path, header, ...")
    message: str
    type: str


class ErrorEnvelope(BaseModel):
    """Error envelope: `data` is null; `type` names the error for clients (docs/http.md,
    "Error types"); `errors` lists field problems; `request_id` for support."""

    code: int
    message: str
    type: str = Field(description="Stable machine-readable error type, e.g. `duplicate`")
    data: None = None
    errors: list[ErrorDetail] = []
    request_id: str | None = None


def ok(data: T, message: str = "OK") -> Envelope[T]:
    """Wrap `data` for a 200 response."""
    return Envelope[T](code=200, message=message, data=data)


def created(data: T, message: str = "Created") -> Envelope[T]:
    """Wrap `data` for a 201 response (the route declares `status_code=201`)."""
    return Envelope[T](code=201, message=message, data=data)


def accepted(data: T, message: str = "Accepted") -> Envelope[T]:
    """Wrap `data` for a 202 response: the work is queued (the route declares 202)."""
    return Envelope[T](code=202, message=message, data=data)


class JSONBytesResponse(JSONResponse):
    """JSON response rendered with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_response(
    status_code: int,
    message: str,
    errors: Sequence[ErrorDetail | Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    error_type: str | None = None,
) -> JSONBytesResponse:
    """Render the error envelope for `status_code`; `error_type` defaults to the status's."""
    body = {
        "code": status_code,
        "message": message,
        "type": error_type or status_type(status_code),
        "data": None,
        "errors": [
            e.model_dump() if isinstance(e, ErrorDetail) else ErrorDetail(**e).model_dump()
            for e in errors
        ],
        "request_id": current_request_id(),
    }
    return JSONBytesResponse(body, status_code=status_code, headers=dict(headers or {}))


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error envelope for each status code."""
    return {code: {"model": ErrorEnvelope} for code in status_codes}
