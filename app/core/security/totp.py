"""TOTP (RFC 6238) second factor and recovery codes.

Parameters are the ones every authenticator app supports: HMAC-SHA1, 6 digits, 30 s period
(ASVS 6.5.5). Verification accepts the previous, current and next time-step (a drift window of
1, Keycloak's default look-around), so a code stays usable for at most ~90 s, and each accepted
step is returned so the caller can store it and refuse replays (ASVS 6.5.1).
"""

from __future__ import annotations

import hmac
import io
import re
import secrets
from datetime import datetime

import pyotp
import segno

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1
# Crockford's base32 alphabet in lowercase: no i, l, o, u, so 0/o and 1/l/i cannot be confused.
# 32 symbols x 12 characters = 60 bits per recovery code.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
# Look-alikes a user may type from a printed sheet, read the way Crockford base32 does.
_RECOVERY_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def generate_secret() -> str:
    """A new TOTP seed: 32 base32 characters (160 bits) from the CSPRNG (ASVS 6.5.3)."""
    return pyotp.random_base32(length=32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps import (usually via a QR code).

    Args:
        secret: The base32 seed.
        account: Shown in the app, typically the user name or email.
        issuer: Shown in the app, typically ``settings.mfa_issuer`` or the app name.
    """
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer or None)


def qr_png(uri: str) -> bytes:
    """Render `uri` as a PNG QR code.

    This is CPU work of a few milliseconds: call it through ``asyncio.to_thread`` from async
    code.
    """
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=5, border=4)
    return buffer.getvalue()


def verify_code(secret: str, code: str, *, last_used_step: int | None, now: datetime) -> int | None:
    """Check a TOTP code and return the time-step it belongs to.

    Steps -1, 0 and +1 around `now` are accepted. Every candidate is compared with
    `hmac.compare_digest`, and all are computed, so timing reveals neither the code nor the
    step. Spaces in the input ("123 456", as apps display it) are ignored.

    Args:
        secret: The base32 seed.
        code: What the user typed.
        last_used_step: The step of the last accepted code for this user, or None. A code for
            that step or an earlier one is refused, so each code works once (ASVS 6.5.1).
        now: The current time, timezone-aware.

    Returns:
        The matched step, to store as the new `last_used_step`; None if the code is wrong,
        malformed or already used.

    Raises:
        ValueError: `now` is naive or `secret` is not valid base32.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    typed = "".join(code.split()) if isinstance(code, str) else ""
    if not _CODE.fullmatch(typed):
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    matched: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        fresh = last_used_step is None or step > last_used_step
        # Evaluate the comparison for every step (no short-circuit) so all paths do the
        # same work; the newest fresh match wins.
        if hmac.compare_digest(expected.encode(), typed.encode()) and fresh:
            matched = step
    return matched


def generate_recovery_codes(count: int = 10) -> list[str]:
    """One-time recovery codes like ``7kq2-mx9d-3hvt`` (60 bits each, CSPRNG).

    Store only `keyed_hash` of `normalize_recovery_code(code)` and show the codes once.

    Args:
        count: How many codes to generate (1-100).
    """
    if not 1 <= count <= 100:
        raise ValueError("count must be between 1 and 100")
    codes: set[str] = set()
    while len(codes) < count:
        groups = (
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
            for _ in range(RECOVERY_GROUPS)
        )
        codes.add("-".join(groups))
    return sorted(codes)


def normalize_recovery_code(code: str) -> str:
    """Canonical form for hashing and comparison.

    Lowercases, removes spaces and dashes, and reads the look-alikes o as 0 and i, l as 1 (they
    are not in the alphabet, so this never merges two different valid codes).
    """
    squashed = "".join(ch for ch in code.lower() if not (ch.isspace() or ch == "-"))
    return squashed.translate(_RECOVERY_LOOKALIKES)
