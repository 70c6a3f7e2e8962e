from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class LoginLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str | None
    user_id: int | None
    event: str
    success: bool
    reason: str | None
    ip: str | None
    user_agent: str | None
    browser: str | None
    os: str | None
    device: str | None
    request_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoginLogFilters:
    """What the list and the export filter by (their query parameters)."""

    username: str | None = None
    user_id: int | None = None
    event: str | None = None
    success: bool | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None
