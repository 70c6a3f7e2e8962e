"""Request and response bodies of the users feature.

Input bodies forbid unknown fields, so `is_superuser`, `password_hash`, `mfa_secret` or `id` in
a body is a 422, never silently applied (docs/security-checklist.md §0 #4, ASVS 15.3.3). `version`
is only
accepted on update, as the optimistic-lock precondition (docs/security-checklist.md §0 #19): it is
compared,
never stored.
`UserRead` lists what leaves the API: never the password hash, the MFA secret or tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import (
    EMAIL_HINT,
    PHONE_HINT,
    Code,
    DisplayText,
    Id,
    Remark,
    Status,
    Version,
    blank_to_none,
    pattern,
)

MAX_LINKS = 100

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=64,
        pattern=pattern(r"^[A-Za-z0-9_.@-]+$", "letters, digits and _ . @ -"),
    ),
]
# No control or bidi characters (DisplayText): names end up in logs, CSV exports, e-mails
# and the console. The profile (`PATCH /auth/me`) uses these same types.
Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
]


# A plain pattern: pydantic's EmailStr needs the email-validator package.
Email = Annotated[
    DisplayText[
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                max_length=255,
                pattern=pattern(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", EMAIL_HINT),
            ),
        ]
    ]
    | None,
    BeforeValidator(blank_to_none),
]
Phone = Annotated[
    Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            max_length=32,
            pattern=pattern(
                r"^\+?[0-9][0-9 ()-]{2,}$",
                PHONE_HINT,
            ),
        ),
    ]
    | None,
    BeforeValidator(blank_to_none),
]


def _unique_sorted(ids: list[int]) -> list[int]:
    return sorted(set(ids))


IdList = Annotated[list[Id], Field(max_length=MAX_LINKS), AfterValidator(_unique_sorted)]


class UserCreate(BaseModel):
    """A new user. The password is checked against the password policy and stored hashed."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    name: Name
    email: Email = None
    phone: Phone = None
    # Used exactly as given: no trimming (ASVS 6.2.8); the policy checks its length.
    password: str = Field(min_length=1, max_length=1024, repr=False)
    status: Status = "active"
    dept_id: Id | None = None
    role_ids: IdList = []
    position_ids: IdList = []
    remark: Remark = None
    # The admin chose this password, so the user replaces it at first sign-in (ASVS 6.4.1);
    # turn off only for accounts whose password is handed over by other means.
    must_change_password: bool = True


class UserUpdate(BaseModel):
    """Partial update: only the fields sent change. Not `username`, `password` (use
    reset-password) or `is_superuser` (never settable through the API). `version`, when sent,
    must be the user's current version (optimistic locking): otherwise 409."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email = None
    phone: Phone = None
    status: Status | None = None
    dept_id: Id | None = None
    role_ids: IdList | None = None
    position_ids: IdList | None = None
    remark: Remark = None
    version: Version | None = None

    @field_validator("name", "status", "role_ids", "position_ids", "version")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class UserRead(BaseModel):
    id: int
    username: str
    name: str
    email: str | None
    phone: str | None
    status: str
    is_superuser: bool
    dept_id: int | None
    role_ids: list[int]
    position_ids: list[int]
    remark: str | None
    must_change_password: bool
    mfa_enabled: bool
    last_login_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class PasswordResetRead(BaseModel):
    """The one-time password, shown once; the user must replace it at next sign-in."""

    password: str
    must_change_password: bool = True


@dataclass(frozen=True, slots=True)
class UserFilters:
    """The list filters, shared by the list and the export."""

    username: str | None = None
    name: str | None = None
    status: str | None = None
    dept_id: int | None = None
    include_children: bool = True
    role_id: int | None = None


async def user_filters(
    username: Annotated[
        str | None, Query(max_length=64, description="Username contains (any case)")
    ] = None,
    name: Annotated[
        str | None, Query(max_length=64, description="Name contains (any case)")
    ] = None,
    status: Annotated[Status | None, Query()] = None,
    dept_id: Annotated[Id | None, Query(description="Department")] = None,
    include_children: Annotated[
        bool, Query(description="With `dept_id`: include its sub-departments")
    ] = True,
    role_id: Annotated[Id | None, Query(description="Holds this role")] = None,
) -> UserFilters:
    """A FastAPI dependency reading the user list filters from the query string."""
    return UserFilters(
        username=username.strip() or None if username else None,
        name=name.strip() or None if name else None,
        status=status,
        dept_id=dept_id,
        include_children=include_children,
        role_id=role_id,
    )


# ------------------------------------------------------------------ import / export --


def _split_codes(value: Any) -> Any:
    """Split `ops, audit` (commas, semicolons or new lines) into codes."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;\n]", value) if part.strip()]
    return value


class UserImportRow(BaseModel):
    """One spreadsheet row of a users import: the fields of `UserCreate`, with departments and
    roles named by code. Blank cells are absent; `status` defaults to active."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    name: Name
    email: Email = None
    phone: Phone = None
    dept_code: Code | None = None
    role_codes: Annotated[
        list[Code], BeforeValidator(_split_codes), Field(max_length=MAX_LINKS)
    ] = []
    status: Status = "active"
    password: str = Field(min_length=1, max_length=1024, repr=False)


class ImportRowError(BaseModel):
    """One problem in an import: the spreadsheet row (header = 1), the column, what is wrong.
    Never the cell's value."""

    row: int
    field: str | None
    message: str


class UserImportReport(BaseModel):
    dry_run: bool
    total: int = Field(description="Non-blank data rows in the file")
    valid: int = Field(description="Rows that pass every check")
    invalid: int = Field(description="Rows with at least one error")
    created: int = Field(description="Users created (0 on a dry run)")
    errors: list[ImportRowError]
    errors_truncated: bool = Field(
        default=False, description="More errors exist than are listed (the first ones are)"
    )
