"""Errors of the files module."""

from __future__ import annotations

from app.core.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from app.core.responses import ErrorDetail


class FileNotFound(NotFound):
    default_message = "File not found"


class FileContentMissing(NotFound):
    """The metadata row exists but this process's storage has no bytes for it (see
    docs/files.md: local storage on several hosts without a shared volume)."""

    default_message = "File content not found"


class FileTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Payload too large: files may be at most {limit} bytes",
            errors=[
                ErrorDetail(
                    field="file",
                    location="body",
                    message=f"is larger than {limit} bytes",
                    type="too_large",
                )
            ],
        )


class InvalidFile(ValidationFailed):
    """A 422 naming the `file` field."""

    def __init__(self, reason: str, *, type: str = "value_error") -> None:
        super().__init__(
            "Validation failed: file",
            errors=[ErrorDetail(field="file", location="body", message=reason, type=type)],
        )


class MalformedUpload(BadRequest):
    error_type = "malformed_upload"
    default_message = "Bad request: the multipart body is malformed or incomplete"


class StorageUnavailable(ServiceUnavailable):
    default_message = "Service temporarily unavailable: file storage"
