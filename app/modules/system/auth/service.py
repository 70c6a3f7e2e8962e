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

from app.core.access import Principal
from app.core.cache import Cache
from app.core.config import Settings
from app.core.errors import TooManyRequests
from app.core.security.captcha import CaptchaService
from app.core.security.passwords import PasswordHasher, check_password
from app.core.security.tokens import TokenService, hash_token, new_refresh_token
from app.modules.system.auth import authz, mfa, repository, sessions
from app.modules.system.auth.exceptions import (
    CaptchaRequired,
    InvalidCaptcha,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    MfaCodeRequired,
    SessionNotFound,
    WrongPassword,
)
from app.modules.system.auth.models import AuthSession, RefreshToken
from app.modules.system.auth.schemas import SessionRead, TokenResponse
from app.modules.system.auth.throttle import LoginThrottle, Reservation
from app.modules.system.menu import service as menu_service
from app.modules.system.menu.schemas import MenuTreeNode
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


async def throttle_for(ctx: AuthContext) -> LoginThrottle:
    """The guess counters with the operator's current limits (`login.max_failures`, ...)."""
    params = ctx.params
    return LoginThrottle(
        ctx.cache,
        ctx.settings,
        max_failures=await params.get_int("login.max_failures") if params else None,
        lockout_seconds=await params.get_int("login.lockout_seconds") if params else None,
    )


async def _captcha_refusal(
    ctx: AuthContext, throttle: LoginThrottle, attempt: Reservation, subject: str, form: LoginForm
) -> str | None:
    """A captcha is due always, or once the account's failures reach the threshold (the
    reservation then holds no slot on the account counter); a solved one takes a slot beyond
    it. Returns why the attempt stops here (nothing was evaluated), or None."""
    account = throttle.account(subject)
    if not throttle.captcha_always and (
        not throttle.captcha_after_failures or attempt.holds(account)
    ):
        return None
    if not form.captcha_id or not form.captcha_code:
        return "captcha_required"
    if not await CaptchaService(ctx.cache, ctx.settings).verify(form.captcha_id, form.captcha_code):
        return "captcha_invalid"
    if throttle.captcha_after_failures:
        await attempt.add(account, force=True)
    return None


async def login(ctx: AuthContext, form: LoginForm, client: ClientInfo) -> TokenResponse:
    """Reserve the attempt, find the account, check captcha, password and MFA; open a session;
    issue tokens."""

    def event(user: User | None, success: bool, reason: str | None, name: str = "login") -> None:
        # Only the name of an existing account is logged: a password typed into the
        # username field must not end up in the login log (ASVS 16.2.5).
        ctx.log_event(
            event=name,
            success=success,
            reason=reason,
            username=user.username if user else None,
            user_id=user.id if user else None,
            ip=client.ip,
            user_agent=client.user_agent,
        )

    name = form.username.strip()
    throttle = await throttle_for(ctx)
    subject = throttle.subject(name)
    try:
        attempt = await throttle.limiter.reserve(
            throttle.pair(subject, client.ip),
            throttle.per_ip(client.ip),
            optional=throttle.account(subject) if throttle.captcha_after_failures else None,
        )
    except TooManyRequests:
        event(await repository.user_by_username(ctx.db, name), False, "throttled")
        raise
    async with attempt:
        user = await repository.user_by_username(ctx.db, name)
        refused = await _captcha_refusal(ctx, throttle, attempt, subject, form)
        if refused == "captcha_required":
            event(user, False, refused)
            raise CaptchaRequired(
                errors=[
                    {
                        "field": "captcha_code",
                        "message": "is required: get a captcha from GET /api/v1/auth/captcha",
                        "type": "missing",
                    }
                ]
            )
        if refused == "captcha_invalid":
            event(user, False, refused)
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
        if user is None:
            await ctx.hasher.verify_dummy(form.password)  # same cost as a wrong password
            ok = False
        else:
            ok = await ctx.hasher.verify(user.password_hash, form.password)
        # A disabled account, or one in a disabled department, gets the answer of a wrong password.
        if not ok or user is None or not await authz.may_sign_in(ctx.db, user):
            locked = await attempt.failed()
            event(user, False, "bad_credentials" if not ok else "disabled")
            if locked:
                event(user, False, None, name="lockout")
            security_log.info("login_failed", account=subject, ip=client.ip)
            raise InvalidCredentials()
        if user.mfa_enabled:
            await _second_factor(ctx, throttle, attempt, user, form, client, event)
        await attempt.succeeded()

    rehashed = None
    if ctx.hasher.needs_rehash(user.password_hash):
        rehashed = await ctx.hasher.hash(form.password)
    await repository.record_sign_in(ctx.db, user, ip=client.ip, now=ctx.now(), rehashed=rehashed)
    session = await sessions.create_session(
        ctx.db,
        ctx.cache,
        ctx.settings,
        user_id=user.id,
        ip=client.ip,
        user_agent=client.user_agent,
        now=ctx.now(),
    )
    security_log.info("login", user_id=user.id, session_id=session.id, ip=client.ip)
    event(user, True, None)
    return await _issue(ctx, session, user)


