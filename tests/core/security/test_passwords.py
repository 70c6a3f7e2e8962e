"""Password hashing and policy (docs/security-checklist.md §1.1: ASVS 6.2.x, 6.3.8, 6.4.1,
11.4.2)."""

from __future__ import annotations

import asyncio
import os
import string
import threading
import time
from typing import Any

import argon2
import pytest

from app.core.config import Settings
from app.core.errors import ValidationFailed
from app.core.responses import ErrorDetail
from app.core.security.passwords import (
    PasswordHasher,
    PasswordPolicyError,
    check_password,
    common_passwords,
    generate_password,
    is_common_password,
)
from tests.conftest import make_settings

PASSPHRASE = "correct horse battery staple"


def _settings(**overrides: Any) -> Settings:
    return make_settings("sqlite+aiosqlite:///:memory:", **overrides)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return _settings()


@pytest.fixture
def hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(settings)


def _policy_types(password: str, settings: Settings, **kwargs: Any) -> list[str]:
    with pytest.raises(PasswordPolicyError) as caught:
        check_password(password, settings=settings, **kwargs)
    return [detail.type for detail in _details(caught.value)]


def _details(error: PasswordPolicyError) -> list[ErrorDetail]:
    assert all(isinstance(detail, ErrorDetail) for detail in error.errors)
    return [detail for detail in error.errors if isinstance(detail, ErrorDetail)]


# ------------------------------------------------------------------------------ hashing --


