"""Errors of the notices feature."""

from __future__ import annotations

from app.core.errors import NotFound, ValidationFailed
from app.core.responses import ErrorDetail


class NoticeNotFound(NotFound):
    default_message = "Notice not found"


class NoticeContentTooLong(ValidationFailed):
    default_message = "Validation failed: content"

    def __init__(self, limit: int) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="content",
                    location="body",
                    message=f"is longer than {limit} bytes once sanitised (UTF-8)",
                    type="string_too_long",
                )
            ]
        )
