"""TOTP and recovery codes (docs/security-checklist.md §1.1 MFA: ASVS 6.5.1, 6.5.2, 6.5.3,
6.5.5)."""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from app.core.security.totp import (
    RECOVERY_ALPHABET,
    generate_recovery_codes,
    generate_secret,
    normalize_recovery_code,
    provisioning_uri,
    qr_png,
    verify_code,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# 15 s into a time-step, so that ±30 s lands exactly one step away.
NOW = datetime(2030, 1, 1, 12, 0, 15, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def code_at(offset_steps: int, secret: str = SECRET) -> str:
    """The code an authenticator shows `offset_steps` time-steps away from NOW."""
    return pyotp.TOTP(secret).at(NOW + timedelta(seconds=30 * offset_steps))


def test_secrets_are_160_bit_base32() -> None:
    """ASVS 6.5.3: seeds come from the CSPRNG and hold 160 bits."""
    secrets_ = {generate_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20


def test_provisioning_uri() -> None:
    """ASVS 6.5.5: the URI an app imports has our secret and issuer (SHA1/6 digits/30 s)."""
    uri = provisioning_uri(SECRET, account="alice@example.com", issuer="Acme Admin")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/Acme Admin:alice@example.com"
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET] and query["issuer"] == ["Acme Admin"]
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.digits, parsed.interval, parsed.secret) == (6, 30, SECRET)
    assert parsed.at(NOW) == code_at(0)


def test_provisioning_uri_without_issuer() -> None:
    """ASVS 6.5.5: an empty issuer is left out rather than sent empty."""
    uri = provisioning_uri(SECRET, account="alice", issuer="")
    assert "issuer" not in uri and uri.startswith("otpauth://totp/alice?")


def test_qr_png() -> None:
    """ASVS 6.5.3: enrolment QR code is a PNG image."""
    image = qr_png(provisioning_uri(SECRET, account="alice", issuer="Acme"))
    assert image.startswith(PNG_SIGNATURE) and len(image) > 200


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_within_the_drift_window_accepted(offset: int) -> None:
    """ASVS 6.5.5: steps -1, 0 and +1 (drift window 1) are accepted; the step is returned."""
    assert verify_code(SECRET, code_at(offset), last_used_step=None, now=NOW) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2, -10])
def test_codes_outside_the_drift_window_rejected(offset: int) -> None:
    """ASVS 6.5.5: a code from step -2 (or +2) is rejected."""
    assert code_at(offset) not in {code_at(-1), code_at(0), code_at(1)}  # not a collision
    assert verify_code(SECRET, code_at(offset), last_used_step=None, now=NOW) is None


def test_code_works_once() -> None:
    """ASVS 6.5.1: the same code twice within its window: the second attempt fails."""
    code = code_at(0)
    used = verify_code(SECRET, code, last_used_step=None, now=NOW)
    assert used == STEP
    assert verify_code(SECRET, code, last_used_step=used, now=NOW) is None
    later = NOW + timedelta(seconds=20)  # still in the window
    assert verify_code(SECRET, code, last_used_step=used, now=later) is None


def test_older_code_refused_after_newer_one() -> None:
    """ASVS 6.5.1: after step 0 was used, the still-valid code of step -1 is refused too."""
    assert verify_code(SECRET, code_at(-1), last_used_step=STEP, now=NOW) is None
    assert verify_code(SECRET, code_at(1), last_used_step=STEP, now=NOW) == STEP + 1


def test_spaces_in_code_ignored() -> None:
    """ASVS 6.5.5: "123 456" as apps display it is accepted."""
    code = code_at(0)
    assert verify_code(SECRET, f" {code[:3]} {code[3:]} ", last_used_step=None, now=NOW) == STEP


@pytest.mark.parametrize(
    "code",
    [
        "",
        "abcdef",
        "12345",
        "1234567",
        "12345a",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "-12345",
        "12.456",
    ],
)
def test_garbage_rejected(code: str) -> None:
    """ASVS 6.5.1: non-digit or wrong-length input is rejected (None, no exception)."""
    assert verify_code(SECRET, code, last_used_step=None, now=NOW) is None


def test_wrong_code_rejected() -> None:
    """ASVS 6.5.1: a wrong code and another seed's code are rejected."""
    right = code_at(0)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert verify_code(SECRET, wrong, last_used_step=None, now=NOW) is None
    other = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
    assert verify_code(other, right, last_used_step=None, now=NOW) is None
    assert verify_code(SECRET, code_at(0, other), last_used_step=None, now=NOW) is None


def test_naive_time_refused() -> None:
    """ASVS 6.5.5: a naive datetime would shift the step by the host's UTC offset."""
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_code(SECRET, "123456", last_used_step=None, now=NOW.replace(tzinfo=None))


def test_recovery_codes_format_and_entropy() -> None:
    """ASVS 6.5.2/6.5.3: recovery codes are random, unambiguous, >= 60 bits each."""
    codes = generate_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    alphabet = re.escape(RECOVERY_ALPHABET)
    for code in codes:
        assert re.fullmatch(rf"[{alphabet}]{{4}}-[{alphabet}]{{4}}-[{alphabet}]{{4}}", code)
    assert len(set(RECOVERY_ALPHABET)) == 32 and not set("ilou") & set(RECOVERY_ALPHABET)
    assert 12 * math.log2(len(RECOVERY_ALPHABET)) >= 60
    used = set("".join(generate_recovery_codes(100)).replace("-", ""))
    assert used <= set(RECOVERY_ALPHABET) and len(used) >= 30, "the whole alphabet is used"


def test_recovery_code_count_bounds() -> None:
    """ASVS 6.5.2: a sensible number of codes is generated."""
    assert len(generate_recovery_codes(1)) == 1
    with pytest.raises(ValueError, match="count"):
        generate_recovery_codes(0)
    with pytest.raises(ValueError, match="count"):
        generate_recovery_codes(101)


def test_normalize_recovery_code() -> None:
    """ASVS 6.5.2: typed variants of a code normalise to the same hashed form."""
    code = generate_recovery_codes(1)[0]
    canonical = code.replace("-", "")
    assert normalize_recovery_code(code) == canonical
    assert normalize_recovery_code(f"  {code.upper()} ") == canonical
    assert normalize_recovery_code(" ".join(canonical)) == canonical
    assert normalize_recovery_code("OIL0-1abc-defg") == "0110" + "1abcdefg"
    assert normalize_recovery_code("7kq2-mx9d-3hvt") != normalize_recovery_code("7kq2-mx9d-3hvv")
