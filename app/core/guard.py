"""The route guard every module uses; the identity module says who the caller is.

    @router.post("", dependencies=[Depends(require(USER_CREATE))])
    async def create_user(...): ...

    @router.get("/me")
    async def get_me(principal: CurrentPrincipal): ...  # any signed-in caller

The guard reads the bearer token and hands it to the `PrincipalResolver` the enabled identity
module provides (`ModuleSpec.principal_resolver`, installed on the app by `create_app`), then
refuses callers with a pending step, a missing permission code or a too narrow data scope, and
applies the per-user rate limit. Business modules import this module, never the identity
module, to guard their routes (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.security import OAuth2PasswordBearer

from app.core.access import Principal, PrincipalResolver, registry
from app.core.config import ConfigError
from app.core.context import user_id_var
from app.core.database import SessionDep
from app.core.deps import CacheDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.ratelimit import check_user_limit

if TYPE_CHECKING:
    from app.core.modules import ModuleSpec

# The public sign-in URLs (the OpenAPI document's OAuth2 flow); the identity module serves them.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login", auto_error=False, refreshUrl="/api/v1/auth/refresh"
)


def install_principal_resolver(app: FastAPI, specs: Sequence[ModuleSpec]) -> None:
    """Put the resolver of the one enabled module that provides it on the app; without one,
    every guarded route answers 401 (nobody can sign in)."""
    providers = [spec for spec in specs if spec.principal_resolver is not None]
    if len(providers) > 1:
        names = ", ".join(spec.name for spec in providers)
        raise ConfigError(f"invalid setting MODULES: {names} all provide the signed-in caller")
    app.state.principal_resolver = providers[0].principal_resolver if providers else None


async def get_principal(
    request: Request,
    db: SessionDep,
    cache: CacheDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """The signed-in caller, or 401."""
    if not token:
        raise NotAuthenticated()
    resolver: PrincipalResolver | None = getattr(request.app.state, "principal_resolver", None)
    if resolver is None:
        raise NotAuthenticated("No identity module is enabled")
    principal = await resolver(request, db, cache, token)
    user_id_var.set(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=principal.user_id)
    request.state.principal = principal
    await check_user_limit(request, principal.user_id)
    return principal


def require(
    *codes: str, allow_pending: bool = False, all_data: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting signed-in callers who hold every one of `codes`.

    With no codes it admits any signed-in caller (self-service routes). Codes must be declared
    in a module's `permissions.py`; a typo fails at import time, not at request time.
    `allow_pending` admits callers who still must set up MFA or change their password (their
    profile, password, MFA and logout routes); every other route refuses them with 403.
    `all_data` admits only callers whose data scope is "all" (superusers included): routes
    over records that cannot be limited to a data scope, such as the audit logs (403).
    """
    for code in codes:
        if code not in registry:
            raise ValueError(f"permission {code!r} is not declared in any permissions.py")

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not allow_pending:
            if principal.password_change_required:
                raise PermissionDenied(
                    "Password change required: set a new one with PUT /api/v1/auth/me/password "
                    "(`current_password`, `new_password`) before using other endpoints"
                )
            if principal.mfa_enrollment_required:
                raise PermissionDenied(
                    "Multi-factor authentication must be set up first: POST "
                    "/api/v1/auth/mfa/setup, then POST /api/v1/auth/mfa/confirm with a code"
                )
        for code in codes:
            if not principal.can(code):
                raise PermissionDenied(f"Permission denied: {code}")
        if all_data and not (principal.is_superuser or principal.scope.all):
            raise PermissionDenied("Permission denied: this needs the data scope 'all'")
        return principal

    dependency.required_permissions = codes  # type: ignore[attr-defined]
    dependency.requires_all_data = all_data  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{'_'.join(codes) or 'signed_in'}"
    return dependency


CurrentPrincipal = Annotated[Principal, Depends(require())]
# The caller's own account routes, reachable while a password change or MFA setup is pending.
SelfPrincipal = Annotated[Principal, Depends(require(allow_pending=True))]
