"""Operator commands behind `python main.py createsuperuser`, `reset-password` and
`reset-mfa`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache, create_cache
from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker, utcnow
from app.core.errors import Duplicate, NotFound, ValidationFailed, validation_details
from app.core.security.passwords import PasswordHasher, generate_password
from app.modules.system.auth import authz, sessions
from app.modules.system.user import repository as user_repository
from app.modules.system.user import service as user_service
from app.modules.system.user.exceptions import EmailTaken, UsernameTaken
from app.modules.system.user.models import User
from app.modules.system.user.schemas import UserCreate


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[tuple[AsyncSession, Cache]]:
    engine = create_engine(settings)
    cache = create_cache(
        settings.redis_url,
        prefix=settings.cache_prefix,
        socket_timeout=settings.redis_socket_timeout,
        connect_timeout=settings.redis_connect_timeout,
    )
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            yield db, cache
    finally:
        await cache.close()
        await engine.dispose()


def validated_user(**fields: Any) -> UserCreate:
    """`fields` checked by the API's own `UserCreate` schema (one validation for the API,
    the import and the command line); its problems as one `ValidationFailed` naming each
    field."""
    try:
        return UserCreate(**fields)
    except ValidationError as exc:
        # In the API's words (no pattern, no pydantic wording, never the value).
        details = validation_details(exc.errors(include_input=False, include_url=False))
        raise ValidationFailed("Invalid user", errors=details) from None


async def create_superuser(
    settings: Settings, *, username: str, name: str, email: str | None, password: str | None
) -> str | None:
    """Create a superuser; returns the generated one-time password when none was given.

    The same rules as `POST /api/v1/system/users`: the schema, the password policy, and a
    username or email unique in any letter case (409 `UsernameTaken` / `EmailTaken`).
    """
    generated = password is None
    secret = password if password is not None else generate_password()
    data = validated_user(
        username=username, name=name, email=email, password=secret, must_change_password=generated
    )
    user_service.check_new_password(settings, data)
    password_hash = await PasswordHasher(settings).hash(secret)
    try:
        async with _transaction(settings) as (db, _cache):
            if await user_repository.username_taken(db, data.username):
                raise UsernameTaken()
            if data.email and await user_repository.email_taken(db, data.email):
                raise EmailTaken()
            user = user_service.new_user(data, password_hash, created_by=None, now=utcnow())
            user.is_superuser = True
            db.add(user)
    except IntegrityError:  # created meanwhile by someone else, in another letter case
        raise Duplicate(
            "Conflict: a user with this username or email already exists",
            fields=("username", "email"),
        ) from None
    return secret if generated else None


async def reset_password(settings: Settings, *, username: str) -> str:
    """Give a user a generated one-time password, end their sessions, force a change."""
    secret = generate_password()
    async with _transaction(settings) as (db, cache):
        user = (
            await db.execute(select(User).where(User.username == username))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.password_hash = await PasswordHasher(settings).hash(secret)
        user.must_change_password = True
        user.password_changed_at = utcnow()
        await sessions.revoke_user_sessions(
            db, cache, user.id, reason="password_reset", now=utcnow()
        )
        await authz.invalidate_user(cache, user.id)
    return secret


async def reset_mfa(settings: Settings, *, username: str) -> bool:
    """Turn a user's MFA off (lost authenticator) and end their sessions; they sign in with
    their password alone and enrol again. Returns False when they had no MFA to reset."""
    from app.modules.system.auth import mfa

    async with _transaction(settings) as (db, cache):
        user = (
            await db.execute(select(User).where(User.username == username))
        ).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {username!r}")
        if not user.mfa_enabled and user.mfa_secret is None:
            return False
        await mfa.disable(db, user)
        await db.flush()
        await sessions.revoke_user_sessions(db, cache, user.id, reason="mfa_reset", now=utcnow())
        await authz.invalidate_user(cache, user.id)
    return True


async def reencrypt_mfa_secrets(settings: Settings) -> tuple[int, int]:
    """Re-encrypt every MFA seed under the current SECRET_KEY (after a rotation).

    Returns (re-encrypted, unreadable): seeds readable with no configured key stay as they are.
    """
    from app.modules.system.auth.mfa import read_seed

    changed = unreadable = 0
    async with _transaction(settings) as (db, _cache):
        users = (await db.execute(select(User).where(User.mfa_secret.is_not(None)))).scalars()
        for user in users:
            before = user.mfa_secret
            if read_seed(settings, user) is None:
                unreadable += 1
            elif user.mfa_secret != before:
                changed += 1
    return changed, unreadable
