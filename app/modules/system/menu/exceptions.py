"""Errors of the menus feature."""

from __future__ import annotations

from app.core.errors import (
    HasChildren,
    InvalidState,
    NotFound,
    PermissionDenied,
    TreeCycle,
    ValidationFailed,
)
from app.core.responses import ErrorDetail


class MenuNotFound(NotFound):
    default_message = "Menu not found"


class MenuFieldInvalid(ValidationFailed):
    """A rule spanning several fields (type, parent, permission) fails on `field`."""

    def __init__(self, field: str, message: str, type_: str = "value_error") -> None:
        super().__init__(
            f"Validation failed: {field}",
            errors=[ErrorDetail(field=field, location="body", message=message, type=type_)],
        )


class MenuMoveCycle(TreeCycle):
    default_message = "Conflict: cannot move a menu under itself or its descendant"


class MenuHasChildren(HasChildren):
    default_message = "Conflict: menu has sub-menus"


class MenuWithChildrenCannotBeButton(InvalidState):
    default_message = "Conflict: a menu with sub-menus cannot become a button"


class MenuPermissionNotHeld(PermissionDenied):
    error_type = "grant_exceeded"
    default_message = "Cannot put or change a permission code you do not hold"
