"""Authentication routes: tokens, the caller's own account, sessions and MFA."""

from __future__ import annotations

import base64
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from app.core.access import public, registry
from app.core.database import SessionDep
from app.core.deps import CacheDep, SettingsDep
from app.core.guard import CurrentPrincipal, SelfPrincipal
from app.core.responses import Envelope, error_responses, ok
from app.core.security.captcha import CaptchaService
from app.core.security.passwords import PasswordHasher
from app.core.security.tokens import TokenService
from app.modules.system.auth import authz, mfa, service, sessions
from app.modules.system.auth.deps import get_password_hasher, get_token_service
from app.modules.system.auth.exceptions import (
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSetupMissing,
)
from app.modules.system.auth.schemas import (
    CaptchaRead,
    MeRead,
    MfaConfirm,
    MfaReauth,
    MfaSetup,
    MfaSetupRead,
    PasswordChange,
    ProfileUpdate,
    RecoveryCodesRead,
    RefreshRequest,
    SessionRead,
    TokenResponse,
)
from app.modules.system.login_log import recorder as login_log
from app.modules.system.menu.schemas import MenuTreeNode
from app.modules.system.param.reader import params_for
from app.modules.system.user.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

TokensDep = Annotated[TokenService, Depends(get_token_service)]
HasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]


async def get_context(
    request: Request,
    db: SessionDep,
    cache: CacheDep,
    settings: SettingsDep,
    tokens: TokensDep,
    hasher: HasherDep,
) -> service.AuthContext:
    return service.AuthContext(
        db=db,
        cache=cache,
        settings=settings,
        tokens=tokens,
        hasher=hasher,
        log_event=partial(login_log.record_event, request.app),
        params=params_for(request.app),
    )


ContextDep = Annotated[service.AuthContext, Depends(get_context)]


async def client_info(request: Request) -> service.ClientInfo:
    ip = request.client.host if request.client else "unknown"
    return service.ClientInfo(ip=ip[:64], user_agent=request.headers.get("user-agent"))


ClientDep = Annotated[service.ClientInfo, Depends(client_info)]


@router.post(
    "/login",
    dependencies=[Depends(public)],
    responses=error_responses(400, 401, 422, 429, 503),
)
async def login(
    ctx: ContextDep,
    client: ClientDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    otp: Annotated[str | None, Form(max_length=32)] = None,
    captcha_id: Annotated[str | None, Form(max_length=64)] = None,
    captcha_code: Annotated[str | None, Form(max_length=16)] = None,
) -> TokenResponse:
    """Sign in with the OAuth2 password form; answers the RFC 6749 token shape."""
    form = service.LoginForm(username, password, otp, captcha_id, captcha_code)
    return await service.login(ctx, form, client)


@router.post("/refresh", dependencies=[Depends(public)], responses=error_responses(401, 422, 503))
async def refresh(ctx: ContextDep, client: ClientDep, body: RefreshRequest) -> TokenResponse:
    """Exchange a refresh token for new tokens; the old refresh token is spent."""
    return await service.refresh(ctx, body.refresh_token, client)


@router.post("/logout", status_code=204, responses=error_responses(401))
async def logout(ctx: ContextDep, client: ClientDep, principal: SelfPrincipal) -> Response:
    """End the current session on every process."""
    await service.logout(ctx, principal.session_id, principal.user_id, principal.username, client)
    return Response(status_code=204)


@router.get("/captcha", dependencies=[Depends(public)], responses=error_responses(503))
async def get_captcha(cache: CacheDep, settings: SettingsDep) -> Envelope[CaptchaRead]:
    """A single-use image captcha for the login form."""
    captcha_id, png = await CaptchaService(cache, settings).create()
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    return ok(CaptchaRead(captcha_id=captcha_id, image=image, expires_in=settings.captcha_ttl))


async def _me(db: SessionDep, principal: SelfPrincipal) -> MeRead:
    user = await db.get(User, principal.user_id)
    assert user is not None  # the principal exists only for an active user
    return MeRead(
        id=user.id,
        username=user.username,
        name=user.name,
        email=user.email,
        phone=user.phone,
        dept_id=user.dept_id,
        is_superuser=user.is_superuser,
        roles=sorted(principal.roles),
        permissions=[p.code for p in registry.all() if principal.can(p.code)],
        mfa_enabled=user.mfa_enabled,
        password_change_required=principal.password_change_required,
        mfa_enrollment_required=principal.mfa_enrollment_required,
    )


@router.get("/me", responses=error_responses(401))
async def get_me(db: SessionDep, principal: SelfPrincipal) -> Envelope[MeRead]:
    """The caller: identity, roles and the permission codes they hold."""
    return ok(await _me(db, principal))


