"""Login, refresh-token rotation, logout and password change.

Refresh tokens are opaque, 256-bit, stored as SHA-256, and rotated on every use with an atomic
`UPDATE ... WHERE used_at IS NULL`: of two concurrent refreshes with one token exactly one wins.
Presenting a token that was already used ends the whole session (reuse detection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.config import Settings
from app.core.errors import TooManyRequests
from app.core.security.captcha import CaptchaService
from app.core.security.passwords import PasswordHasher, check_password
from app.core.security.tokens import TokenService, hash_token, new_refresh_token
from app.modules.auth import authz, mfa, sessions
from app.modules.auth.exceptions import (
    CaptchaRequired,
    InvalidCaptcha,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    MfaCodeRequired,
    WrongPassword,
)
from app.modules.auth.models import AuthSession, RefreshToken
from app.modules.auth.schemas import TokenResponse
from app.modules.auth.throttle import LoginThrottle
from app.modules.system.param.reader import ParamReader
from app.modules.system.user.models import User

security_log = structlog.get_logger("app.security")


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str | None


@dataclass(frozen=True)
class LoginForm:
    username: str
    password: str
    otp: str | None = None
    captcha_id: str | None = None
    captcha_code: str | None = None


@dataclass(frozen=True)
class AuthContext:
    """Everything the auth services need from the app, passed explicitly."""

    db: AsyncSession
    cache: Cache
    settings: Settings
    tokens: TokenService
    hasher: PasswordHasher
    # Writes a login-log entry (batched, outside this request's transaction).
    log_event: Callable[..., None] = lambda **_: None
    # Runtime parameters (`login.max_failures`, ...); None outside a request.
    params: ParamReader | None = None

    def now(self) -> datetime:
        return self.tokens.now()


async def _issue(ctx: AuthContext, session: AuthSession, user: User) -> TokenResponse:
    refresh = new_refresh_token()
    ctx.db.add(
        RefreshToken(session_id=session.id, token_hash=hash_token(refresh), created_at=ctx.now())
    )
    await ctx.db.flush()
    access, expires_in, _claims = ctx.tokens.issue_access(
        user.id, session.id, not_after=session.expires_at
    )
    return TokenResponse(
        access_token=access,
        expires_in=expires_in,
        refresh_token=refresh,
        password_change_required=user.must_change_password,
    )


async def login(ctx: AuthContext, form: LoginForm, client: ClientInfo) -> TokenResponse:
    """Check throttles, captcha, password and MFA; open a session; issue tokens."""

    def event(
        success: bool, reason: str | None = None, user: User | None = None, name: str = "login"
    ) -> None:
        ctx.log_event(
            event=name,
            success=success,
            reason=reason,
            username=form.username,
            user_id=user.id if user else None,
            ip=client.ip,
            user_agent=client.user_agent,
        )

    throttle = LoginThrottle(
        ctx.cache,
        ctx.settings,
        max_failures=await ctx.params.get_int("login.max_failures") if ctx.params else None,
        lockout_seconds=await ctx.params.get_int("login.lockout_seconds") if ctx.params else None,
    )
    try:
        failures = await throttle.check(form.username, client.ip)
    except TooManyRequests:
        event(False, "throttled")
        raise
    if throttle.captcha_required(failures):
        if not form.captcha_id or not form.captcha_code:
            event(False, "captcha_required")
            raise CaptchaRequired(
                errors=[
                    {
                        "field": "captcha_code",
                        "message": "is required: get a captcha from GET /api/v1/auth/captcha",
                        "type": "missing",
                    }
                ]
            )
        if not await CaptchaService(ctx.cache, ctx.settings).verify(
            form.captcha_id, form.captcha_code
        ):
            event(False, "captcha_invalid")
            raise InvalidCaptcha(
                errors=[
                    {
                        "field": "captcha_code",
                        "message": "is wrong or expired: get a new captcha from "
                        "GET /api/v1/auth/captcha",
                        "type": "invalid",
                    }
                ]
            )

    user = (
        await ctx.db.execute(select(User).where(User.username == form.username.strip()))
    ).scalar_one_or_none()
    if user is None:
        await ctx.hasher.verify_dummy(form.password)  # same cost as a wrong password
        ok = False
    else:
        ok = await ctx.hasher.verify(user.password_hash, form.password)
    if not ok or user is None or user.status != "active":
        locked = await throttle.failure(form.username, client.ip)
        event(False, "bad_credentials" if not ok else "disabled", user)
        if locked:
            event(False, None, user if ok else None, name="lockout")
        security_log.info(
            "login_failed", username_hash=hash_token(form.username)[:16], ip=client.ip
        )
        raise InvalidCredentials()

    if user.mfa_enabled:
        if not form.otp:
            event(False, "mfa_required", user)
            raise MfaCodeRequired(
                errors=[{"field": "otp", "message": "required", "type": "missing"}]
            )
        if not await mfa.verify_second_factor(ctx.db, ctx.settings, user, form.otp, ctx.now()):
            locked = await throttle.failure(form.username, client.ip)
            event(False, "mfa_failed", user)
            if locked:
                event(False, None, user, name="lockout")
            security_log.info("login_mfa_failed", user_id=user.id, ip=client.ip)
            raise InvalidMfaCode()

    await throttle.success(form.username, client.ip)
    if ctx.hasher.needs_rehash(user.password_hash):
        user.password_hash = await ctx.hasher.hash(form.password)
    now = ctx.now()
    user.last_login_at = now
    user.last_login_ip = client.ip
    session = await sessions.create_session(
        ctx.db,
        ctx.cache,
        ctx.settings,
        user_id=user.id,
        ip=client.ip,
        user_agent=client.user_agent,
        now=now,
    )
    security_log.info("login", user_id=user.id, session_id=session.id, ip=client.ip)
    event(True, None, user)
    return await _issue(ctx, session, user)


async def refresh(ctx: AuthContext, refresh_token: str, client: ClientInfo) -> TokenResponse:
    """Rotate: the presented token is spent, a new one is issued; reuse ends the session."""
    now = ctx.now()
    digest = hash_token(refresh_token)
    spent = await ctx.db.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = (
        await ctx.db.execute(select(RefreshToken).where(RefreshToken.token_hash == digest))
    ).scalar_one_or_none()
    if row is None:
        raise InvalidRefreshToken()
    if int(getattr(spent, "rowcount", 0) or 0) != 1:
        # Already used: someone replayed it (or two clients raced). End the session.
        await sessions.revoke_sessions(
            ctx.db, ctx.cache, [row.session_id], reason="refresh_reuse", now=now
        )
        security_log.warning(
            "refresh_token_reuse",
            session_id=row.session_id,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        owner = await ctx.db.get(AuthSession, row.session_id)
        ctx.log_event(
            event="refresh_reuse",
            success=False,
            reason="session_revoked",
            user_id=owner.user_id if owner else None,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        await ctx.db.commit()  # the revocation must stick although this request fails
        raise InvalidRefreshToken()
    session = await ctx.db.get(AuthSession, row.session_id)
    if (
        session is None
        or session.revoked_at is not None
        or session.expires_at <= now
        or session.idle_expires_at <= now
    ):
        raise InvalidRefreshToken()
    user = await ctx.db.get(User, session.user_id)
    if user is None or user.status != "active":
        raise InvalidRefreshToken()
    # Sliding idle window, never past the absolute cap.
    session.idle_expires_at = min(
        now + timedelta(seconds=ctx.settings.session_idle_timeout), session.expires_at
    )
    session.last_seen_at = now
    session.ip = client.ip
    return await _issue(ctx, session, user)


async def logout(
    ctx: AuthContext, session_id: str, user_id: int, username: str, client: ClientInfo
) -> None:
    await sessions.revoke_sessions(ctx.db, ctx.cache, [session_id], reason="logout", now=ctx.now())
    ctx.log_event(
        event="logout",
        success=True,
        username=username,
        user_id=user_id,
        ip=client.ip,
        user_agent=client.user_agent,
    )


async def change_password(
    ctx: AuthContext, user_id: int, session_id: str, current: str, new: str
) -> None:
    """Needs the current password; ends every other session of the user (ASVS 6.2.3, 7.4.3)."""
    user = await ctx.db.get(User, user_id)
    if user is None:
        raise InvalidCredentials()
    if not await ctx.hasher.verify(user.password_hash, current):
        raise WrongPassword(
            errors=[{"field": "current_password", "message": "incorrect", "type": "invalid"}]
        )
    email_local = (user.email or "").split("@", 1)[0]
    check_password(
        new,
        settings=ctx.settings,
        field="new_password",
        context=[user.username, user.name, email_local],
    )
    if await ctx.hasher.verify(user.password_hash, new):
        raise WrongPassword(
            "The new password must differ from the current one",
            errors=[{"field": "new_password", "message": "same as current", "type": "invalid"}],
        )
    user.password_hash = await ctx.hasher.hash(new)
    user.password_changed_at = ctx.now()
    user.must_change_password = False
    await sessions.revoke_user_sessions(
        ctx.db, ctx.cache, user.id, reason="password_changed", now=ctx.now(), keep=session_id
    )
    await authz.invalidate_user(ctx.cache, user.id, ctx.db)
    security_log.info("password_changed", user_id=user.id)
