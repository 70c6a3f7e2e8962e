"""Access and refresh tokens (docs/security-checklist.md §0 #6 and §1.2: ASVS 7.2.3,
9.1.1-9.2.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.config import Settings
from app.core.security.tokens import (
    LEEWAY_SECONDS,
    VERIFIED_MEMO_SIZE,
    AccessClaims,
    InvalidToken,
    TokenService,
    derive_signing_key,
    hash_token,
    new_refresh_token,
)
from tests.conftest import make_settings

SECRET = "token-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
OLD_SECRET = "previous-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
_DIGEST = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"secret_key": SECRET, "jwt_key_id": "k1", "jwt_retired_keys": []}
    values.update(overrides)
    return make_settings("sqlite+aiosqlite:///:memory:", **values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(clock: FakeClock) -> TokenService:
    return TokenService(_settings(), clock=clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any],
    payload: dict[str, Any],
    key: bytes | None = None,
    *,
    alg: str = "HS256",
) -> str:
    """Build a JWT by hand (no library checks), signed with HMAC-`alg` when a key is given."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), _DIGEST[alg]).digest()
    return f"{signing_input}.{_b64(signature)}"


def good_payload(**changes: Any) -> dict[str, Any]:
    issued = int(START.timestamp())
    payload: dict[str, Any] = {
        "iss": "fastapiadmin",
        "aud": "fastapiadmin-api",
        "sub": "42",
        "sid": "session-1",
        "jti": "0" * 32,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 900,
        "type": "access",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


GOOD_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
KEY = derive_signing_key(SECRET, "HS256")


def _reason(service: TokenService, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        service.decode_access(token)
    return caught.value.reason


def test_forge_helper_builds_valid_tokens(service: TokenService) -> None:
    """ASVS 9.1.1: sanity check, so the forgery tests below fail for the stated reason only."""
    claims = service.decode_access(forge(GOOD_HEADER, good_payload(), KEY))
    assert claims.user_id == 42 and claims.session_id == "session-1"


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_issue_and_decode_round_trip(clock: FakeClock, algorithm: str) -> None:
    """ASVS 9.1.1/9.2.2: issued tokens carry the documented claims and header and verify."""
    service = TokenService(_settings(jwt_algorithm=algorithm), clock=clock)
    token, expires_in, claims = service.issue_access(7, "sid-7")
    assert expires_in == 900
    assert claims == AccessClaims(
        user_id=7,
        session_id="sid-7",
        jti=claims.jti,
        issued_at=START,
        expires_at=START + timedelta(seconds=900),
    )
    assert re.fullmatch(r"[0-9a-f]{32}", claims.jti)
    assert service.decode_access(token) == claims
    header = jwt.get_unverified_header(token)
    assert header == {"alg": algorithm, "kid": "k1", "typ": "JWT"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == "7" and payload["type"] == "access"
    assert payload["iss"] == "fastapiadmin" and payload["aud"] == "fastapiadmin-api"
    assert payload["exp"] - payload["iat"] == 900 and payload["nbf"] == payload["iat"]


def test_each_token_has_a_fresh_jti(service: TokenService) -> None:
    """ASVS 7.2.4: every issued token is distinct (jti is a random uuid4)."""
    jtis = {service.issue_access(1, "s")[2].jti for _ in range(20)}
    assert len(jtis) == 20


def test_signing_key_is_derived_not_the_raw_secret() -> None:
    """ASVS 9.1.3 / 11: the JWT key is domain-separated from SECRET_KEY and full length."""
    assert SECRET.encode() != KEY and len(KEY) == 32
    assert len(derive_signing_key(SECRET, "HS512")) == 64
    assert derive_signing_key(OLD_SECRET, "HS256") != KEY


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_rejected(service: TokenService, alg: str) -> None:
    """ASVS 9.1.2: an unsigned `alg: none` token built by hand is rejected."""
    token = forge({"alg": alg, "typ": "JWT", "kid": "k1"}, good_payload())
    assert _reason(service, token) == "algorithm not allowed"


def test_other_hmac_algorithm_rejected(service: TokenService) -> None:
    """ASVS 9.1.2: only the pinned algorithm is accepted, even with the right key."""
    token = forge({**GOOD_HEADER, "alg": "HS512"}, good_payload(), KEY, alg="HS512")
    assert _reason(service, token) == "algorithm not allowed"


def test_signed_with_another_key_rejected(service: TokenService) -> None:
    """ASVS 9.1.1: HS256 with a different key fails signature verification."""
    token = forge(GOOD_HEADER, good_payload(), b"k" * 32)
    assert _reason(service, token) == "bad signature"
    raw_secret = forge(GOOD_HEADER, good_payload(), SECRET.encode())
    assert _reason(service, raw_secret) == "bad signature"


def test_signed_with_public_key_as_hmac_secret_rejected(service: TokenService) -> None:
    """ASVS 9.1.2 (key confusion): HS256 keyed with an RSA public PEM is rejected."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert _reason(service, forge(GOOD_HEADER, good_payload(), pem)) == "bad signature"


def test_tampered_payload_rejected_before_claims_are_read(service: TokenService) -> None:
    """ASVS 9.1.1: the signature is checked before any claim (reason is the signature)."""
    token, _, _ = service.issue_access(7, "sid")
    header, _, signature = token.split(".")
    tampered = forge(GOOD_HEADER, good_payload(sub="1", type="refresh")).split(".")[1]
    assert _reason(service, f"{header}.{tampered}.{signature}") == "bad signature"


def test_stripped_signature_rejected(service: TokenService) -> None:
    """ASVS 9.1.1: a token without its signature is rejected."""
    token, _, _ = service.issue_access(7, "sid")
    header, payload, _ = token.split(".")
    assert _reason(service, f"{header}.{payload}.") == "bad signature"
    assert _reason(service, f"{header}.{payload}") == "malformed"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30", "x" * 5000]
)
def test_malformed_tokens_rejected(service: TokenService, token: str) -> None:
    """ASVS 9.1.1: garbage never gets past decoding."""
    with pytest.raises(InvalidToken):
        service.decode_access(token)


@pytest.mark.parametrize("kid", ["k9", "", None, 1])
def test_unknown_or_missing_kid_rejected(service: TokenService, kid: object) -> None:
    """ASVS 9.1.3: only keys from configuration, selected by a known `kid`."""
    header = {k: v for k, v in {**GOOD_HEADER, "kid": kid}.items() if v is not None}
    with pytest.raises(InvalidToken):
        service.decode_access(forge(header, good_payload(), KEY))


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_reference_headers_rejected(service: TokenService, name: str) -> None:
    """ASVS 9.1.3: `jku`/`x5u`/`jwk`/`x5c` are refused even on a correctly signed token."""
    value: Any = {"kty": "oct", "k": _b64(KEY)} if name == "jwk" else "https://evil.example/k"
    token = forge({**GOOD_HEADER, name: value}, good_payload(), KEY)
    assert _reason(service, token) == "untrusted key reference in header"


def test_retired_key_in_config_verifies_unconfigured_does_not(clock: FakeClock) -> None:
    """ASVS 9.1.3: previous key inside the grace period verifies; after removal it fails."""
    old = TokenService(_settings(secret_key=OLD_SECRET, jwt_key_id="k0"), clock=clock)
    token, _, claims = old.issue_access(5, "sid")
    rotated = TokenService(_settings(jwt_retired_keys=[f"k0={OLD_SECRET}"]), clock=clock)
    assert rotated.decode_access(token) == claims
    new_token, _, _ = rotated.issue_access(5, "sid")
    assert jwt.get_unverified_header(new_token)["kid"] == "k1", "retired keys never sign"
    assert old.decode_access(token) == claims
    with pytest.raises(InvalidToken):
        old.decode_access(new_token)
    retired_gone = TokenService(_settings(), clock=clock)
    assert _reason(retired_gone, token) == "unknown key id"
    wrong_secret = TokenService(_settings(jwt_retired_keys=[f"k0={'z' * 40}"]), clock=clock)
    assert _reason(wrong_secret, token) == "bad signature"


def test_retired_entry_cannot_replace_current_key(clock: FakeClock) -> None:
    """ASVS 9.1.3: a retired entry reusing the current kid does not change the signing key."""
    service = TokenService(_settings(jwt_retired_keys=[f"k1={OLD_SECRET}"]), clock=clock)
    token, _, _ = service.issue_access(5, "sid")
    assert TokenService(_settings(), clock=clock).decode_access(token).user_id == 5


def test_expired_token_rejected(service: TokenService, clock: FakeClock) -> None:
    """ASVS 9.2.1: `exp` is enforced on the app clock, with LEEWAY_SECONDS of skew allowed."""
    token, expires_in, _ = service.issue_access(7, "sid")
    clock.advance(expires_in - 1)
    service.decode_access(token)
    clock.advance(LEEWAY_SECONDS)  # 4 s past exp: inside the leeway
    service.decode_access(token)
    clock.advance(1)
    assert _reason(service, token) == "expired"
    clock.advance(86400)
    assert _reason(service, token) == "expired"


def test_not_yet_valid_token_rejected(clock: FakeClock) -> None:
    """ASVS 9.2.1: `nbf` in the future (beyond the leeway) is rejected."""
    verifier = TokenService(_settings(), clock=clock)
    early = forge(GOOD_HEADER, good_payload(nbf=int(START.timestamp()) + 60), KEY)
    assert _reason(verifier, early) == "not yet valid"
    skewed = TokenService(_settings(), clock=FakeClock(START + timedelta(seconds=60)))
    assert _reason(verifier, skewed.issue_access(1, "s")[0]) == "not yet valid"
    within = TokenService(_settings(), clock=FakeClock(START + timedelta(seconds=3)))
    assert verifier.decode_access(within.issue_access(1, "s")[0]).user_id == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "another-api"}, "wrong audience"),
        ({"aud": ["fastapiadmin-api", "another-api"]}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"type": "refresh"}, "wrong token type"),
        ({"type": "ACCESS"}, "wrong token type"),
        ({"iat": int(START.timestamp()) + 3600}, "issued in the future"),
        ({"exp": "tomorrow"}, "malformed time claim"),
        ({"exp": True}, "malformed time claim"),
        ({"sid": ""}, "malformed claims"),
    ],
)
def test_wrong_claims_rejected(service: TokenService, changes: dict[str, Any], reason: str) -> None:
    """ASVS 9.2.2/9.2.3: audience, issuer and token type are checked against config."""
    assert _reason(service, forge(GOOD_HEADER, good_payload(**changes), KEY)) == reason


def test_token_for_another_audience_from_same_secret_rejected(clock: FakeClock) -> None:
    """ASVS 9.2.3: a token minted for another audience/issuer with our key is refused."""
    other = TokenService(_settings(jwt_audience="reports-api"), clock=clock)
    assert _reason(TokenService(_settings(), clock=clock), other.issue_access(1, "s")[0]) == (
        "wrong audience"
    )
    other_iss = TokenService(_settings(jwt_issuer="elsewhere"), clock=clock)
    assert _reason(TokenService(_settings(), clock=clock), other_iss.issue_access(1, "s")[0]) == (
        "wrong issuer"
    )


@pytest.mark.parametrize("claim", ["sub", "sid", "jti", "iat", "nbf", "exp", "iss", "aud", "type"])
def test_missing_claim_rejected(service: TokenService, claim: str) -> None:
    """ASVS 9.2.1-9.2.3: every required claim must be present."""
    token = forge(GOOD_HEADER, good_payload(**{claim: None}), KEY)
    assert _reason(service, token) == f"missing claim {claim}"


@pytest.mark.parametrize("sub", ["0", "abc", "-1", "01", "1.5", " 1", "1_000", "9" * 19, 42])
def test_subject_must_be_a_positive_integer_string(service: TokenService, sub: object) -> None:
    """ASVS 9.2.x: `sub` "0", "abc" and other non-canonical ids are rejected."""
    with pytest.raises(InvalidToken):
        service.decode_access(forge(GOOD_HEADER, good_payload(sub=sub), KEY))


def test_issue_validates_arguments(service: TokenService) -> None:
    """ASVS 9.2.x: no token is minted for a user id that decode would refuse."""
    with pytest.raises(ValueError, match="positive"):
        service.issue_access(0, "sid")
    with pytest.raises(ValueError, match="session_id"):
        service.issue_access(1, "")


def test_not_after_caps_the_lifetime(service: TokenService, clock: FakeClock) -> None:
    """ASVS 7.3.2: an access token never outlives its session's absolute expiry."""
    session_end = START + timedelta(seconds=120)
    token, expires_in, claims = service.issue_access(7, "sid", not_after=session_end)
    assert expires_in == 120 and claims.expires_at == session_end
    assert service.decode_access(token).expires_at == session_end
    clock.advance(120 + LEEWAY_SECONDS)
    assert _reason(service, token) == "expired"


def test_not_after_never_extends_the_lifetime(service: TokenService) -> None:
    """ASVS 7.3.1: a distant session end does not lengthen the configured token TTL."""
    _, expires_in, claims = service.issue_access(7, "sid", not_after=START + timedelta(days=1))
    assert expires_in == 900 and claims.expires_at == START + timedelta(seconds=900)


def test_not_after_must_be_future_and_aware(service: TokenService) -> None:
    """ASVS 7.3.2: no token for an already-ended session; naive times are refused."""
    with pytest.raises(ValueError, match="not in the future"):
        service.issue_access(7, "sid", not_after=START)
    with pytest.raises(ValueError, match="timezone-aware"):
        service.issue_access(7, "sid", not_after=START.replace(tzinfo=None) + timedelta(hours=1))


def test_now_is_the_injected_clock(service: TokenService, clock: FakeClock) -> None:
    """ASVS 9.2.1: callers check sessions against the same clock as the token."""
    assert service.now() == START
    clock.advance(10)
    assert service.now() == START + timedelta(seconds=10)


def test_clock_must_be_timezone_aware() -> None:
    """ASVS 9.2.1: a naive clock would shift every expiry by the host's UTC offset."""
    service = TokenService(_settings(), clock=lambda: datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        service.issue_access(1, "s")


def test_refresh_tokens_are_256_bit_random() -> None:
    """ASVS 7.2.3: opaque refresh tokens are CSPRNG values of >= 128 bits, URL-safe."""
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes = 256 bits


def test_refresh_tokens_are_stored_hashed() -> None:
    """ASVS 7.2.3 / 6.5.2: only the SHA-256 of a refresh token is stored."""
    token = new_refresh_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and token not in digest
    assert hash_token(token) == digest
    assert hash_token(new_refresh_token()) != digest


def test_a_remembered_token_lends_nothing_to_a_forged_one(service: TokenService) -> None:
    """ASVS 9.1.1: the per-process memo of verified tokens is keyed by the whole token, so a
    token verified once does not make a copy with another signature or payload valid, and
    the memo stays bounded."""
    token = forge(GOOD_HEADER, good_payload(), KEY)
    assert service.decode_access(token).user_id == 42
    assert service.decode_access(token).user_id == 42  # from the memo
    head, body, signature = token.split(".")
    other_signature = _b64(b"\x00" * 32)
    assert _reason(service, f"{head}.{body}.{other_signature}") == "bad signature"
    promoted = forge(GOOD_HEADER, good_payload(sub="1"), b"k" * 32)
    assert _reason(service, f"{promoted.rsplit('.', 1)[0]}.{signature}") == "bad signature"
    for n in range(VERIFIED_MEMO_SIZE + 10):
        service.decode_access(forge(GOOD_HEADER, good_payload(jti=f"{n:032d}"), KEY))
    assert len(service._verified) <= VERIFIED_MEMO_SIZE
