"""TOTP multi-factor authentication with single-use recovery codes (ASVS 6.5.x).

The seed is stored encrypted (AES-GCM, key derived from SECRET_KEY) and shown once at setup; a
code is accepted once (the last accepted time step is stored); recovery codes are stored as
keyed hashes and each works once. Turning MFA off needs the password and a code.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.core.config import Settings
from app.core.security import totp
from app.core.security.crypto import SecretBox, keyed_hash
from app.modules.system.auth.models import RecoveryCode
from app.modules.system.auth.schemas import MfaSetupRead
from app.modules.system.user.models import User

RECOVERY_CODES = 10


def _box(settings: Settings, secret: str | None = None) -> SecretBox:
    return SecretBox(secret or settings.secret, purpose="mfa")


def _code_hash(settings: Settings, code: str, secret: str | None = None) -> str:
    normalized = totp.normalize_recovery_code(code)
    return keyed_hash(secret or settings.secret, normalized, purpose="recovery")


def read_seed(settings: Settings, user: User) -> str | None:
    """The user's TOTP seed, decrypted with the current key or a retired one.

    A seed still under a retired key (after a SECRET_KEY rotation) is re-encrypted under the
    current key on the way, so it survives the retired key's removal once the user has signed
    in (or `python main.py reencrypt-secrets` has run).
    """
    if not user.mfa_secret:
        return None
    for index, secret in enumerate(settings.readable_secrets):
        try:
            seed = _box(settings, secret).decrypt(user.mfa_secret)
        except ValueError:
            continue
        if index:
            user.mfa_secret = _box(settings).encrypt(seed)
        return seed
    return None


def _looks_like_totp(code: str) -> bool:
    return code.strip().isdigit() and len(code.strip()) == 6


async def start_setup(settings: Settings, user: User) -> MfaSetupRead:
    """Create a pending seed (MFA stays off until a code confirms it)."""
    secret = totp.generate_secret()
    user.mfa_secret = _box(settings).encrypt(secret)
    user.mfa_last_step = None
    uri = totp.provisioning_uri(
        secret, account=user.username, issuer=settings.mfa_issuer or settings.app_name
    )
    png = await asyncio.to_thread(totp.qr_png, uri)  # image work stays off the event loop
    return MfaSetupRead(
        secret=secret,
        otpauth_uri=uri,
        qr_png="data:image/png;base64," + base64.b64encode(png).decode(),
    )


def verify_totp(settings: Settings, user: User, code: str, now: datetime) -> bool:
    """Check a TOTP code against the user's seed; a code works once."""
    if not user.mfa_secret or not _looks_like_totp(code):
        return False
    secret = read_seed(settings, user)
    if secret is None:
        return False
    step = totp.verify_code(secret, code.strip(), last_used_step=user.mfa_last_step, now=now)
    if step is None:
        return False
    user.mfa_last_step = step
    return True


async def accept_totp(
    db: AsyncSession, settings: Settings, user: User, code: str, now: datetime
) -> bool:
    """`verify_totp` for sign-in and re-authentication: the step is recorded with one
    compare-and-set `UPDATE` (no versioned write of the user row), so of parallel requests
    with one code exactly one is accepted and the others are refused, never a 409."""
    if not user.mfa_secret or not _looks_like_totp(code):
        return False
    secret = read_seed(settings, user)
    if secret is None:
        return False
    step = totp.verify_code(secret, code.strip(), last_used_step=user.mfa_last_step, now=now)
    if step is None:
        return False
    result = await db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.mfa_last_step.is_(None), User.mfa_last_step < step),
        )
        .values(mfa_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        return False  # another request used this code (or a later one) first
    set_committed_value(user, "mfa_last_step", step)
    return True


async def use_recovery_code(
    db: AsyncSession, settings: Settings, user: User, code: str, now: datetime
) -> bool:
    """Spend a recovery code (atomically: a code works once even under concurrency)."""
    result = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash.in_(
                [_code_hash(settings, code, secret) for secret in settings.readable_secrets]
            ),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def verify_second_factor(
    db: AsyncSession, settings: Settings, user: User, code: str, now: datetime
) -> bool:
    """A TOTP code, or else one of the user's recovery codes (each accepted once)."""
    if await accept_totp(db, settings, user, code, now):
        return True
    return await use_recovery_code(db, settings, user, code, now)


async def new_recovery_codes(db: AsyncSession, settings: Settings, user: User) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned this once only."""
    codes = totp.generate_recovery_codes(RECOVERY_CODES)
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.add_all(RecoveryCode(user_id=user.id, code_hash=_code_hash(settings, c)) for c in codes)
    await db.flush()
    return codes


async def disable(db: AsyncSession, user: User) -> None:
    user.mfa_enabled = False
    user.mfa_secret = None
    user.mfa_last_step = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


async def unused_recovery_codes(db: AsyncSession, user_id: int) -> int:
    rows = await db.execute(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(rows.all())