async def test_stored_hash_is_argon2id_with_owasp_minimums(hasher: PasswordHasher) -> None:
    """docs/security-checklist.md §0 #10, ASVS 11.4.2: Argon2id with m >= 19456 KiB, t >= 2 (§1.1
    example)."""
    stored = await hasher.hash("a perfectly fine password")
    assert stored.startswith("$argon2id$v=19$")
    params = dict(part.split("=") for part in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1
    assert not hasher.needs_rehash(stored)


async def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    """ASVS 11.4.2: the same password hashes differently each time (random 16-byte salt)."""
    first, second = await hasher.hash("same"), await hasher.hash("same")
    assert first != second
    assert await hasher.verify(first, "same") and await hasher.verify(second, "same")


async def test_verify_rejects_wrong_password(hasher: PasswordHasher) -> None:
    """ASVS 6.2.8: only the exact password verifies."""
    stored = await hasher.hash("right password")
    assert await hasher.verify(stored, "right password") is True
    assert await hasher.verify(stored, "wrong password") is False
    assert await hasher.verify(stored, "") is False


def test_needs_rehash_for_old_parameters(hasher: PasswordHasher) -> None:
    """ASVS 11.4.2: a hash made with m=8192 (or not Argon2id) is upgraded at the next login."""
    weak = argon2.PasswordHasher(memory_cost=8192, time_cost=2, parallelism=1).hash("pw")
    assert "m=8192" in weak
    assert hasher.needs_rehash(weak) is True
    argon2i = argon2.PasswordHasher(type=argon2.Type.I).hash("pw")
    assert hasher.needs_rehash(argon2i) is True
    bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
    assert hasher.needs_rehash(bcrypt) is True
    assert hasher.needs_rehash("$argon2id$garbage") is True
    current = argon2.PasswordHasher(
        memory_cost=19456, time_cost=2, parallelism=1, hash_len=32, salt_len=16
    ).hash("pw")
    assert hasher.needs_rehash(current) is False


async def test_old_hash_still_verifies(hasher: PasswordHasher) -> None:
    """ASVS 11.4.2: old-parameter hashes keep working until rehashed on login."""
    weak = argon2.PasswordHasher(memory_cost=8192, time_cost=2, parallelism=1).hash("pw")
    assert await hasher.verify(weak, "pw") is True


@pytest.mark.parametrize(
    "password",
    [
        "a" * 64,
        "Zq9!" * 32,  # 128 characters
        "密码安全" * 16,  # 64 characters, 192 bytes: beyond bcrypt's 72-byte limit
    ],
    ids=["64-ascii", "128-ascii", "64-multibyte"],
)
async def test_long_passwords_verify(hasher: PasswordHasher, password: str) -> None:
    """ASVS 6.2.9: passwords of 64+ characters, including multibyte ones, work."""
    stored = await hasher.hash(password)
    assert await hasher.verify(stored, password) is True
    assert await hasher.verify(stored, password[:-1]) is False


async def test_no_case_folding_or_truncation(hasher: PasswordHasher) -> None:
    """ASVS 6.2.8: case variants and one extra byte past 72 bytes do not verify."""
    password = "P@ss" + "x" * 68  # exactly 72 bytes
    stored = await hasher.hash(password)
    assert await hasher.verify(stored, password.lower()) is False
    assert await hasher.verify(stored, password.upper()) is False
    assert await hasher.verify(stored, password + "y") is False
    longer = await hasher.hash(password + "y")
    assert await hasher.verify(longer, password) is False


@pytest.mark.parametrize(
    "stored",
    ["", "not-a-hash", "$argon2id$v=19$m=19456,t=2,p=1$", "$2b$12$abcdefghijklmnopqrstuv"],
)
async def test_verify_returns_false_for_invalid_hashes(hasher: PasswordHasher, stored: str) -> None:
    """ASVS 6.3.8: a corrupt or foreign stored hash fails closed, without an exception."""
    assert await hasher.verify(stored, "anything") is False


async def test_hash_and_verify_run_off_the_event_loop(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASVS 11.4.2 reliability (API4): hashing happens in worker threads.

    Each hash waits, inside argon2, for the event loop to tick: only possible when the hash
    runs in another thread (on the loop it would wait out the timeout and fail).
    """
    loop_thread = threading.get_ident()
    ticked = threading.Event()
    seen: list[tuple[int, bool]] = []
    original_hash, original_verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify

    def spy_hash(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> str:
        seen.append((threading.get_ident(), ticked.wait(timeout=5)))
        return original_hash(self, *args, **kwargs)

    def spy_verify(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> bool:
        seen.append((threading.get_ident(), ticked.wait(timeout=5)))
        return original_verify(self, *args, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy_hash)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy_verify)
    done = False
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            if ticks >= 10:
                ticked.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    hashes = await asyncio.gather(*(hasher.hash(f"pw{i}") for i in range(4)))
    verified = await asyncio.gather(*(hasher.verify(h, f"pw{i}") for i, h in enumerate(hashes)))
    done = True
    await task
    assert verified == [True] * 4
    assert len(seen) == 8
    assert all(thread != loop_thread and waited for thread, waited in seen)
    assert ticks >= 10


def _count_concurrency(monkeypatch: pytest.MonkeyPatch, hold: float = 0.05) -> dict[str, int]:
    state = {"now": 0, "max": 0, "calls": 0}
    lock = threading.Lock()
    original = argon2.PasswordHasher.hash

    def spy(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> str:
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["max"] = max(state["max"], state["now"])
        try:
            time.sleep(hold)  # widen the overlap so an unbounded hasher would show it
            return original(self, *args, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy)
    return state


async def test_concurrency_is_bounded_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """API4 / docs/security-checklist.md §1.1 reliability: at most PASSWORD_HASH_CONCURRENCY hashes
    at once."""
    hasher = PasswordHasher(_settings(password_hash_concurrency=2))
    state = _count_concurrency(monkeypatch)
    await asyncio.gather(*(hasher.hash(f"pw{i}") for i in range(6)))
    assert state["calls"] == 6
    assert state["max"] == 2


async def test_concurrency_defaults_to_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """API4: with PASSWORD_HASH_CONCURRENCY=0 the bound is the number of CPUs."""
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    hasher = PasswordHasher(_settings(password_hash_concurrency=0))
    state = _count_concurrency(monkeypatch, hold=0.02)
    await asyncio.gather(*(hasher.hash(f"pw{i}") for i in range(3)))
    assert state["calls"] == 3 and state["max"] == 1


async def test_verify_dummy_runs_a_real_argon2_verify(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASVS 6.3.8: an unknown user costs one real Argon2 verification with current params."""
    calls: list[tuple[str, str]] = []
    hashed: list[str] = []
    original_verify, original_hash = argon2.PasswordHasher.verify, argon2.PasswordHasher.hash

    def spy_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        calls.append((stored, password))
        return original_verify(self, stored, password)

    def spy_hash(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> str:
        result = original_hash(self, *args, **kwargs)
        hashed.append(result)
        return result

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy_verify)
    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy_hash)
    await hasher.verify_dummy("guess-1")
    await hasher.verify_dummy("guess-2")
    assert [password for _, password in calls] == ["guess-1", "guess-2"]
    assert len(hashed) == 1, "the dummy hash is computed once"
    dummy = calls[0][0]
    assert calls[1][0] == dummy == hashed[0]
    assert dummy.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not hasher.needs_rehash(dummy)


# ------------------------------------------------------------------------------- policy --


def test_minimum_length(settings: Settings) -> None:
    """ASVS 6.2.1: 7 characters are rejected, 8 accepted (the default minimum)."""
    assert _policy_types("kq7#vz2", settings) == ["password_too_short"]
    check_password("kq7#vz2m", settings=settings)


def test_minimum_length_is_configurable() -> None:
    """ASVS 6.2.1: with the recommended minimum of 15, 14 characters are rejected."""
    strict = _settings(password_min_length=15)
    assert _policy_types("kq7#vz2mkq7#vz", strict) == ["password_too_short"]
    check_password("kq7#vz2mkq7#vz2", settings=strict)


def test_length_counts_characters_not_bytes(settings: Settings) -> None:
    """ASVS 6.2.8/6.2.9: length is in characters; multibyte and spaces count as given."""
    check_password("密码安全密码安全", settings=settings)  # 8 characters, 24 bytes
    assert _policy_types("密码安全密码安", settings) == ["password_too_short"]
    check_password(" kq7#vz2", settings=settings)  # the leading space is not trimmed


@pytest.mark.parametrize("length", [64, 128])
def test_long_passwords_accepted(settings: Settings, length: int) -> None:
    """ASVS 6.2.9: 64 and 128 characters are accepted."""
    check_password(("Zq9!vM2x" * 16)[:length], settings=settings)


def test_maximum_length(settings: Settings) -> None:
    """ASVS 6.2.9: over PASSWORD_MAX_LENGTH (128) is rejected, never silently truncated."""
    assert _policy_types("Zq9!vM2x" * 16 + "a", settings) == ["password_too_long"]


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "Password1!",
        "PASSWORD123",
        "P@ssw0rd",
        "P@ssw0rd2024!",
        "qwerty123",
        "iloveyou",
        "trustno1",
        "Dragon2024!",
        "!!monkey!!",
        "baseball12345678",
        "football!!!!!!!!!!",
    ],
)
def test_common_passwords_rejected(settings: Settings, password: str) -> None:
    """ASVS 6.2.4: listed passwords and trivial variants of them are rejected."""
    assert "password_common" in _policy_types(password, settings)


