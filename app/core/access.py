"""Access-control vocabulary shared by every module: the caller (`Principal`), permission codes
and their registry, wildcard grants, the public-route marker, and the data-scope filter.

Modules declare their codes in `permissions.py` (`registry.declare(...)`); routes declare access
with `Depends(require("module:resource:action"))` (`app.core.guard`) or `Depends(public)`. Who the
caller is, the identity module decides: its spec provides a `PrincipalResolver`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import QueryableAttribute

from app.core.sql import in_values

if TYPE_CHECKING:
    from fastapi import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.core.cache import Cache

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*){2}$")
GRANT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9-]*:(\*|[a-z][a-z0-9-]*:(\*|[a-z][a-z0-9-]*)))$")

DATA_SCOPES = ("all", "custom", "dept", "dept_and_children", "self")


@dataclass(frozen=True)
class Permission:
    code: str
    description: str


class PermissionRegistry:
    """Every permission code the application knows, declared by the modules in code."""

    def __init__(self) -> None:
        self._codes: dict[str, Permission] = {}

    def declare(self, code: str, description: str) -> str:
        """Declare `code` (`module:resource:action`) and return it."""
        if not CODE_PATTERN.match(code):
            raise ValueError(f"permission code {code!r} is not module:resource:action")
        existing = self._codes.get(code)
        if existing is not None and existing.description != description:
            raise ValueError(f"permission code {code!r} declared twice")
        self._codes[code] = Permission(code, description)
        return code

    def __contains__(self, code: object) -> bool:
        return code in self._codes

    def all(self) -> list[Permission]:
        return sorted(self._codes.values(), key=lambda p: p.code)


registry = PermissionRegistry()


def grant_matches(grant: str, code: str) -> bool:
    """True if `grant` (a code, or a wildcard: `system:user:*`, `system:*`, `*`) covers `code`."""
    if grant == code or grant == "*":
        return True
    if grant.endswith(":*"):
        return code.startswith(grant[:-1])
    return False


def is_valid_grant(grant: str) -> bool:
    return bool(GRANT_PATTERN.match(grant))


def covers(grants: Iterable[str], code: str) -> bool:
    """True if any of `grants` covers `code`."""
    return any(grant_matches(grant, code) for grant in grants)


@dataclass(frozen=True)
class DataScope:
    """Which rows a caller may see: everything, rows of some departments, and/or their own."""

    all: bool = False
    dept_ids: frozenset[int] = frozenset()
    own: bool = False


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as every route sees it."""

    user_id: int
    username: str
    session_id: str
    is_superuser: bool
    dept_id: int | None
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    scope: DataScope = field(default_factory=DataScope)
    mfa_enrollment_required: bool = False
    password_change_required: bool = False

    def can(self, code: str) -> bool:
        """True if the caller holds `code` (superusers hold everything)."""
        return self.is_superuser or code in self.permissions or covers(self.permissions, code)

    def holds_all(self, codes: Iterable[str]) -> bool:
        return self.is_superuser or all(covers(self.permissions, c) for c in codes)


async def public() -> None:
    """Marks a route as deliberately open to anonymous callers (deny is the default)."""


def scope_filter(
    principal: Principal,
    *,
    dept_column: QueryableAttribute[Any] | ColumnElement[Any] | None,
    owner_column: QueryableAttribute[Any] | ColumnElement[Any] | None,
) -> ColumnElement[bool] | None:
    """The WHERE clause limiting a table to the caller's data scope; None means no limit.

    Every repository's readable and writable queries go through this, so reads, updates,
    deletes and exports see the same rows; a row outside it is "not found".
    """
    if principal.is_superuser or principal.scope.all:
        return None
    conditions: list[ColumnElement[bool]] = []
    if principal.scope.dept_ids and dept_column is not None:
        conditions.append(in_values(dept_column, principal.scope.dept_ids))
    if principal.scope.own and owner_column is not None:
        conditions.append(owner_column == principal.user_id)
    if not conditions:
        return false()
    return or_(*conditions)


class PrincipalResolver(Protocol):
    """What the identity module provides the core's route guard (`ModuleSpec.principal_resolver`):
    the caller a bearer token stands for, or `NotAuthenticated` (401). It runs in the request's
    own session (`db`) and may read the shared cache; the guard then checks pending steps,
    permission codes and the data scope, and applies the per-user rate limit."""

    async def __call__(
        self, request: Request, db: AsyncSession, cache: Cache, token: str
    ) -> Principal: ...
