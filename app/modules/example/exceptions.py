"""Errors of examples."""

from __future__ import annotations

from app.core.concurrency import VersionConflict
from app.core.errors import NotFound


class ExampleNotFound(NotFound):
    default_message = "Example not found"


class ExampleVersionMismatch(VersionConflict):
    default_message = "Conflict: the example was changed by someone else; reload it and retry"
    detail = "is not current"
