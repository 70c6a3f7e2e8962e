"""Access tokens (short-lived HMAC-signed JWTs) and opaque refresh tokens.

Access-token rules (ASVS 9.1.1-9.2.3, RFC 8725):

- The algorithm is pinned by configuration and never read from the token header.
- Keys come only from configuration, selected by `kid`: the current key signs, retired keys
  (``JWT_RETIRED_KEYS``) only verify. A token naming any other `kid`, or carrying a header that
  points at a key (`jku`, `x5u`, `jwk`, `x5c`), is rejected before any verification.
- Signing keys are derived from ``SECRET_KEY`` with HMAC domain separation, so the same secret
  used elsewhere (secret boxes, keyed hashes) never yields the same key.
- Time claims are checked against the injected clock with `LEEWAY_SECONDS` of tolerance, to
  absorb clock skew between app processes; PyJWT's own time checks use the real clock and are
  turned off.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from app.core.config import Settings

# Tolerance for clock skew between processes. Small compared with the access-token lifetime
# (at least 60 s), so an expired token outlives its `exp` by at most 5 s.
LEEWAY_SECONDS = 5
ACCESS_TYPE = "access"
# Header parameters that let a token choose its own verification key (RFC 7515 §4.1); keys come
# only from configuration, so their presence alone means a forgery attempt.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"})
REQUIRED_CLAIMS = ("sub", "sid", "jti", "iat", "nbf", "exp", "iss", "aud", "type")
# Real tokens are ~400 bytes; refusing huge input bounds the work done on garbage.
MAX_TOKEN_LENGTH = 4096
# Positive integer without sign, whitespace, underscores or leading zeros; fits a BIGINT.
_USER_ID = re.compile(r"[1-9][0-9]{0,17}")
_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_KEY_CONTEXT = b"fastapiadmin:jwt"


class InvalidToken(Exception):
    """The token must not be accepted; `reason` is short and safe to log (never the token)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class AccessClaims:
    """The verified content of an access token."""

    user_id: int
    session_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def derive_signing_key(secret: str, algorithm: str) -> bytes:
    """The JWT key for `secret`: HMAC(secret, "fastapiadmin:jwt") with the algorithm's hash.

    Its length equals the hash size, the minimum RFC 7518 §3.2 asks for.
    """
    return hmac.new(secret.encode(), _KEY_CONTEXT, _DIGESTS[algorithm]).digest()


# Access tokens whose signature this process has checked, remembered (see TokenService).
VERIFIED_MEMO_SIZE = 4096


