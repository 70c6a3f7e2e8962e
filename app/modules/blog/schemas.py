"""Request and response bodies of the blog module.

Input bodies forbid unknown fields: `author_id`, `id` or timestamps in a body are a 422, never
silently applied; the author is always the caller (docs/security-checklist.md §0 #4, API3, ASVS
15.3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from app.core.schemas import DisplayText

TITLE_MAX_LENGTH = 200
CONTENT_MIN_LENGTH = 10
# The column is TEXT: 65,535 bytes on MySQL, so 16,000 four-byte characters always fit.
CONTENT_MAX_LENGTH = 16_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Title = DisplayText[
    Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH)
    ]
]
# Stored as written (leading spaces may matter in Markdown), but not only whitespace.
Content = Annotated[
    str,
    StringConstraints(min_length=CONTENT_MIN_LENGTH, max_length=CONTENT_MAX_LENGTH),
    AfterValidator(_not_blank),
]


class ArticleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    content: Content
    published: bool = False


class ArticleUpdate(BaseModel):
    """Partial update: only the fields sent change; none of them may be null."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    content: Content | None = None
    published: bool | None = None

    @field_validator("title", "content", "published")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class AuthorRead(BaseModel):
    """Who wrote an article: public profile fields only."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    name: str


class ArticleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    content: str
    published: bool
    author_id: int
    author: AuthorRead
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleFilters:
    """What `service.list_articles` filters by (the list route's query parameters)."""

    title: str | None = None
    published: bool | None = None
    author_id: int | None = None
