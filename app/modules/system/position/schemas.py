"""Request and response bodies of the positions feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)

from app.core.schemas import Code, DisplayText, Remark, Sort, Status

Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]


class PositionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    code: Code
    sort: Sort = 0
    status: Status = "active"
    remark: Remark = None


class PositionUpdate(BaseModel):
    """Partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    code: Code | None = None
    sort: Sort | None = None
    status: Status | None = None
    remark: Remark = None

    @field_validator("name", "code", "sort", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class PositionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str
    sort: int
    status: str
    remark: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PositionFilters:
    """What `service.list_positions` filters by (the list route's query parameters)."""

    name: str | None = None
    code: str | None = None
    status: str | None = None