class TokenService:
    """Issues and verifies access tokens with the configured keys and an injectable clock."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl
        self._clock = clock or _utc_now
        self._kid = settings.jwt_key_id
        self._keys: dict[str, bytes] = {
            self._kid: derive_signing_key(settings.secret, self._algorithm)
        }
        # Signature-checked payloads by token: a client sends the same access token with each
        # request for its lifetime, so parsing and verifying it once per process is enough.
        # Only the signature check is skipped on a hit; type, times and claims are checked on
        # every call (`_check_claims`), and revocation is the session's business, not this.
        self._verified: dict[str, dict[str, Any]] = {}
        for entry in settings.jwt_retired_keys:
            kid, _, secret = entry.partition("=")
            # The current key always wins a `kid` clash: a retired entry must never replace
            # the key that signs.
            self._keys.setdefault(kid.strip(), derive_signing_key(secret.strip(), self._algorithm))

    def now(self) -> datetime:
        """The current time from the injected clock, timezone-aware.

        Callers checking sessions against the same instant as the token use this.

        Raises:
            ValueError: The clock returned a naive datetime.
        """
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return now

    def issue_access(
        self, user_id: int, session_id: str, *, not_after: datetime | None = None
    ) -> tuple[str, int, AccessClaims]:
        """Sign a new access token for a session.

        Args:
            user_id: Positive user id, stored as the string `sub`.
            session_id: The server-side session the token belongs to (`sid`).
            not_after: Optional cap on `exp`, typically the session's absolute expiry, so no
                token outlives its session (ASVS 7.3.2). Timezone-aware.

        Returns:
            The token, its lifetime in seconds (``expires_in``, shortened by `not_after`) and
            its claims.

        Raises:
            ValueError: `user_id` is not positive, `session_id` is empty, or `not_after` is
                naive or not in the future.
        """
        if user_id <= 0 or not session_id:
            raise ValueError("user_id must be positive and session_id non-empty")
        issued = int(self.now().timestamp())
        expires = issued + self._ttl
        if not_after is not None:
            if not_after.tzinfo is None:
                raise ValueError("not_after must be timezone-aware")
            expires = min(expires, int(not_after.timestamp()))
            if expires <= issued:
                raise ValueError("not_after is not in the future")
        lifetime = expires - issued
        jti = uuid.uuid4().hex
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": session_id,
            "jti": jti,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "type": ACCESS_TYPE,
        }
        token = jwt.encode(
            payload,
            self._keys[self._kid],
            algorithm=self._algorithm,
            headers={"kid": self._kid, "typ": "JWT"},
        )
        claims = AccessClaims(
            user_id=user_id,
            session_id=session_id,
            jti=jti,
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
        return token, lifetime, claims

    def decode_access(self, token: str) -> AccessClaims:
        """Verify an access token and return its claims.

        The unverified header is used only to pick one of the configured keys; nothing in the
        payload is looked at before the signature checks out.

        Raises:
            InvalidToken: For any reason the token cannot be trusted (malformed, wrong or
                unknown key, wrong algorithm, expired, not yet valid, wrong issuer, audience or
                type, missing or malformed claims).
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed")
        verified = self._verified.get(token)
        if verified is not None:
            return self._check_claims(verified)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed") from None
        if FORBIDDEN_HEADERS & header.keys():
            raise InvalidToken("untrusted key reference in header")
        if header.get("alg") != self._algorithm:
            # PyJWT enforces `algorithms=` too; failing early gives a clearer reason.
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown key id")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": True,
                    "verify_iss": True,
                    "strict_aud": True,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"missing claim {exc.claim}") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("algorithm not allowed") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("malformed") from None
        claims = self._check_claims(payload)
        if len(self._verified) >= VERIFIED_MEMO_SIZE:
            self._verified.clear()  # bounded: at worst each token is verified again once
        self._verified[token] = payload
        return claims

    def _check_claims(self, payload: dict[str, Any]) -> AccessClaims:
        if payload.get("type") != ACCESS_TYPE:
            raise InvalidToken("wrong token type")
        times = {name: payload[name] for name in ("iat", "nbf", "exp")}
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in times.values()):
            raise InvalidToken("malformed time claim")
        now = self.now().timestamp()
        if times["exp"] <= now - LEEWAY_SECONDS:
            raise InvalidToken("expired")
        if times["nbf"] > now + LEEWAY_SECONDS:
            raise InvalidToken("not yet valid")
        if times["iat"] > now + LEEWAY_SECONDS:
            raise InvalidToken("issued in the future")
        sub, sid, jti = payload["sub"], payload["sid"], payload["jti"]
        if not isinstance(sub, str) or not _USER_ID.fullmatch(sub):
            raise InvalidToken("malformed subject")
        if not isinstance(sid, str) or not sid or not isinstance(jti, str) or not jti:
            raise InvalidToken("malformed claims")
        try:
            issued_at = datetime.fromtimestamp(times["iat"], UTC)
            expires_at = datetime.fromtimestamp(times["exp"], UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidToken("malformed time claim") from None
        return AccessClaims(
            user_id=int(sub),
            session_id=sid,
            jti=jti,
            issued_at=issued_at,
            expires_at=expires_at,
        )


def new_refresh_token() -> str:
    """An opaque refresh token: 256 bits from the CSPRNG, URL-safe (ASVS 7.2.3)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of an opaque token, for storage and lookup.

    A plain, unsalted hash is enough at 256 bits of entropy: guessing is hopeless, and a
    deterministic digest allows an indexed lookup (ASVS 7.2.3 / 6.5.2 by analogy).
    """
    return hashlib.sha256(token.encode()).hexdigest()
