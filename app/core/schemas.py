"""Field types that request parameters and bodies of every module share.

The rules they carry hold for every route (docs/http.md, "Input at the edges"):

- `Id`: a row id, 1 to `MAX_ID` (a BIGINT, the widest key any of the three databases stores),
  written as plain digits: `1_0`, `+10`, `010`, ` 10`, `true` or `10.0` are refused with 422
  instead of being read as some other row. Use it for path, query and body ids alike
  (`user_id: Annotated[Id, Path()]`, `dept_id: Id | None = None`).
- `Int32` / `INT32_MIN`..`INT32_MAX`: any other integer a column of type INTEGER stores
  (`sort`, `version`, timeouts). Every integer of a request has bounds that fit its column.
- `UtcDateTime`: a datetime as the API reads it. Without an offset it is read as UTC (the API
  answers every datetime in UTC with `Z`, and a date picker sends `2026-01-01T00:00:00`); with
  one it is converted to UTC; a value that has no UTC equivalent between 0001-01-01 and
  9999-12-31 (`0001-01-01T00:00:00+14:00`) is a 422 naming the field.
- `AwareUtcDateTime`: the same, but a value without an offset is a 422: for times that sit
  next to a time zone of their own (a scheduled job's `run_at` and its `timezone`).
- `pattern(regex, hint)`: a regular expression for `StringConstraints`/`Query`/`Path`, with
  the words a person is shown when a value does not match (the regex itself never is).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

# The largest id a BIGINT holds (PostgreSQL, MySQL/MariaDB; SQLite's INTEGER is as wide).
MAX_ID = 2**63 - 1
# What an INTEGER column holds on every database.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")


def _strict_id(value: Any) -> Any:
    """Plain digits or a JSON integer; never a bool, a float or Python's `1_0` syntax."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("id_type", "must be a positive whole number")
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        if value.isascii() and value.isdigit() and len(value.lstrip("0")) > 19:
            raise PydanticCustomError("id_range", "must be at most {le}", {"le": MAX_ID})
        raise PydanticCustomError(
            "id_type", "must be a positive whole number written with the digits 0-9 only"
        )
    return value


# Constraints before the validator: pydantic then keeps `minimum`/`maximum` in the JSON schema.
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_strict_id)]

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]

# The stale-data guard a client sends back (`version`): an INTEGER column, never below 1.
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range",
            "must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z once converted to UTC",
        ) from None


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_aware", "must include a time zone offset, such as Z or +08:00"
        )
    return _as_utc(value)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
# Where a naive time would be ambiguous rather than UTC: a job's `run_at` next to the job's own
# `timezone` ("Europe/Paris"). Refused with 422 without an offset; converted to UTC with one.
AwareUtcDateTime = Annotated[datetime, AfterValidator(_aware_utc)]


_PATTERN_HINTS: dict[str, str] = {}


def pattern(regex: str, hint: str) -> str:
    """Register what `regex` allows, in words (`"letters, digits and _ . @ -"`); returns it.

    A value that does not match is answered "may contain only <hint>" (or the hint itself
    when it starts with "must"), never with the regular expression.
    """
    _PATTERN_HINTS[regex] = hint
    return regex


def pattern_hint(regex: str) -> str | None:
    """The words registered for `regex`, if any."""
    return _PATTERN_HINTS.get(regex)


def blank_to_none(value: Any) -> Any:
    """Forms send "" for an empty optional field; store it as null."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


# Free text up to 500 characters, stripped; blank means none.
Remark = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None,
    BeforeValidator(blank_to_none),
]


# ------------------------------------------------------------------ human-readable text --

# Characters that change how text *looks* rather than what it says: C0/C1 controls (NUL, new
# lines, ESC and so ANSI escape sequences), lone surrogates, the line and paragraph separators
# (U+2028/9, new lines to JavaScript and many log viewers), and the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069) that make "Administrator\u202e" or
# "invoice\u202efdp.exe" display as something else. Marks such as U+200E/U+200F and joiners
# (U+200C/U+200D, needed by Persian and emoji) stay allowed.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def unsafe_character(value: str) -> str | None:
    """The first character of `value` that `DisplayText` refuses, or None."""
    for char in value:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            return char
    return None


def _refuse_unsafe_characters(value: str) -> str:
    char = unsafe_character(value)
    if char is not None:
        raise PydanticCustomError(
            "text_unsafe_character",
            "Must not contain control, line-separator or bidirectional-control characters "
            "(found U+{codepoint})",
            {"codepoint": f"{ord(char):04X}"},
        )
    return value


S = TypeVar("S", bound=str)

DisplayText = Annotated[S, AfterValidator(_refuse_unsafe_characters)]
"""One line of text a person reads: every name, title and label a body accepts (users,
roles, departments, positions, menus, dictionaries, parameters, notices, jobs, the sample
modules and what `main.py generate` writes). It wraps the field's own constraints, which run
first (so surrounding whitespace is stripped before the check)::

    Name = DisplayText[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    ]

A refused value is a 422 naming the field, type `text_unsafe_character`.
"""

# Words for the patterns several modules share.
EMAIL_HINT = "must be an email address such as name@example.com"
PHONE_HINT = "must be a phone number: digits, spaces and ( ) -, with an optional leading +"
CODE_HINT = "must start with a letter or digit, followed by letters, digits and _ . : -"
NO_CONTROL_HINT = "must not contain control characters (line breaks, tabs, NUL)"

# The field types the records of the admin share (users, roles, menus, departments,
# positions, dictionaries): one definition each, so a bound or a word changes everywhere.
Status = Literal["active", "disabled"]
# The display order among siblings.
Sort = Annotated[int, Field(ge=0, le=1_000_000)]
# A record's code (roles, departments, positions, the import's role codes). Compared
# case-insensitively (MySQL's collation does so anyway), so unique the same way everywhere.
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=64,
        pattern=pattern(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", CODE_HINT),
    ),
]
