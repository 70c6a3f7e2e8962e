"""Field types that request bodies of every module share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

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
