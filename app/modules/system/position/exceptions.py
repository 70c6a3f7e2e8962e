"""Errors of the positions feature."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound
from app.core.responses import ErrorDetail


class PositionNotFound(NotFound):
    default_message = "Position not found"


class PositionCodeTaken(Conflict):
    default_message = "Conflict: a position with this code already exists"

    def __init__(self) -> None:
        super().__init__(
            errors=[
                ErrorDetail(field="code", location="body", message="already exists", type="unique")
            ]
        )


class PositionInUse(Conflict):
    default_message = "Conflict: position is assigned to users"
