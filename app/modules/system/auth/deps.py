"""Who the caller is: the system module's `PrincipalResolver` for the core's route guard
(`app.core.guard`: `require()`, `CurrentPrincipal`), the session check of an Idempotency-Key
replay, and the app's token service and password hasher.

A warm request makes no database query in the scale shape: the token is checked locally, the
session and the permission versions come from the shared cache in one round trip, the
principal from the in-process memo (or the shared cache). The lite shape adds one primary-key
read, the revocation epoch, so that a revocation by another process (the command line) ends
the session at once (`sessions.current_epoch`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.access import Principal
from app.core.cache import Cache
from app.core.errors import NotAuthenticated
from app.core.security.passwords import PasswordHasher
from app.core.security.tokens import InvalidToken, TokenService
from app.modules.system.auth import authz, sessions


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


async def resolve_principal(
    request: Request, db: AsyncSession, cache: Cache, token: str
) -> Principal:
    """The caller `token` stands for, or 401: the system module's `PrincipalResolver`, which
    the core's route guard (`app.core.guard.get_principal`) calls."""
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
    return await authz.load_principal(
        db,
        cache,
        principal_memo(request.app),
        claims.user_id,
        claims.session_id,
        (versions[0], versions[1]),
    )


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


PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]
