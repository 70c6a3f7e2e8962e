"""Password hashing (Argon2id) and the password policy.

Hashing is CPU- and memory-heavy by design, so `PasswordHasher` runs it in a worker thread and
bounds how many hashes run at once: a login flood then queues instead of blocking the event loop
or exhausting memory (ASVS 11.4.2, API4).

The policy follows ASVS 6.2 / NIST SP 800-63B: length limits counted in characters, a
common-password blocklist, no context words, and no composition rules unless configured.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import string
from collections.abc import Iterable

import anyio.to_thread
import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.config import Settings
from app.core.errors import ValidationFailed
from app.core.responses import ErrorDetail

ARGON2ID_PREFIX = "$argon2id$"


class PasswordHasher:
    """Argon2id hashing with the parameters from `Settings`, off the event loop and bounded.

    The semaphore is per instance: create one hasher per application (it binds to the event loop
    that first contends for it).
    """

    def __init__(self, settings: Settings) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Each hash holds `memory_cost` KiB for its duration; more concurrent hashes than cores
        # only adds memory pressure without adding throughput.
        limit = settings.password_hash_concurrency or os.cpu_count() or 1
        self._slots = asyncio.Semaphore(limit)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Hash `password` with the current parameters.

        Args:
            password: The plaintext, used as given (no truncation or normalisation).

        Returns:
            The encoded hash, e.g. ``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``.
        """
        async with self._slots:
            # Not abandoned on cancellation: the slot stays held until the thread really
            # finishes, so the bound counts every hash that is running.
            return await anyio.to_thread.run_sync(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Check `password` against a stored hash.

        Args:
            password_hash: The stored encoded hash.
            password: The plaintext to check.

        Returns:
            True on a match; False on a mismatch or when the stored value is not a valid
            Argon2 hash. Never raises for bad input.
        """
        async with self._slots:
            return await anyio.to_thread.run_sync(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash should be replaced at the next successful login.

        That is when it is not Argon2id, cannot be parsed, or was made with parameters
        different from the current ones.
        """
        if not password_hash.startswith(ARGON2ID_PREFIX):
            return True
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def verify_dummy(self, password: str) -> None:
        """Spend the same work as a real verification, for logins naming an unknown user.

        Without it, "no such user" answers faster than "wrong password", which enumerates
        accounts by timing (ASVS 6.3.8). The dummy hash uses the current parameters and a
        random password nobody knows; it is made once, lazily.
        """
        if self._dummy_hash is None:
            # Two first callers may both compute it; harmless, and cheaper than a lock.
            self._dummy_hash = await self.hash(secrets.token_urlsafe(32))
        await self.verify(self._dummy_hash, password)


# ------------------------------------------------------------------------------- policy --


class PasswordPolicyError(ValidationFailed):
    """The password breaks the policy; `errors` names the caller's field for each problem."""

    default_message = "Password does not meet the password policy"


_common_passwords: frozenset[str] | None = None

# Characters peeled off both ends when looking for a decorated common password.
_DECORATION = string.digits + string.punctuation + string.whitespace
# A decoration this short adds almost nothing to a guessable base word ("Password1!").
_MAX_TRIVIAL_DECORATION = 6
# Common substitutions; "1" is ambiguous, so both readings are tried.
_LEET_TABLES = (
    str.maketrans("@4310$5!7+", "aaeiossitt"),
    str.maketrans("@4310$5!7+", "aaelossltt"),
)
_MIN_CONTEXT_WORD = 4


def common_passwords() -> frozenset[str]:
    """The blocklist: zxcvbn's bundled list of 30,000 frequent passwords (all lowercase).

    Loaded on first use: importing zxcvbn's frequency lists costs several MB and ~100 ms.
    """
    global _common_passwords
    if _common_passwords is None:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        _common_passwords = frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])
    return _common_passwords


def _deleet(text: str) -> set[str]:
    return {text.translate(table) for table in _LEET_TABLES}


def _is_trivial_decoration(part: str, common: frozenset[str]) -> bool:
    core = "".join(ch for ch in part if ch not in string.punctuation + string.whitespace)
    return not core or core in common or len(set(core)) == 1


