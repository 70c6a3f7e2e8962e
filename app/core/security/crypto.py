"""Symmetric encryption and keyed hashing with keys derived from ``SECRET_KEY``.

Every key is derived with HKDF-SHA256 and a `purpose` label, so one application secret yields
independent keys per use: a value encrypted for "mfa" cannot be decrypted as anything else,
and none of these keys equals the JWT signing key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Unpadded URL-safe base64, as `SecretBox.encrypt` writes it.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def derive_key(secret: str, *, context: str, length: int = 32) -> bytes:
    """HKDF-SHA256 of `secret` for one `context` (no salt: the secret is high-entropy).

    Args:
        secret: The application secret.
        context: Domain-separation label; different labels give unrelated keys.
        length: Key length in bytes.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=context.encode())
    return hkdf.derive(secret.encode())


class SecretBox:
    """AES-256-GCM encryption of short strings, e.g. MFA seeds at rest (ASVS 6.5.2).

    Token layout (URL-safe base64, unpadded): version byte, 12-byte random nonce, ciphertext
    with its 16-byte tag. The version byte and `purpose` are authenticated as associated data,
    so a token moved to another purpose, or altered in any byte, fails to decrypt.
    """

    def __init__(self, secret: str, *, purpose: str) -> None:
        if not purpose:
            raise ValueError("purpose must not be empty")
        self._aad = bytes([_VERSION]) + purpose.encode()
        self._aead = AESGCM(derive_key(secret, context=f"fastapiadmin:secretbox:{purpose}"))

    def encrypt(self, plaintext: str) -> str:
        """Encrypt `plaintext`; two calls with the same input give different tokens."""
        # 96-bit random nonces: collision risk stays negligible far beyond the number of
        # values an admin backend will ever encrypt under one key.
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad)
        raw = bytes([_VERSION]) + nonce + sealed
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made by `encrypt` with the same secret and purpose.

        Raises:
            ValueError: The token is malformed, was altered, or was made with another secret
                or purpose. The message never says which.
        """
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValueError("cannot decrypt: malformed token")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("cannot decrypt: malformed token") from None
        if len(raw) < 1 + _NONCE_BYTES + _TAG_BYTES or raw[0] != _VERSION:
            raise ValueError("cannot decrypt: malformed token")
        nonce, sealed = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, sealed, self._aad)
        except InvalidTag:
            raise ValueError("cannot decrypt: wrong key or tampered token") from None
        return plaintext.decode()


def keyed_hash(secret: str, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 hex of `value` under a key derived for `purpose`.

    For short codes stored hashed (recovery codes, verification codes): without the secret an
    attacker holding the database cannot brute-force them offline, and the digest is
    deterministic so a submitted code can be looked up.
    """
    if not purpose:
        raise ValueError("purpose must not be empty")
    key = derive_key(secret, context=f"fastapiadmin:keyed-hash:{purpose}")
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
