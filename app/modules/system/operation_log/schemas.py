from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entity: str
    entity_id: str
    action: str
    before: Any | None
    after: Any | None
    created_at: datetime


class OperationLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    request_id: str | None
    user_id: int | None
    username: str | None
    module: str | None
    action: str | None
    method: str
    route: str | None
    path: str
    status_code: int
    success: bool
    error_message: str | None
    ip: str | None
    user_agent: str | None
    duration_ms: float
    created_at: datetime


class OperationLogDetail(OperationLogRead):
    query: Any | None
    body: Any | None
    changes: list[ChangeRead] = []


class ClearResult(BaseModel):
    deleted: int


@dataclass(frozen=True, slots=True)
class OperationLogFilters:
    """What the list and the export filter by (their query parameters)."""

    user_id: int | None = None
    username: str | None = None
    module: str | None = None
    method: str | None = None
    success: bool | None = None
    status_code: int | None = None
    since: datetime | None = None
    until: datetime | None = None
