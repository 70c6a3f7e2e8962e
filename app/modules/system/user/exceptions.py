"""Errors of the users feature."""

from __future__ import annotations

from app.core.errors import Duplicate, NotFound, PermissionDenied, Protected, ValidationFailed
from app.core.responses import ErrorDetail


class UserNotFound(NotFound):
    """No such user, or one outside the caller's data scope (never told apart)."""

    default_message = "User not found"


class UsernameTaken(Duplicate):
    default_message = "Conflict: a user with this username already exists"
    fields = ("username",)


class EmailTaken(Duplicate):
    default_message = "Conflict: a user with this email already exists"
    fields = ("email",)


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


class SuperuserProtected(PermissionDenied):
    error_type = "superuser_only"
    """Only a superuser may edit, reset, disable or delete a superuser."""

    default_message = "Only a superuser can manage a superuser"


class TargetOutranksCaller(PermissionDenied):
    error_type = "grant_exceeded"
    """The target user holds permissions (or a data scope) the caller does not."""

    default_message = "You cannot manage a user with permissions you do not hold"


class SelfManagement(PermissionDenied):
    error_type = "self_management"
    default_message = "You cannot change your own roles, department or status, reset your own \
password or MFA or delete yourself here: use your profile to edit yourself"


class LastSuperuser(Protected):
    default_message = "Conflict: the last active superuser cannot be disabled or deleted"


class DeptOutOfScope(PermissionDenied):
    error_type = "scope_exceeded"
    """The department asked for is outside the caller's data scope."""

    default_message = "You cannot place a user in a department outside your data scope"

    def __init__(self) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="dept_id",
                    location="body",
                    message="outside your data scope",
                    type="permission_denied",
                )
            ]
        )
