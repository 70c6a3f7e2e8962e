"""Request and response bodies of the roles feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import Code, DisplayText, Id, Sort, Status, Version

MAX_LINKS = 1000

DataScope = Literal["all", "custom", "dept", "dept_and_children", "self"]
Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]


def _unique_sorted(ids: list[int]) -> list[int]:
    """Grants are sets; a stable order also fixes the lock order of their rows."""
    return sorted(set(ids))


IdList = Annotated[list[Id], Field(max_length=MAX_LINKS), AfterValidator(_unique_sorted)]


def _blank_to_none(value: Any) -> Any:
    """Forms send "" for an empty optional field; store it as null."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


Remark = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None,
    BeforeValidator(_blank_to_none),
]


class RoleCreate(BaseModel):
    """A new role. `dept_ids` only matter for the "custom" data scope (stored regardless)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    code: Code
    status: Status = "active"
    sort: Sort = 0
    data_scope: DataScope = "self"
    dept_ids: IdList = []
    menu_ids: IdList = []
    require_mfa: bool = False
    remark: Remark = None


class RoleUpdate(BaseModel):
    """Partial update: only the fields sent change; `menu_ids` / `dept_ids` replace the sets.
    `version`, when sent, must be the role's current version (optimistic locking): otherwise
    409."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    code: Code | None = None
    status: Status | None = None
    sort: Sort | None = None
    data_scope: DataScope | None = None
    dept_ids: IdList | None = None
    menu_ids: IdList | None = None
    require_mfa: bool | None = None
    remark: Remark = None
    version: Version | None = None

    @field_validator(
        "name",
        "code",
        "status",
        "sort",
        "data_scope",
        "dept_ids",
        "menu_ids",
        "require_mfa",
        "version",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class RoleRead(BaseModel):
    id: int
    name: str
    code: str
    status: str
    sort: int
    data_scope: str
    dept_ids: list[int]
    menu_ids: list[int]
    require_mfa: bool
    remark: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RoleFilters:
    """What `service.list_roles` filters by (the list route's query parameters)."""

    name: str | None = None
    code: str | None = None
    status: str | None = None