@router.patch("/me", responses=error_responses(401, 409, 422))
async def update_me(
    db: SessionDep, principal: SelfPrincipal, body: ProfileUpdate
) -> Envelope[MeRead]:
    """Edit the caller's own profile (name, email, phone; never roles or status)."""
    user = await db.get(User, principal.user_id)
    assert user is not None
    for field in body.model_fields_set:
        setattr(user, field, getattr(body, field))
    await db.flush()
    return ok(await _me(db, principal))


@router.get("/me/menus", responses=error_responses(401, 403))
async def get_my_menus(db: SessionDep, principal: CurrentPrincipal) -> Envelope[list[MenuTreeNode]]:
    """The tree of menus the caller may see, for a front end to build its routes."""
    return ok(await service.my_menus(db, principal))


@router.put("/me/password", status_code=204, responses=error_responses(400, 401, 422, 429))
async def change_my_password(
    ctx: ContextDep, principal: SelfPrincipal, body: PasswordChange
) -> Response:
    """Change the caller's password (needs the current one); other sessions end."""
    await service.change_password(
        ctx, principal.user_id, principal.session_id, body.current_password, body.new_password
    )
    return Response(status_code=204)


@router.get("/me/sessions", responses=error_responses(401))
async def list_my_sessions(
    ctx: ContextDep, principal: SelfPrincipal
) -> Envelope[list[SessionRead]]:
    """The caller's signed-in devices."""
    return ok(await service.my_sessions(ctx, principal))


@router.delete("/me/sessions/{session_id}", status_code=204, responses=error_responses(401, 404))
async def delete_my_session(ctx: ContextDep, principal: SelfPrincipal, session_id: str) -> Response:
    """Sign one of the caller's devices out."""
    await service.revoke_my_session(ctx, principal, session_id)
    return Response(status_code=204)


# ------------------------------------------------------------------------------ MFA --


@router.post("/mfa/setup", responses=error_responses(400, 401, 409, 422, 429))
async def start_mfa_setup(
    ctx: ContextDep, principal: SelfPrincipal, body: MfaSetup
) -> Envelope[MfaSetupRead]:
    """Begin TOTP enrolment (needs the password): a new seed as an otpauth URI and QR code."""
    user = await ctx.db.get(User, principal.user_id)
    assert user is not None
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    await service.check_current_password(ctx, user, body.password)
    return ok(await mfa.start_setup(ctx.settings, user))


@router.post("/mfa/confirm", responses=error_responses(400, 401, 409, 422, 429))
async def confirm_mfa_setup(
    ctx: ContextDep, principal: SelfPrincipal, body: MfaConfirm
) -> Envelope[RecoveryCodesRead]:
    """Turn MFA on with the password and a first code; the caller's other sessions end.
    Returns 10 single-use recovery codes (shown once)."""
    user = await ctx.db.get(User, principal.user_id)
    assert user is not None
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    if not user.mfa_secret:
        raise MfaSetupMissing()
    await service.confirm_totp(ctx, user, body.password, body.otp)
    user.mfa_enabled = True
    codes = await mfa.new_recovery_codes(ctx.db, ctx.settings, user)
    # A session opened before the second factor existed (perhaps by whoever made MFA needed)
    # ends; this one goes on (ASVS 7.4.3).
    await sessions.revoke_user_sessions(
        ctx.db, ctx.cache, user.id, reason="mfa_enabled", now=ctx.now(), keep=principal.session_id
    )
    await authz.invalidate_user(ctx.cache, user.id, ctx.db)
    return ok(RecoveryCodesRead(recovery_codes=codes))


async def _reauthenticate(ctx: service.AuthContext, user_id: int, body: MfaReauth) -> User:
    user = await ctx.db.get(User, user_id)
    assert user is not None
    if not user.mfa_enabled:
        raise MfaNotEnabled()
    await service.reauthenticate(ctx, user, body.password, body.otp)
    return user


@router.post("/mfa/disable", status_code=204, responses=error_responses(400, 401, 409, 429))
async def disable_mfa(ctx: ContextDep, principal: SelfPrincipal, body: MfaReauth) -> Response:
    """Turn MFA off; needs the password and a current code (or a recovery code)."""
    user = await _reauthenticate(ctx, principal.user_id, body)
    await mfa.disable(ctx.db, user)
    await authz.invalidate_user(ctx.cache, user.id, ctx.db)
    return Response(status_code=204)


@router.post("/mfa/recovery-codes", responses=error_responses(400, 401, 409, 429))
async def renew_recovery_codes(
    ctx: ContextDep, principal: SelfPrincipal, body: MfaReauth
) -> Envelope[RecoveryCodesRead]:
    """Replace the recovery codes (password and a current code needed); shown once."""
    user = await _reauthenticate(ctx, principal.user_id, body)
    return ok(
        RecoveryCodesRead(recovery_codes=await mfa.new_recovery_codes(ctx.db, ctx.settings, user))
    )