@pytest.mark.parametrize(
    "password", [PASSPHRASE, "monkey8f3kd92jfl2", "Tr4vel-Quartz-Lemon", "kq7#vz2m"]
)
def test_uncommon_passwords_accepted(settings: Settings, password: str) -> None:
    """ASVS 6.2.4/6.2.5: the blocklist does not reject strong passwords."""
    assert not is_common_password(password)
    check_password(password, settings=settings)


def test_common_list_is_large_lowercase_and_cached() -> None:
    """ASVS 6.2.4: at least 3000 common passwords that fit the length policy, loaded once."""
    common = common_passwords()
    assert isinstance(common, frozenset)
    assert sum(1 for word in common if len(word) >= 8) >= 3000
    assert all(word == word.lower() for word in common)
    assert common_passwords() is common


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("xyzALICE-quartz9", ["alice"]),
        ("Summer-jsmith-7q", ["bob", "jsmith@example.com"]),
        ("my-fastapiadmin-key", []),  # the app name is always context
        ("@lice-quartz-lemon", ["alice"]),  # common substitution
        ("orbit-smith-lemon", ["Alice.Smith"]),  # a part of a dotted name
    ],
)
def test_context_words_rejected(settings: Settings, password: str, context: list[str]) -> None:
    """ASVS 6.2.11: user name, email local part and app name are rejected (case-insensitive)."""
    assert _policy_types(password, settings, context=context) == ["password_context"]


def test_short_and_domain_context_words_ignored(settings: Settings) -> None:
    """ASVS 6.2.11: words under 4 characters and the email domain are not context words."""
    check_password("bobcat-lorry-velvet", settings=settings, context=["bob"])
    check_password("example-hinge-orbit", settings=settings, context=["zed@example.com"])


def test_no_composition_rules_by_default(settings: Settings) -> None:
    """ASVS 6.2.5: a long lowercase passphrase is accepted."""
    check_password(PASSPHRASE, settings=settings)
    check_password("lowercaseonlypassphrase", settings=settings)


def test_composition_rule_when_configured() -> None:
    """ASVS 6.2.5 (opt-in): PASSWORD_REQUIRE_CLASSES=3 needs three character classes."""
    strict = _settings(password_require_classes=3)
    assert _policy_types(PASSPHRASE, strict) == ["password_classes"]
    check_password("Correct horse battery 9", settings=strict)


def test_policy_error_names_the_field_and_lists_every_problem(settings: Settings) -> None:
    """ASVS 6.2.1/6.2.4: a 422 naming the caller's field, one detail per broken rule."""
    with pytest.raises(PasswordPolicyError) as caught:
        check_password("monkey1", settings=settings, field="new_password")
    error = caught.value
    assert isinstance(error, ValidationFailed) and error.status_code == 422
    details = _details(error)
    assert [d.type for d in details] == ["password_too_short", "password_common"]
    assert {d.field for d in details} == {"new_password"}
    assert "at least 8 characters" in error.message and "common" in error.message
    assert "monkey1" not in error.message


def test_generated_passwords_pass_the_strictest_policy() -> None:
    """ASVS 6.4.1: generated passwords come from the CSPRNG and pass the policy."""
    strict = _settings(password_require_classes=4, password_min_length=16)
    generated = {generate_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        assert len(password) == 16
        check_password(password, settings=strict)
        assert not set(password) & set("0O1lI")
    assert len(generate_password(40)) == 40


def test_generate_password_refuses_short_lengths() -> None:
    """ASVS 6.2.1: no generated password is shorter than the minimum of 8."""
    with pytest.raises(ValueError, match="at least 8"):
        generate_password(7)
    assert all(ch in string.printable for ch in generate_password(8))
