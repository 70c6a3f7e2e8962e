"""Authentication and authorization dependencies every route uses.

    @router.post("", dependencies=[Depends(require(USER_CREATE))])
    async def create_user(...): ...

    @router.get("/me")
    async def get_me(principal: Annotated[Principal, Depends(require())]): ...  # signed in

A warm request makes no database query in the scale shape: the token is checked locally, the
session and the permission versions come from the shared cache in one round trip, the
principal from the in-process memo (or the shared cache). The lite shape adds one primary-key
read, the revocation epoch, so that a revocation by another process (the command line) ends
the session at once (`sessions.current_epoch`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.security import OAuth2PasswordBearer

from app.core.access import Principal, registry
from app.core.context import user_id_var
from app.core.database import SessionDep
from app.core.deps import CacheDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.ratelimit import check_user_limit
from app.core.security.passwords import PasswordHasher
from app.core.security.tokens import InvalidToken, TokenService
from app.modules.system.auth import authz, sessions

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login", auto_error=False, refreshUrl="/api/v1/auth/refresh"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def token_service(app: FastAPI) -> TokenService:
    """The app's token service (one per app, built on first use)."""
    service: TokenService | None = getattr(app.state, "token_service", None)
    if service is None:
        service = TokenService(app.state.settings)
        app.state.token_service = service
    return service


def principal_memo(app: FastAPI) -> authz.PrincipalMemo:
    memo: authz.PrincipalMemo | None = getattr(app.state, "principal_memo", None)
    if memo is None:
        memo = authz.PrincipalMemo()
        app.state.principal_memo = memo
    return memo


def password_hasher(app: FastAPI) -> PasswordHasher:
    """The app's password hasher (one per app: its semaphore bounds concurrent hashing)."""
    hasher: PasswordHasher | None = getattr(app.state, "password_hasher", None)
    if hasher is None:
        hasher = PasswordHasher(app.state.settings)
        app.state.password_hasher = hasher
    return hasher


async def get_password_hasher(request: Request) -> PasswordHasher:
    return password_hasher(request.app)


async def get_token_service(request: Request) -> TokenService:
    return token_service(request.app)


async def get_principal(
    request: Request,
    db: SessionDep,
    cache: CacheDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """The signed-in caller, or 401."""
    if not token:
        raise NotAuthenticated()
    tokens = token_service(request.app)
    try:
        claims = tokens.decode_access(token)
    except InvalidToken:
        raise NotAuthenticated("Invalid or expired token") from None
    now = tokens.now()
    epoch = await sessions.current_epoch(db, cache)  # lite shape only: one indexed read
    raw_session, *versions = await cache.get_many(
        [sessions.session_key(claims.session_id), *authz.version_keys(claims.user_id)]
    )
    live = sessions.parse_cached(claims.session_id, raw_session, now, epoch)
    if live is None:
        live = await sessions.load_live(
            db, cache, claims.session_id, now, epoch, stale=raw_session is not None
        )
    if not live or live.user_id != claims.user_id:
        raise NotAuthenticated("Session ended")
    principal = await authz.load_principal(
        db,
        cache,
        principal_memo(request.app),
        claims.user_id,
        claims.session_id,
        (versions[0], versions[1]),
    )
    user_id_var.set(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=principal.user_id)
    request.state.principal = principal
    await check_user_limit(request, principal.user_id)
    return principal


async def session_is_live(app: FastAPI, token: str) -> bool:
    """Whether `token` is a valid access token of a live session: the session half of
    `get_principal`, for a check made outside a route (an `Idempotency-Key` replay, which
    runs before routing: app.core.idempotency.REPLAY_GUARD). Warm: one cache read."""
    tokens = token_service(app)
    try:
        claims = tokens.decode_access(token)
    except InvalidToken:
        return False
    now = tokens.now()
    cache = app.state.cache
    async with app.state.sessionmaker() as db:
        epoch = await sessions.current_epoch(db, cache)  # lite shape only
        raw = await cache.get(sessions.session_key(claims.session_id))
        live = sessions.parse_cached(claims.session_id, raw, now, epoch)
        if live is None:
            live = await sessions.load_live(
                db, cache, claims.session_id, now, epoch, stale=raw is not None
            )
    return isinstance(live, sessions.LiveSession) and live.user_id == claims.user_id


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
PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]
