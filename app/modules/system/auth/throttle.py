"""Guess limits: every secret guess reserves its attempt before it is verified
(docs/security-checklist.md
§0 #9, §1.1 anti-automation, §1.11 ASVS 15.4.2).

One rule for every place a secret is guessed (the password at sign-in, the TOTP or recovery
code at sign-in, re-authentication with the current password and a code, the first code of an
MFA enrolment): `GuessLimiter.reserve` takes a slot on each counter that limits the guess, in
one atomic cache operation per counter (`Cache.acquire_slot`), *before* the secret is checked.
A counter used up by counted failures (or locked) answers 429 with `Retry-After` and the secret
is never evaluated; a counter full of guesses still being verified makes a sign-in wait for their
outcome. So a burst of N parallel guesses evaluates at most `limit` of them, exactly as N
sequential ones would, and parallel correct ones all pass. The reservation is settled once:

- `failed()`: the slot stays, it is the counted failure; the failure that brings a counter
  with a lockout to its limit locks it for `lockout` seconds (and reports it, once);
- `succeeded()`: counters that reset on success are cleared, the others get their slot back;
- `cancel()` (or leaving the `async with` block unsettled): the guess was not evaluated
  (a captcha was missing, a code was not sent, an error), every slot is given back.

Counters (all in the cache, shared by every process; if the cache is down, sign-in fails
closed with 503):

- sign-in, per (account, IP): `login.max_failures` failures in `LOGIN_FAILURE_WINDOW` lock
  that pair for `login.lockout_seconds`; the same account from another IP is unaffected, so an
  attacker cannot lock a victim out;
- sign-in, per IP (any accounts): `LOGIN_MAX_FAILURES_PER_IP` failures in the window, then 429;
- sign-in, per account (any IP): after `CAPTCHA_AFTER_FAILURES` failures a captcha is required
  (a solved captcha lets the attempt take a slot beyond that limit);
- per signed-in user: wrong current passwords and wrong MFA codes (at sign-in too), with the
  same limit and lockout as the sign-in pair.

The sign-in counters are keyed by the exact name typed (a keyed hash of it): the lookup matches
names exactly on every database, so the name is the account, and the reservation is made before
the request touches the database (a guess waiting for a slot holds no connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from app.core.cache import Cache, CacheUnavailableError
from app.core.config import Settings
from app.core.security.crypto import keyed_hash
from app.modules.system.auth.exceptions import TooManyFailures

# How long a guess waits for the guesses in flight that fill a counter (their outcome decides
# whether it may proceed), and how often it looks again.
WAIT_SECONDS = 10.0
_FIRST_POLL = 0.01
_LAST_POLL = 0.1


@dataclass(frozen=True, slots=True)
class Counter:
    """One limit on guesses: at most `limit` failures per `window` seconds at `key`.

    Attributes:
        key: The cache key of the slot counter (failures plus guesses in flight).
        limit: Guesses allowed in flight plus failures counted.
        window: Lifetime of a counter from its first guess (a fixed window).
        lockout: Once `limit` failures are counted, refuse every guess for this long.
        reset_on_success: A success clears the counter (per account); otherwise it only
            gives its own slot back (per IP: another account's success proves nothing).
        message: The 429 message when the counter is full.
    """

    key: str
    limit: int
    window: int
    lockout: int | None = None
    reset_on_success: bool = True
    message: str = "Too many failed attempts; try again later"

    @property
    def lock_key(self) -> str:
        return self.key + ":lock"

    @property
    def failures_key(self) -> str:
        return self.key + ":failures"


class Reservation:
    """Slots held for one guess; the first of `failed`, `succeeded`, `cancel` settles it and
    later calls do nothing (see the module docstring)."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._held: list[Counter] = []
        self.settled = False

    def holds(self, counter: Counter) -> bool:
        return counter in self._held

    async def add(self, counter: Counter, *, force: bool = False) -> bool:
        """Take a slot on `counter`; False if it is full or locked (nothing taken).

        With `force` the slot is taken beyond the limit (an attempt that solved a captcha).
        """
        if force:
            await self._cache.incr(counter.key, ttl=counter.window)
        else:
            locked = counter.lockout is not None and await self._cache.exists(counter.lock_key)
            if locked or not await self._cache.acquire_slot(
                counter.key, counter.limit, counter.window
            ):
                return False
        self._held.append(counter)
        return True

    async def failed(self) -> bool:
        """The guess was wrong: keep the slots as failures. True if a lockout has just begun."""
        if self.settled:
            return False
        self.settled = True
        locked = False
        for counter in self._held:
            failures = await self._cache.incr(counter.failures_key, ttl=counter.window)
            if counter.lockout is not None and failures >= counter.limit:
                # The limit-th failure: lock for `lockout`; afterwards a fresh window begins.
                await self._cache.set(counter.lock_key, b"1", ttl=counter.lockout)
                await self._cache.expire(counter.key, counter.lockout)
                await self._cache.delete(counter.failures_key)
                locked = True
        return locked

    async def succeeded(self) -> None:
        """The guess was right: clear the counters that reset, give the other slots back."""
        if self.settled:
            return
        self.settled = True
        for counter in self._held:
            if counter.reset_on_success:
                await self._cache.delete(counter.key, counter.failures_key, counter.lock_key)
            else:
                await self._cache.release_slot(counter.key)

    async def cancel(self) -> None:
        """The guess was not evaluated: give every slot back."""
        if self.settled:
            return
        self.settled = True
        held, self._held = self._held, []
        for counter in reversed(held):
            await self._cache.release_slot(counter.key)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.settled:
            return
        if exc is None:
            await self.cancel()
            return
        # Leaving on an error: give the slots back if the cache lets us; otherwise they
        # expire with their window (the error in flight is the one to report).
        with contextlib.suppress(CacheUnavailableError):
            await self.cancel()


class GuessLimiter:
    """The one way to reserve a guess: `async with await limiter.reserve(*counters) as attempt:`.

    A counter can be full for two reasons. Its failures (or a lock) have used it up: the guess
    is refused at once (429). Or guesses still being verified hold its slots: the outcome is
    not known yet (a success resets the counter), so the guess waits for them, up to `wait`
    seconds, holding nothing meanwhile; parallel correct sign-ins of one account therefore all
    succeed, while parallel wrong ones are never evaluated beyond the limit.
    """

    def __init__(self, cache: Cache, *, wait: float = WAIT_SECONDS) -> None:
        self.cache = cache
        self.wait = wait

    async def exhausted(self, counter: Counter) -> bool:
        """Whether counted failures (or a lock), not guesses in flight, fill `counter`."""
        lock, failures = await self.cache.get_many([counter.lock_key, counter.failures_key])
        return lock is not None or int(failures or 0) >= counter.limit

    async def _refuse(self, counter: Counter) -> TooManyFailures:
        remaining = await self.cache.ttl(counter.lock_key) or await self.cache.ttl(counter.key)
        if counter.lockout is not None:
            remaining = min(remaining or counter.lockout, counter.lockout)
        retry_after = max(1, math.ceil(remaining or counter.window))
        return TooManyFailures(counter.message, retry_after=retry_after)

    async def reserve(
        self, *counters: Counter, optional: Counter | None = None, wait: bool = True
    ) -> Reservation:
        """Take a slot on every counter (all or none), waiting while guesses are in flight.

        `optional` is taken too when it has room; when its failures have used it up the
        reservation is returned without it (`holds(optional)` is False: the caller decides,
        e.g. asks for a captcha). Call it before the request holds a database connection:
        a guess may wait here. With `wait=False` a counter held by guesses in flight refuses
        at once (where parallel attempts of one person are no legitimate use: re-entering a
        password or a code), and no connection is ever held while waiting.

        Raises:
            TooManyFailures: A counter is locked or used up by failures, or guesses in flight
                still hold it after `wait` seconds; nothing stays reserved.
        """
        deadline = time.monotonic() + self.wait
        delay = _FIRST_POLL
        while True:
            reservation = Reservation(self.cache)
            busy: Counter | None = None
            try:
                for counter in (*counters, *([optional] if optional else [])):
                    if await reservation.add(counter):
                        continue
                    if not await self.exhausted(counter):
                        busy = counter  # held by guesses in flight: wait for them
                        break
                    if counter is not optional:
                        raise await self._refuse(counter)
                if busy is None:
                    return reservation
                await reservation.cancel()
            except BaseException:
                with contextlib.suppress(CacheUnavailableError):
                    await reservation.cancel()
                raise
            if not wait or time.monotonic() >= deadline:
                raise TooManyFailures(busy.message, retry_after=1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LAST_POLL)


class LoginThrottle:
    """The counters of sign-in and re-authentication, with the operator's current limits."""

    def __init__(
        self,
        cache: Cache,
        settings: Settings,
        *,
        max_failures: int | None = None,
        lockout_seconds: int | None = None,
    ) -> None:
        self.limiter = GuessLimiter(cache)
        self.settings = settings
        # Operators tune these at runtime with the parameters `login.max_failures` and
        # `login.lockout_seconds`; the settings are the defaults.
        self.max_failures = max(1, max_failures or settings.login_max_failures)
        self.lockout_seconds = max(1, lockout_seconds or settings.login_lockout_seconds)

    def subject(self, username: str) -> str:
        """The account a sign-in counts against, from the exact name typed.

        The lookup matches names exactly on every database, so one name reaches one account
        (or none) and every attempt on an account counts on that account's counters; the
        reservation can therefore be made before the database is asked. A keyed hash: no user
        input in a cache key, nothing to enumerate in a key dump.
        """
        return keyed_hash(self.settings.secret, username, purpose="login-name")[:32]

    def pair(self, subject: str, ip: str) -> Counter:
        return Counter(
            f"login:pair:{subject}:{ip}",
            self.max_failures,
            self.settings.login_failure_window,
            lockout=self.lockout_seconds,
            message="Too many failed logins; try again later",
        )

    def per_ip(self, ip: str) -> Counter:
        return Counter(
            f"login:ip:{ip}",
            self.settings.login_max_failures_per_ip,
            self.settings.login_failure_window,
            reset_on_success=False,
            message="Too many failed logins from this address; try again later",
        )

    def account(self, subject: str) -> Counter:
        """Failures of the account from any address, up to the captcha threshold."""
        return Counter(
            f"login:acct:{subject}",
            self.settings.captcha_after_failures,
            self.settings.login_failure_window,
        )

    def user(self, user_id: int) -> Counter:
        """Wrong current passwords and MFA codes of one user, from anywhere."""
        return Counter(
            f"login:user:{user_id}",
            self.max_failures,
            self.settings.login_failure_window,
            lockout=self.lockout_seconds,
            message="Too many wrong passwords or codes; try again later",
        )

    @property
    def captcha_always(self) -> bool:
        return self.settings.captcha_mode == "always"

    @property
    def captcha_after_failures(self) -> bool:
        return self.settings.captcha_mode == "after_failures"
