"""Errors of the positions feature."""

from __future__ import annotations

from app.core.errors import Duplicate, InUse, NotFound


class PositionNotFound(NotFound):
    default_message = "Position not found"


class PositionCodeTaken(Duplicate):
    default_message = "Conflict: a position with this code already exists"
    fields = ("code",)


class PositionInUse(InUse):
    default_message = "Conflict: position is assigned to users"
