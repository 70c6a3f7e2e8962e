"""Request and response bodies of examples.

Input bodies forbid unknown fields: `id`, `version` on create, timestamps or a typo are a 422,
never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, field_validator

from app.core.schemas import DisplayText, Version, blank_to_none

Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
Description = Annotated[
    DisplayText[Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]] | None,
    BeforeValidator(blank_to_none),
]


class ExampleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = None


class ExampleReplace(ExampleCreate):
    """Full update (PUT): the body is the whole row, validated as on create; an omitted
    optional field takes its default. Send the `version` you read to refuse overwriting
    someone else's change (409)."""

    version: Version | None = None


class ExampleUpdate(BaseModel):
    """Partial update: only the fields sent change. Send the `version` you read to refuse
    overwriting someone else's change (409)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description = None
    version: Version | None = None

    @field_validator("name", "version")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class ExampleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExampleFilters:
    """What the list filters by: the query parameters of the list route."""

    name: str | None = None
