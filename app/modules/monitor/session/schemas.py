"""What the live-sessions list filters by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionFilters:
    """The query parameters of `GET /api/v1/monitor/sessions`: username contains, exact IP."""

    username: str | None = None
    ip: str | None = None
