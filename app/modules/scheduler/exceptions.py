"""Errors of the scheduler."""

from __future__ import annotations

from app.core.concurrency import VersionConflict
from app.core.errors import (
    Duplicate,
    NotFound,
    PermissionDenied,
    Protected,
    ValidationFailed,
)
from app.core.responses import ErrorDetail


class JobNotFound(NotFound):
    default_message = "Job not found"


class JobRunNotFound(NotFound):
    default_message = "Job run not found"


class JobNameTaken(Duplicate):
    default_message = "Conflict: a job with this name already exists"
    fields = ("name",)


class JobVersionMismatch(VersionConflict):
    default_message = "Conflict: the job was changed by someone else; reload it"
    detail = "is not current"


class BuiltInJobLocked(Protected):
    default_message = "Conflict: a built-in job keeps its name and target and cannot be deleted"

    def __init__(self, field: str | None = None) -> None:
        errors = (
            [ErrorDetail(field=field, location="body", message="is fixed", type="built_in")]
            if field
            else []
        )
        super().__init__(errors=errors)


class InvalidJob(ValidationFailed):
    """A job field that passed its own type check but not the scheduler's rules."""

    def __init__(self, field: str, message: str, type_: str = "value_error") -> None:
        super().__init__(
            message=f"Validation failed: {field}",
            errors=[ErrorDetail(field=field, location="body", message=message, type=type_)],
        )


class TargetPermissionDenied(PermissionDenied):
    error_type = "grant_exceeded"
    """The caller lacks a permission the job's target declares (`@job_target(permissions=)`)."""

    default_message = "Permission denied: this job's target needs permissions you do not hold"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            errors=[
                ErrorDetail(
                    field="target",
                    location="body",
                    message=f"needs {', '.join(missing)}",
                    type="permission",
                )
            ]
        )
