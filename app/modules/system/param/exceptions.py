"""Errors of the parameters feature."""

from __future__ import annotations

from app.core.concurrency import VersionConflict
from app.core.errors import Duplicate, NotFound, Protected, ValidationFailed
from app.core.responses import ErrorDetail


class ParamNotFound(NotFound):
    default_message = "Parameter not found"


class ParamKeyTaken(Duplicate):
    default_message = "Conflict: a parameter with this key already exists"
    fields = ("key",)


class InvalidParamValue(ValidationFailed):
    default_message = "Validation failed: value"

    def __init__(self, value_type: str, reason: str) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="value",
                    location="body",
                    message=f"{reason} (value_type {value_type})",
                    type="value_error",
                )
            ]
        )


class BuiltInParamLocked(Protected):
    """Built-in parameters are read by the code: their key and type are fixed, and they stay."""

    default_message = "Conflict: built-in parameter"

    def __init__(self, field: str | None = None) -> None:
        if field is None:
            super().__init__("Conflict: a built-in parameter cannot be deleted")
            return
        super().__init__(
            f"Conflict: the {field} of a built-in parameter cannot be changed",
            errors=[
                ErrorDetail(
                    field=field, location="body", message="fixed for built-ins", type="built_in"
                )
            ],
        )


class ParamVersionMismatch(VersionConflict):
    default_message = "Conflict: the parameter was modified by someone else; reload it and retry"
