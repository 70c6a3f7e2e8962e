"""Request and response bodies of the dictionaries feature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.core.schemas import DisplayText, Sort, Status, pattern

# Lower case only, so a code is unique and found the same way on every database (MySQL
# compares case-insensitively, PostgreSQL and SQLite do not).
TYPE_CODE_PATTERN = pattern(
    r"^[a-z0-9][a-z0-9_.:-]{0,99}$",
    "lowercase letters, digits and _ . : -, starting with a letter or digit",
)
TYPE_CODE_RE = re.compile(TYPE_CODE_PATTERN)

Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
TypeCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=TYPE_CODE_PATTERN
    ),
]
Label = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
Value = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _blank_to_none(value: Any) -> Any:
    """Forms send "" for an empty optional field; store it as null."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


Remark = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None,
    BeforeValidator(_blank_to_none),
]
# A presentation hint for front ends ("success", "danger", "primary", ...).
Tag = Annotated[
    Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            max_length=32,
            pattern=pattern(r"^[\w-]+$", "letters, digits, _ and -"),
        ),
    ]
    | None,
    BeforeValidator(_blank_to_none),
]


class _Partial(BaseModel):
    """PATCH bodies: only the fields sent change; required columns may not be set to null."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in ("remark", "tag"):
            raise ValueError("may not be null")
        return value


# ------------------------------------------------------------------------ dict types --


class DictTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    code: TypeCode
    status: Status = "active"
    remark: Remark = None


class DictTypeUpdate(_Partial):
    name: Name | None = None
    code: TypeCode | None = None
    status: Status | None = None
    remark: Remark = None


class DictTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    code: str
    status: str
    remark: str | None
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------------- dict data --


class DictDataCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type_code: TypeCode
    label: Label
    value: Value
    sort: Sort = 0
    status: Status = "active"
    tag: Tag = None
    remark: Remark = None


class DictDataUpdate(_Partial):
    type_code: TypeCode | None = None
    label: Label | None = None
    value: Value | None = None
    sort: Sort | None = None
    status: Status | None = None
    tag: Tag = None
    remark: Remark = None


class DictDataRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type_code: str
    label: str
    value: str
    sort: int
    status: str
    tag: str | None
    remark: str | None
    created_at: datetime
    updated_at: datetime


class DictItem(BaseModel):
    """One active item of a dictionary, as front ends render it."""

    label: str
    value: str
    tag: str | None
    sort: int


@dataclass(frozen=True, slots=True)
class DictTypeFilters:
    """What `service.list_dict_types` filters by (the list route's query parameters)."""

    name: str | None = None
    code: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class DictDataFilters:
    """What `service.list_dict_data` filters by (the list route's query parameters)."""

    type_code: str | None = None
    label: str | None = None
    status: str | None = None
