"""Errors of the departments feature."""

from __future__ import annotations

from app.core.errors import (
    Duplicate,
    HasChildren,
    InUse,
    NotFound,
    PermissionDenied,
    Protected,
    TreeCycle,
    ValidationFailed,
)
from app.core.responses import ErrorDetail


class DeptNotFound(NotFound):
    default_message = "Department not found"


class DeptCodeTaken(Duplicate):
    default_message = "Conflict: a department with this code already exists"
    fields = ("code",)


class ParentDeptNotFound(ValidationFailed):
    """The `parent_id` names no department the caller may see."""

    default_message = "Validation failed: parent_id"

    def __init__(self) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="parent_id",
                    location="body",
                    message="no such department",
                    type="not_found",
                )
            ]
        )


class RootDeptNotAllowed(PermissionDenied):
    error_type = "scope_exceeded"
    default_message = (
        "Only callers whose data scope is 'all' may create or move top-level departments"
    )


class DeptMoveCycle(TreeCycle):
    default_message = "Conflict: cannot move a department under itself or its descendant"


class DeptHasChildren(HasChildren):
    default_message = "Conflict: department has sub-departments"


class DeptHasUsers(InUse):
    default_message = "Conflict: department has users"


class DeptSubtreeOutOfScope(PermissionDenied):
    error_type = "scope_exceeded"
    """A move or status change would act on departments below this one that lie outside the
    caller's data scope (moving them under the caller's own department would widen it)."""

    default_message = (
        "You cannot move, disable or enable a department with sub-departments outside your "
        "data scope"
    )


class LastSuperuserDept(Protected):
    default_message = (
        "Conflict: disabling this department would leave no active superuser able to sign in"
    )
