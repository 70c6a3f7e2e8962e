"""Errors of examples."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound
from app.core.responses import ErrorDetail


class ExampleNotFound(NotFound):
    default_message = "Example not found"


class ExampleVersionMismatch(Conflict):
    default_message = "Conflict: the example was changed by someone else; reload it and retry"

    def __init__(self) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="version", location="body", message="is not current", type="stale"
                )
            ]
        )
