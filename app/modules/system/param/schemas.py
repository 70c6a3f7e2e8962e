"""Request and response bodies of the parameters feature, and the typed value rules.

A parameter's `value` is stored as text and must parse as its `value_type`:

| value_type | accepted (surrounding spaces ignored)              | stored as            |
|------------|----------------------------------------------------|----------------------|
| `str`      | any text                                           | the text, stripped   |
| `int`      | `[+-]digits`                                       | the integer (`"5"`)  |
| `float`    | a finite decimal number, exponent allowed          | the text, stripped   |
| `bool`     | true/false, 1/0, yes/no (any case)                 | `"true"` / `"false"` |
| `json`     | any JSON document                                  | the text, stripped   |
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import DisplayText, Remark, pattern

ValueType = Literal["str", "int", "float", "bool", "json"]
KEY_PATTERN = pattern(
    r"^[a-z][a-z0-9_.-]{1,99}$",
    "must start with a lowercase letter, followed by 1 to 99 lowercase letters, digits and _ . -",
)
# TEXT holds 65,535 bytes on MySQL: 16,000 four-byte characters always fit.
MAX_VALUE_LENGTH = 16_000

Key = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=KEY_PATTERN)]
Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
Value = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_VALUE_LENGTH)]


# ------------------------------------------------------------------------ the values --

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_int(text: str) -> int:
    """Parse an integer written in ASCII digits; raise ValueError otherwise."""
    text = text.strip()
    if not _INT.fullmatch(text) or len(text) > 40:
        raise ValueError("must be an integer")
    return int(text)


def parse_float(text: str) -> float:
    """Parse a finite decimal number; raise ValueError otherwise (no `nan`, no `inf`)."""
    text = text.strip()
    if not _FLOAT.fullmatch(text):
        raise ValueError("must be a number")
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def parse_bool(text: str) -> bool:
    """true/false, 1/0 or yes/no in any case; raise ValueError otherwise."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be one of true/false, 1/0, yes/no")


def parse_json(text: str) -> Any:
    """Parse a JSON document; raise ValueError otherwise."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("must be valid JSON") from None


def normalise(value_type: str, text: str) -> str:
    """The stored form of `text` for `value_type`; raise ValueError if it does not parse."""
    text = text.strip()
    if value_type == "int":
        return str(parse_int(text))
    if value_type == "float":
        parse_float(text)
    elif value_type == "bool":
        return "true" if parse_bool(text) else "false"
    elif value_type == "json":
        parse_json(text)
    return text


# ----------------------------------------------------------------------- the bodies --


class ParamCreate(BaseModel):
    """`built_in` is not accepted: only `init` makes built-in parameters."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    value: Value
    name: Name
    value_type: ValueType = "str"
    remark: Remark = None


class ParamUpdate(BaseModel):
    """Partial update: only the fields sent change. `version`, when sent, must be the row's
    current version (optimistic locking): otherwise 409."""

    model_config = ConfigDict(extra="forbid")

    key: Key | None = None
    value: Value | None = None
    name: Name | None = None
    value_type: ValueType | None = None
    remark: Remark = None
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None

    @field_validator("key", "value", "name", "value_type", "version")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class ParamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    value: str
    name: str
    value_type: str
    built_in: bool
    remark: str | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ParamFilters:
    """What `service.list_params` filters by (the list route's query parameters)."""

    key: str | None = None
    name: str | None = None
    built_in: bool | None = None
