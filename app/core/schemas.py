"""Field types that request bodies of every module share."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

# The largest id a BIGINT holds; path and body ids are checked against it (never a 500).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


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
