"""Request and response bodies of the departments feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import (
    EMAIL_HINT,
    PHONE_HINT,
    Code,
    DisplayText,
    Id,
    Sort,
    Status,
    Version,
    blank_to_none,
    pattern,
)

DeptId = Id
Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]


Leader = Annotated[
    DisplayText[Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]] | None,
    BeforeValidator(blank_to_none),
]
Phone = Annotated[
    Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            max_length=32,
            pattern=pattern(
                r"^\+?[0-9][0-9 ()-]{2,}$",
                PHONE_HINT,
            ),
        ),
    ]
    | None,
    BeforeValidator(blank_to_none),
]
Email = Annotated[
    DisplayText[
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                max_length=255,
                pattern=pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", EMAIL_HINT),
            ),
        ]
    ]
    | None,
    BeforeValidator(blank_to_none),
]


class DeptCreate(BaseModel):
    """A new department; without `parent_id` it is a top-level one."""

    model_config = ConfigDict(extra="forbid")

    parent_id: DeptId | None = None
    name: Name
    code: Code
    leader: Leader = None
    phone: Phone = None
    email: Email = None
    sort: Sort = 0
    status: Status = "active"


class DeptUpdate(BaseModel):
    """Partial update: only the fields sent change. A new `parent_id` moves the department
    (and its subtree); `null` makes it top-level. `version`, when sent, must be the
    department's current version (optimistic locking): otherwise 409."""

    model_config = ConfigDict(extra="forbid")

    parent_id: DeptId | None = None
    name: Name | None = None
    code: Code | None = None
    leader: Leader = None
    phone: Phone = None
    email: Email = None
    sort: Sort | None = None
    status: Status | None = None
    version: Version | None = None

    @field_validator("name", "code", "sort", "status", "version")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for values sent: these columns have no "empty" state.
        if value is None:
            raise ValueError("may not be null")
        return value


class DeptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    name: str
    code: str
    leader: str | None
    phone: str | None
    email: str | None
    sort: int
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class DeptTreeNode(DeptRead):
    """A department with its sub-departments (ordered by `sort`, then `id`)."""

    children: list[DeptTreeNode] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeptFilters:
    """What `service.list_depts` filters by (the list route's query parameters)."""

    name: str | None = None
    code: str | None = None
    status: str | None = None
    parent_id: int | None = None