def is_common_password(password: str) -> bool:
    """True for a listed password or a trivial variant of one.

    Compared case-insensitively. Variants caught: common substitutions (``p@ssw0rd``), and a
    listed word of 4+ characters wrapped in digits/punctuation (``Password1!``, ``!!monkey2024``)
    when the wrapping is at most 6 characters or is itself trivial (a listed number such as
    ``12345678``, one repeated character, or punctuation only). A listed word followed by a
    long random suffix is not rejected: the suffix carries the strength.
    """
    common = common_passwords()
    lowered = password.lower()
    if lowered in common or _deleet(lowered) & common:
        return True
    base = lowered.strip(_DECORATION)
    if base == lowered or len(base) < 4:
        return False
    if base not in common and not _deleet(base) & common:
        return False
    start = lowered.index(base)
    prefix, suffix = lowered[:start], lowered[start + len(base) :]
    if len(prefix) + len(suffix) <= _MAX_TRIVIAL_DECORATION:
        return True
    return all(_is_trivial_decoration(part, common) for part in (prefix, suffix) if part)


def _context_words(settings: Settings, context: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for item in (settings.app_name, *context):
        value = item.strip().lower()
        if "@" in value:  # an email: the domain is shared by everyone, the local part is personal
            value = value.rpartition("@")[0]
        tokens = "".join(ch if ch.isalnum() else " " for ch in value).split()
        for word in (value, *tokens):
            if len(word) >= _MIN_CONTEXT_WORD:
                words.add(word)
    return words


def _character_classes(password: str) -> int:
    lower = any(ch.islower() for ch in password)
    upper = any(ch.isupper() for ch in password)
    digit = any(ch.isdigit() for ch in password)
    other = any(not (ch.islower() or ch.isupper() or ch.isdigit()) for ch in password)
    return lower + upper + digit + other


def check_password(
    password: str, *, settings: Settings, field: str = "password", context: Iterable[str] = ()
) -> None:
    """Enforce the password policy.

    Length is counted in characters (code points) of the password exactly as given: no
    truncation, trimming or case folding (ASVS 6.2.8, 6.2.9).

    Args:
        password: The candidate password.
        settings: Supplies the length limits, the composition rule and the app name.
        field: Field name reported in the error details (e.g. ``new_password``).
        context: Words the password must not contain: username, email, nickname...
            (ASVS 6.2.11). Emails contribute their local part; words under 4 characters are
            ignored. The app name is always included.

    Raises:
        PasswordPolicyError: With one `ErrorDetail` per broken rule.
    """
    problems: list[tuple[str, str]] = []
    length = len(password)
    if length < settings.password_min_length:
        problems.append(
            ("password_too_short", f"must be at least {settings.password_min_length} characters")
        )
    elif length > settings.password_max_length:
        # Stop here: the other checks would scan an arbitrarily long string.
        problems.append(
            ("password_too_long", f"must be at most {settings.password_max_length} characters")
        )
    if not problems or problems[0][0] == "password_too_short":
        if is_common_password(password):
            problems.append(("password_common", "is too common; choose a less guessable one"))
        lowered = password.lower()
        variants = {lowered, *_deleet(lowered)}
        words = _context_words(settings, context)
        if any(word in variant for word in words for variant in variants):
            problems.append(
                ("password_context", "must not contain your user name, email or the app name")
            )
        required = settings.password_require_classes
        if required and _character_classes(password) < required:
            problems.append(
                (
                    "password_classes",
                    f"must mix at least {required} of: lowercase, uppercase, digits, symbols",
                )
            )
    if problems:
        message = "Password " + "; ".join(text for _, text in problems)
        raise PasswordPolicyError(
            message,
            errors=[ErrorDetail(field=field, message=text, type=kind) for kind, text in problems],
        )


# Admin-generated passwords are read off a screen: leave out look-alikes (0/O, 1/l/I, ...).
_GEN_LOWER = "abcdefghjkmnpqrstuvwxyz"
_GEN_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_GEN_DIGITS = "23456789"
_GEN_SYMBOLS = "!#$%*+-=?@^_"
_GEN_ALPHABET = _GEN_LOWER + _GEN_UPPER + _GEN_DIGITS + _GEN_SYMBOLS


def generate_password(length: int = 16) -> str:
    """A random one-time password from the CSPRNG (ASVS 6.4.1).

    It contains all four character classes, so it passes any `password_require_classes`, and
    is never a common password. About 6.1 bits per character (97 bits at 16).

    Args:
        length: Number of characters, at least 8.

    Raises:
        ValueError: `length` is below 8.
    """
    if length < 8:
        raise ValueError("generated passwords must be at least 8 characters")
    while True:
        candidate = "".join(secrets.choice(_GEN_ALPHABET) for _ in range(length))
        if _character_classes(candidate) == 4 and not is_common_password(candidate):
            return candidate
