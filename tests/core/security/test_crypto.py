"""Secret boxes and keyed hashes (docs/security-checklist.md §1.1: ASVS 6.5.2, 6.5.3; V11
cryptography)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from app.core.security.crypto import SecretBox, derive_key, keyed_hash

SECRET = "crypto-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SECRET, purpose="mfa")


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("plaintext", [SEED, "", "ünïcödé ✓ 密码", "x" * 10_000])
def test_round_trip(box: SecretBox, plaintext: str) -> None:
    """ASVS 6.5.2: an MFA seed encrypted at rest decrypts to the original."""
    assert box.decrypt(box.encrypt(plaintext)) == plaintext


def test_token_format_and_random_nonce(box: SecretBox) -> None:
    """ASVS 11.3 (AES-GCM): version byte + 12-byte random nonce + ciphertext + 16-byte tag."""
    first, second = box.encrypt(SEED), box.encrypt(SEED)
    assert first != second, "a fresh nonce per encryption"
    for token in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert raw[0] == 1
        assert len(raw) == 1 + 12 + len(SEED) + 16
        assert SEED.encode() not in raw
    assert SEED not in first


@pytest.mark.parametrize(
    "index", [0, 1, 12, 13, -1], ids=["version", "nonce", "nonce-end", "ct", "tag"]
)
def test_tampering_detected(box: SecretBox, index: int) -> None:
    """ASVS 6.5.2: any altered byte makes decryption fail with ValueError."""
    token = box.encrypt(SEED)
    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(_flip(token, index))


@pytest.mark.parametrize("token", ["", "!!!", "a", "abc=", "YQ", "A" * 20, "é" * 40])
def test_malformed_tokens_rejected(box: SecretBox, token: str) -> None:
    """ASVS 6.5.2: garbage raises ValueError, never another exception."""
    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(token)


def test_truncated_token_rejected(box: SecretBox) -> None:
    """ASVS 6.5.2: a token cut short (tag missing) is refused."""
    token = box.encrypt(SEED)
    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(token[:-4])


def test_other_purpose_cannot_decrypt(box: SecretBox) -> None:
    """V11 key separation: a token made for "mfa" does not open as another purpose."""
    token = box.encrypt(SEED)
    with pytest.raises(ValueError, match="cannot decrypt"):
        SecretBox(SECRET, purpose="mfa2").decrypt(token)
    with pytest.raises(ValueError, match="cannot decrypt"):
        SecretBox(SECRET, purpose="webhook").decrypt(token)


def test_other_secret_cannot_decrypt(box: SecretBox) -> None:
    """ASVS 6.5.2: without SECRET_KEY the stored seeds are useless."""
    with pytest.raises(ValueError, match="cannot decrypt"):
        SecretBox(OTHER_SECRET, purpose="mfa").decrypt(box.encrypt(SEED))


def test_same_secret_and_purpose_interoperate(box: SecretBox) -> None:
    """ASVS 6.5.2: another process with the same configuration decrypts the value."""
    assert SecretBox(SECRET, purpose="mfa").decrypt(box.encrypt(SEED)) == SEED


def test_empty_purpose_or_secret_refused() -> None:
    """V11 key separation: a purpose label and a secret are mandatory."""
    with pytest.raises(ValueError, match="purpose"):
        SecretBox(SECRET, purpose="")
    with pytest.raises(ValueError, match="secret"):
        SecretBox("", purpose="mfa")
    with pytest.raises(ValueError, match="purpose"):
        keyed_hash(SECRET, "x", purpose="")


def test_derived_keys_are_independent() -> None:
    """V11 key separation: distinct contexts and secrets give unrelated 32-byte keys."""
    keys = {
        derive_key(SECRET, context="a"),
        derive_key(SECRET, context="b"),
        derive_key(OTHER_SECRET, context="a"),
    }
    assert len(keys) == 3 and all(len(key) == 32 for key in keys)
    assert derive_key(SECRET, context="a") == derive_key(SECRET, context="a")


def test_keyed_hash_is_deterministic_and_separated() -> None:
    """ASVS 6.5.2: recovery codes are stored as a keyed hash, deterministic per purpose."""
    digest = keyed_hash(SECRET, "7kq2mx9d3hvt", purpose="recovery")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert keyed_hash(SECRET, "7kq2mx9d3hvt", purpose="recovery") == digest
    assert keyed_hash(SECRET, "7kq2mx9d3hvu", purpose="recovery") != digest
    assert keyed_hash(SECRET, "7kq2mx9d3hvt", purpose="email-code") != digest
    assert keyed_hash(OTHER_SECRET, "7kq2mx9d3hvt", purpose="recovery") != digest


def test_keyed_hash_needs_the_secret() -> None:
    """ASVS 6.5.2: the digest is not a plain hash, nor an HMAC keyed with the raw secret."""
    value = "7kq2mx9d3hvt"
    digest = keyed_hash(SECRET, value, purpose="recovery")
    assert digest != hashlib.sha256(value.encode()).hexdigest()
    assert digest != hmac.new(SECRET.encode(), value.encode(), hashlib.sha256).hexdigest()
