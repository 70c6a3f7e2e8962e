"""Login throttling shared by every process through the cache (docs/security-checklist.md §0 #9).

- per (account, IP): after `LOGIN_MAX_FAILURES` failures in `LOGIN_FAILURE_WINDOW`, that pair
  is locked for `LOGIN_LOCKOUT_SECONDS` (429 + Retry-After). The lock expires by itself and
  never touches the same account from another IP, so an attacker cannot lock a victim out.
- per IP: after `LOGIN_MAX_FAILURES_PER_IP` failures (any accounts) in the window, 429.
- per account (any IP): counts failures to decide when a captcha is required.
A success clears the (account, IP) counters. If the cache is down, login fails closed (503).
"""

from __future__ import annotations

import hashlib

from app.core.cache import Cache
from app.core.config import Settings
from app.core.errors import TooManyRequests


def _account(username: str) -> str:
    # Hashed so that cache keys carry no user input (and no enumeration aid in a key dump).
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(
        self,
        cache: Cache,
        settings: Settings,
        *,
        max_failures: int | None = None,
        lockout_seconds: int | None = None,
    ) -> None:
        self.cache = cache
        self.settings = settings
        # Operators tune these at runtime with the parameters `login.max_failures` and
        # `login.lockout_seconds`; the settings are the defaults.
        self.max_failures = max(1, max_failures or settings.login_max_failures)
        self.lockout_seconds = max(1, lockout_seconds or settings.login_lockout_seconds)

    def _keys(self, username: str, ip: str) -> tuple[str, str, str, str]:
        account = _account(username)
        return (
            f"login:fail:pair:{account}:{ip}",
            f"login:fail:ip:{ip}",
            f"login:fail:acct:{account}",
            f"login:lock:{account}:{ip}",
        )

    async def check(self, username: str, ip: str) -> int:
        """Raise 429 if this (account, IP) is locked or the IP is throttled.

        Returns the account's recent failure count (for the captcha rule).
        """
        _pair, ip_key, account_key, lock_key = self._keys(username, ip)
        lock, ip_failures, account_failures = await self.cache.get_many(
            [lock_key, ip_key, account_key]
        )
        if lock is not None:
            retry = await self.cache.ttl(lock_key)
            raise TooManyRequests(
                "Too many failed logins; try again later",
                retry_after=int(retry or self.lockout_seconds) + 1,
            )
        if ip_failures is not None and int(ip_failures) >= self.settings.login_max_failures_per_ip:
            retry = await self.cache.ttl(ip_key)
            raise TooManyRequests(
                "Too many failed logins from this address; try again later",
                retry_after=int(retry or self.settings.login_failure_window) + 1,
            )
        return int(account_failures or 0)

    async def failure(self, username: str, ip: str) -> bool:
        """Count a failure; True if it has just locked the (account, IP) pair."""
        pair_key, ip_key, account_key, lock_key = self._keys(username, ip)
        window = self.settings.login_failure_window
        pair = await self.cache.incr(pair_key, ttl=window)
        await self.cache.incr(ip_key, ttl=window)
        await self.cache.incr(account_key, ttl=window)
        if pair >= self.max_failures:
            await self.cache.set(lock_key, b"1", ttl=self.lockout_seconds)
            await self.cache.delete(pair_key)
            return True
        return False

    async def success(self, username: str, ip: str) -> None:
        pair_key, _ip_key, account_key, lock_key = self._keys(username, ip)
        await self.cache.delete(pair_key, account_key, lock_key)

    def captcha_required(self, account_failures: int) -> bool:
        mode = self.settings.captcha_mode
        if mode == "always":
            return True
        return mode == "after_failures" and account_failures >= self.settings.captcha_after_failures
