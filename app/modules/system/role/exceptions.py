"""Errors of the roles feature."""

from __future__ import annotations

from app.core.errors import Duplicate, NotFound, PermissionDenied, ValidationFailed
from app.core.responses import ErrorDetail


class RoleNotFound(NotFound):
    default_message = "Role not found"


class RoleCodeTaken(Duplicate):
    default_message = "Conflict: a role with this code already exists"
    fields = ("code",)


class UnknownIds(ValidationFailed):
    """Some ids in `field` name no existing row."""

    def __init__(self, field: str, what: str) -> None:
        super().__init__(
            f"Validation failed: {field}",
            errors=[
                ErrorDetail(
                    field=field, location="body", message=f"no such {what}", type="not_found"
                )
            ],
        )


class GrantNotHeld(PermissionDenied):
    error_type = "grant_exceeded"
    """A non-superuser tried to hand out permissions they do not hold themselves."""

    default_message = "You cannot grant a role with permissions you do not hold"

    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(
            message,
            errors=[
                ErrorDetail(
                    field=field,
                    location="body",
                    message="includes permissions you do not hold",
                    type="permission_denied",
                )
            ],
        )


class ScopeNotHeld(PermissionDenied):
    error_type = "scope_exceeded"
    """A non-superuser tried to hand out a data scope wider than their own."""

    default_message = "You cannot grant a data scope wider than your own"

    def __init__(self, field: str) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field=field,
                    location="body",
                    message="reaches data outside your own data scope",
                    type="permission_denied",
                )
            ]
        )


class RoleOutranksCaller(PermissionDenied):
    error_type = "grant_exceeded"
    """The role (its codes, its data scope, or its holders) reaches beyond the caller's power:
    changing, disabling or deleting it would act on more than the caller holds."""

    default_message = "You cannot change a role with permissions or holders beyond your own"
