"""Request and response bodies of the notices feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.core.schemas import DisplayText

# Raw HTML accepted in a request; the sanitised result must also fit the column (see service).
MAX_CONTENT_CHARS = 100_000

NoticeType = Literal["notice", "announcement"]
NoticeStatus = Literal["draft", "published"]
Title = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
]
Content = Annotated[str, Field(max_length=MAX_CONTENT_CHARS)]


class NoticeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    type: NoticeType = "notice"
    content: Content = ""
    status: NoticeStatus = "draft"


class NoticeUpdate(BaseModel):
    """Partial update: only the fields sent change. `status: published` publishes."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    type: NoticeType | None = None
    content: Content | None = None
    status: NoticeStatus | None = None

    @field_validator("title", "type", "content", "status")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class NoticeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    type: str
    content: str = Field(description="Sanitised HTML")
    status: str
    published_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NoticeFilters:
    """What `service.list_notices` filters by (the list route's query parameters)."""

    title: str | None = None
    type: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class PublishedNoticeFilters:
    """What `service.list_published_notices` filters by (the list route's query parameters)."""

    type: str | None = None
