"""Errors of the cache monitor."""

from __future__ import annotations

from app.core.errors import Protected
from app.core.responses import ErrorDetail


class ProtectedNamespace(Protected):
    """The namespace holds security state (`app.core.cache.namespaces.protect_namespace`)."""

    default_message = "Conflict: this cache namespace holds security state"

    def __init__(self, namespace: str, reason: str) -> None:
        super().__init__(
            f"Conflict: cache namespace {namespace!r} holds security state and cannot be "
            f"cleared: {reason}",
            errors=[
                ErrorDetail(field="namespace", location="path", message=reason, type="protected")
            ],
        )