async def _second_factor(
    ctx: AuthContext,
    throttle: LoginThrottle,
    attempt: Reservation,
    user: User,
    form: LoginForm,
    client: ClientInfo,
    event: Callable[..., None],
) -> None:
    """The TOTP or recovery code of a sign-in, reserved on the user's counter as well.

    The password was right; a code not sent or not evaluated gives the sign-in's slots back
    (the caller's `async with` cancels the reservation on the way out).
    """
    if not form.otp:
        event(user, False, "mfa_required")
        raise MfaCodeRequired(errors=[{"field": "otp", "message": "required", "type": "missing"}])
    try:
        code_attempt = await throttle.limiter.reserve(throttle.user(user.id), wait=False)
    except TooManyRequests:
        event(user, False, "throttled")
        raise
    async with code_attempt:
        if await mfa.verify_second_factor(ctx.db, ctx.settings, user, form.otp, ctx.now()):
            await code_attempt.succeeded()
            return
        await code_attempt.failed()
        locked = await attempt.failed()
        event(user, False, "mfa_failed")
        if locked:
            event(user, False, None, name="lockout")
        security_log.info("login_mfa_failed", user_id=user.id, ip=client.ip)
        raise InvalidMfaCode()


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
    if user is None or not await authz.may_sign_in(ctx.db, user):
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
    await check_current_password(ctx, user, current, field="current_password")
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


# ------------------------------------------------------------------ re-authentication --
# A signed-in user proving again who they are guesses a secret like a sign-in does: every
# check reserves its attempt on the user's counter first (`LoginThrottle.user`).


async def check_current_password(
    ctx: AuthContext, user: User, password: str, *, field: str = "password"
) -> None:
    """The user's current password, as a reserved guess (ASVS 6.2.3, 7.5.1); 400 if wrong."""
    throttle = await throttle_for(ctx)
    async with await throttle.limiter.reserve(throttle.user(user.id), wait=False) as attempt:
        if not await ctx.hasher.verify(user.password_hash, password):
            await attempt.failed()
            security_log.info("reauth_failed", user_id=user.id, factor="password")
            raise WrongPassword(
                errors=[{"field": field, "message": "incorrect", "type": "invalid"}]
            )
        await attempt.succeeded()


async def reauthenticate(ctx: AuthContext, user: User, password: str, code: str) -> None:
    """The password and a current TOTP or recovery code, as one reserved guess."""
    throttle = await throttle_for(ctx)
    async with await throttle.limiter.reserve(throttle.user(user.id), wait=False) as attempt:
        if not await ctx.hasher.verify(user.password_hash, password):
            await attempt.failed()
            security_log.info("reauth_failed", user_id=user.id, factor="password")
            raise WrongPassword(
                errors=[{"field": "password", "message": "incorrect", "type": "invalid"}]
            )
        if not await mfa.verify_second_factor(ctx.db, ctx.settings, user, code, ctx.now()):
            await attempt.failed()
            security_log.info("reauth_failed", user_id=user.id, factor="otp")
            raise InvalidMfaCode(errors=[{"field": "otp", "message": "invalid", "type": "invalid"}])
        await attempt.succeeded()


async def confirm_totp(ctx: AuthContext, user: User, password: str, code: str) -> None:
    """The password and the first code of an MFA enrolment, as one reserved guess; 400 if
    either is wrong (ASVS 7.5.1: enrolment re-authenticates)."""
    throttle = await throttle_for(ctx)
    async with await throttle.limiter.reserve(throttle.user(user.id), wait=False) as attempt:
        if not await ctx.hasher.verify(user.password_hash, password):
            await attempt.failed()
            security_log.info("reauth_failed", user_id=user.id, factor="password")
            raise WrongPassword(
                errors=[{"field": "password", "message": "incorrect", "type": "invalid"}]
            )
        if not mfa.verify_totp(ctx.settings, user, code, ctx.now()):
            await attempt.failed()
            raise InvalidMfaCode(errors=[{"field": "otp", "message": "invalid", "type": "invalid"}])
        await attempt.succeeded()


# ------------------------------------------------------------------------- the caller --
async def my_menus(db: AsyncSession, principal: Principal) -> list[MenuTreeNode]:
    """The tree of menus the caller may see."""
    return menu_service.build_tree(await repository.visible_menus(db, principal))


async def my_sessions(ctx: AuthContext, principal: Principal) -> list[SessionRead]:
    """The caller's live sessions (signed-in devices), newest first."""
    rows = await repository.live_sessions(ctx.db, ctx.now(), user_id=principal.user_id)
    return [SessionRead.of(row, principal.username, principal.session_id) for row in rows]


async def revoke_my_session(ctx: AuthContext, principal: Principal, session_id: str) -> None:
    """Sign one of the caller's own live sessions out (404 for any other)."""
    rows = await repository.live_sessions(ctx.db, ctx.now(), user_id=principal.user_id)
    if session_id not in {row.id for row in rows}:
        raise SessionNotFound()
    await sessions.revoke_sessions(
        ctx.db, ctx.cache, [session_id], reason="self_revoked", now=ctx.now()
    )
