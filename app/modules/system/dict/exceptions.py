"""Errors of the dictionaries feature."""

from __future__ import annotations

from app.core.errors import Duplicate, NotFound, ValidationFailed
from app.core.responses import ErrorDetail


class DictTypeNotFound(NotFound):
    default_message = "Dictionary type not found"


class DictDataNotFound(NotFound):
    default_message = "Dictionary item not found"


class DictNotFound(NotFound):
    """The public read: the type is unknown or disabled (the two are not told apart)."""

    default_message = "Dictionary not found"


class DictTypeCodeTaken(Duplicate):
    default_message = "Conflict: a dictionary type with this code already exists"
    fields = ("code",)


class DictValueTaken(Duplicate):
    default_message = "Conflict: this dictionary already has an item with this value"
    fields = ("value",)


class UnknownDictType(ValidationFailed):
    default_message = "Validation failed: type_code"

    def __init__(self) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="type_code",
                    location="body",
                    message="no dictionary type has this code",
                    type="not_found",
                )
            ]
        )
