"""MFA survives a SECRET_KEY rotation while the old key is listed in JWT_RETIRED_KEYS
(docs/deployment.md "Rotating the secret key"; ASVS 13.3.4 key rotation)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.modules.system.auth import mfa
from app.modules.system.auth.models import RecoveryCode
from app.modules.system.commands import reencrypt_mfa_secrets
from app.modules.system.user.models import User
from tests.conftest import make_settings
from tests.support.identity import create_user

NEW_SECRET = "rotated-secret-key-9876543210-zyxwvutsrqponmlkjihgfedcba"


def rotated(settings: Settings, *, keep_old: bool = True) -> Settings:
    return make_settings(
        settings.database_url,
        secret_key=NEW_SECRET,
        jwt_key_id="k2",
        jwt_retired_keys=[f"k1={settings.secret}"] if keep_old else [],
    )


async def test_seed_and_recovery_codes_work_under_the_retired_key_and_move_to_the_new_one(
    app: FastAPI,
) -> None:
    old = app.state.settings
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, username="rotating")
        setup = await mfa.start_setup(old, user)
        codes = await mfa.new_recovery_codes(db, old, user)
        user.mfa_enabled = True
    now = datetime.now(UTC)
    code = pyotp.TOTP(setup.secret).at(now)

    # Without the old key nothing matches: the reason rotation needs the retired entry.
    assert not mfa.verify_totp(rotated(old, keep_old=False), user, code, now)

    new = rotated(old)
    encrypted_before = user.mfa_secret
    assert mfa.verify_totp(new, user, code, now)
    assert user.mfa_secret != encrypted_before  # re-encrypted under the new key
    assert mfa.read_seed(rotated(old, keep_old=False), user) == setup.secret

    async with app.state.sessionmaker() as db, db.begin():
        assert await mfa.use_recovery_code(db, new, user, codes[0], now)
        assert not await mfa.use_recovery_code(db, new, user, codes[0], now)  # still once
        used = (
            await db.execute(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None)))
        ).scalars()
        assert len(list(used)) == 1


async def test_reencrypt_command_moves_every_seed(app: FastAPI) -> None:
    old = app.state.settings
    async with app.state.sessionmaker() as db, db.begin():
        users = [await create_user(db, username=f"mfa{i}") for i in range(3)]
        seeds = [(await mfa.start_setup(old, user)).secret for user in users]
        unknown = await create_user(db, username="garbled")
        unknown.mfa_secret = "AQ" + "A" * 60  # readable with no key
    new = rotated(old)
    assert await reencrypt_mfa_secrets(new) == (3, 1)
    assert await reencrypt_mfa_secrets(new) == (0, 1)  # idempotent
    without_old = rotated(old, keep_old=False)
    async with app.state.sessionmaker() as db:
        for user, seed in zip(users, seeds, strict=True):
            fresh = await db.get(User, user.id)
            assert fresh is not None
            assert mfa.read_seed(without_old, fresh) == seed
