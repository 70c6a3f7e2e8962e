"""The cache/coordination interface shared by the in-process and the Redis backends.

Everything that must be consistent across worker processes (sessions, revocation lists,
rate-limit counters, permission-cache versions, locks, single-use codes) goes through `Cache`.
The lite shape runs `MemoryCache` in one process; the scale shape runs `RedisCache` shared by
every process on every host. Both pass the same test-suite.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import orjson

from app.core.cache.namespaces import NAMESPACE_SEPARATOR, is_namespace

# Reserved sub-namespaces inside the prefix; application keys should not start with these.
VERSION_NAMESPACE = "ver:"
LOCK_NAMESPACE = "lock:"


class CacheUnavailableError(Exception):
    """The cache backend could not be reached or failed; the operation did not happen.

    Mapped to HTTP 503 by the error handlers. The original backend error is chained as
    `__cause__`; backend exception types never escape the cache package.
    """


class LockNotAcquired(Exception):
    """`Cache.lock()` could not obtain the lock within its `wait` period."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Backend figures for operators; never a key name or a value.

    Redis reports the whole server (`INFO`), shared with anything else using it; the in-process
    backend reports its own store. Fields a backend cannot know are None.

    Attributes:
        backend: ``"memory"`` or ``"redis"``.
        hits: Successful key lookups (Redis `keyspace_hits`; memory: `get`, `get_many`,
            `getdel` that found a value).
        misses: Lookups that found nothing.
        used_memory: Bytes in use (Redis `used_memory`; memory: approximate size of the keys
            and values under our prefix).
        used_memory_human: `used_memory` for people (``"1.05M"``).
        maxmemory: Redis `maxmemory` (0: no limit); None for memory.
        entries: Keys under our prefix (memory only; on Redis see `namespace_counts`).
        version: Redis server version.
        uptime_seconds: Redis server uptime.
        connected_clients: Redis client connections, all applications included.
        role: Redis replication role (``"master"`` / ``"slave"``).
    """

    backend: str
    hits: int | None = None
    misses: int | None = None
    used_memory: int | None = None
    used_memory_human: str | None = None
    maxmemory: int | None = None
    entries: int | None = None
    version: str | None = None
    uptime_seconds: int | None = None
    connected_clients: int | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class NamespaceCounts:
    """Keys under our prefix counted per namespace (see `app.core.cache.namespaces`).

    Attributes:
        counts: Namespace name -> number of keys.
        other: Keys that belong to no well-formed namespace (their names are not reported).
        truncated: The count stopped at its limit; the figures are a lower bound.
    """

    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    truncated: bool = False

    @property
    def total(self) -> int:
        """Keys counted, in a namespace or not."""
        return sum(self.counts.values()) + self.other


def ttl_to_ms(ttl: float) -> int:
    """Convert a TTL in seconds to whole milliseconds (at least 1).

    Raises:
        ValueError: `ttl` is not a positive number. Redis rejects non-positive expiries and a
            zero TTL is almost certainly a caller bug, so both backends refuse it alike.
    """
    if not ttl > 0:  # also rejects NaN
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


def to_bytes(value: bytes | str) -> bytes:
    """Encode a str value as UTF-8; bytes pass through."""
    return value.encode() if isinstance(value, str) else bytes(value)


class Subscription(AsyncIterator[str], abc.ABC):
    """Messages published on one channel, as an async iterator of str.

    The subscription is established by `start()`, by entering `async with`, or lazily by the
    first `__anext__`. Messages published before it is established are not delivered
    (pub/sub is fire-and-forget on both backends), so use `async with` when the subscriber must
    be listening before something is published. `aclose()` unsubscribes; afterwards iteration
    stops. Only one task should iterate a given subscription.

    Example:
        async with cache.subscribe("perm-changed") as messages:
            async for message in messages:
                ...
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._started = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once `aclose()` has been called."""
        return self._closed

    async def start(self) -> None:
        """Establish the subscription (idempotent).

        Raises:
            CacheUnavailableError: The backend could not be reached.
        """
        if self._started or self._closed:
            return
        await self._start()
        self._started = True

    async def aclose(self) -> None:
        """Unsubscribe and stop iteration (idempotent, never raises for backend errors)."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        return await self._next()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def _start(self) -> None: ...

    @abc.abstractmethod
    async def _next(self) -> str:
        """Wait for the next message; raise StopAsyncIteration once closed."""

    @abc.abstractmethod
    async def _close(self) -> None: ...


class Lock:
    """Async context manager holding a cache lock; returned by `Cache.lock()`.

    On exit the lock is released only if this holder still owns it; a release that fails
    because the cache is unreachable is ignored, since the lock's TTL frees it anyway and
    raising there would hide the outcome of the protected block.
    """

    def __init__(self, cache: Cache, name: str, ttl: float, wait: float, poll: float) -> None:
        self._cache = cache
        self.name = name
        self._ttl = ttl
        self._wait = wait
        self._poll = poll
        self.token: str | None = None

    async def __aenter__(self) -> Self:
        deadline = time.monotonic() + self._wait
        while True:
            self.token = await self._cache.acquire_lock(self.name, self._ttl)
            if self.token is not None:
                return self
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockNotAcquired(f"lock {self.name!r} is held by someone else")
            await asyncio.sleep(min(self._poll, remaining))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self.token = self.token, None
        if token is None:
            return
        with contextlib.suppress(CacheUnavailableError):
            await self._cache.release_lock(self.name, token)

    async def extend(self, ttl: float) -> bool:
        """Reset the lock's TTL to `ttl` seconds if this holder still owns it."""
        if self.token is None:
            return False
        return await self._cache.extend_lock(self.name, self.token, ttl)


class Cache(abc.ABC):
    """Key/value store with TTLs, counters, sets, versions, locks and pub/sub.

    Every key and channel lives under `prefix` (e.g. ``"fa:"``): `get("x")` reads ``fa:x``.
    Keys are str; values go in as bytes or str (UTF-8) and come out as bytes. TTLs are
    seconds (floats allowed). Every method may raise `CacheUnavailableError`; none raises a
    backend-specific exception. Operations on a key holding the wrong kind of value (e.g.
    `sadd` on a string) also raise `CacheUnavailableError` on both backends.

    Args:
        prefix: Non-empty namespace for every key and channel of this instance.
    """

    def __init__(self, prefix: str) -> None:
        if not prefix:
            # An empty prefix would let delete_pattern("*") wipe a shared Redis database.
            raise ValueError("cache prefix must not be empty")
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        """The namespace prepended to every key and channel."""
        return self._prefix

    @property
    @abc.abstractmethod
    def backend(self) -> str:
        """Backend name: ``"memory"`` or ``"redis"``."""

    @property
    @abc.abstractmethod
    def shared(self) -> bool:
        """Whether other processes see the same data (False for the in-process cache)."""

    # --- strings ------------------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the value of `key`, or None if it is absent or expired."""

    @abc.abstractmethod
    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        """Store `value` under `key`, replacing any value and TTL; expire after `ttl` s."""

    @abc.abstractmethod
    async def set_nx(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        """Store `value` only if `key` is absent. Returns True if it was stored."""

    @abc.abstractmethod
    async def getdel(self, key: str) -> bytes | None:
        """Atomically return and delete `key` (single-use codes): one caller wins."""

    @abc.abstractmethod
    async def delete(self, *keys: str) -> int:
        """Delete `keys`; return how many existed."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether `key` exists (of any kind)."""

    @abc.abstractmethod
    async def expire(self, key: str, ttl: float) -> bool:
        """Set `key` to expire in `ttl` seconds. Returns False if the key does not exist."""

    @abc.abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds until `key` expires, or None if it is absent or has no expiry."""

    @abc.abstractmethod
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of `keys` in order (None where absent), in one round trip."""

    @abc.abstractmethod
    async def set_many(self, mapping: Mapping[str, bytes | str], ttl: float | None = None) -> None:
        """Store every item of `mapping`, each with the same optional TTL."""

    async def get_json(self, key: str) -> Any | None:
        """Return the JSON-decoded value of `key`, or None if absent."""
        raw = await self.get(key)
        return None if raw is None else orjson.loads(raw)

    async def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value` JSON-encoded (orjson: datetimes, UUIDs, dataclasses are supported)."""
        await self.set(key, orjson.dumps(value), ttl)

    # --- counters -----------------------------------------------------------------------

    @abc.abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add `amount` to the integer at `key` (absent = 0); return the result.

        With `ttl`, the key gets that expiry when this call creates it (or finds it without
        one); increments never extend an existing expiry, which gives fixed-window
        rate-limit counters.
        """

    @abc.abstractmethod
    async def acquire_slot(self, key: str, limit: int, ttl: float) -> int | None:
        """Atomically take one of `limit` slots counted at `key`; None when all are taken.

        The check and the increment are one operation, so of any number of concurrent callers
        at most `limit` get a slot: the primitive behind "reserve an attempt before verifying
        a guess" (`app.modules.system.auth.throttle`). A counter this call creates expires after
        `ttl` seconds (a fixed window, never extended, as `incr`); a full counter is left
        unchanged.

        Returns:
            The counter's new value (1..`limit`), or None if it had reached `limit`.

        Raises:
            ValueError: `limit` is less than 1 or `ttl` is not positive.
        """

    @abc.abstractmethod
    async def release_slot(self, key: str) -> int:
        """Atomically give back one slot taken with `acquire_slot`; return the count left.

        Never goes below zero and never creates the key (a counter that expired or was reset
        meanwhile stays absent); a counter that drops to zero is deleted. The expiry of a
        counter still in use is kept.
        """

    # --- sets ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def sadd(self, key: str, *members: str) -> int:
        """Add `members` to the set at `key`; return how many were new."""

    @abc.abstractmethod
    async def srem(self, key: str, *members: str) -> int:
        """Remove `members` from the set; return how many were present."""

    @abc.abstractmethod
    async def smembers(self, key: str) -> builtins.set[str]:
        """All members of the set at `key` (empty if absent)."""

    @abc.abstractmethod
    async def sismember(self, key: str, member: str) -> bool:
        """Whether `member` is in the set at `key`."""

    # --- versions -----------------------------------------------------------------------

    async def get_version(self, name: str) -> int:
        """Current version of `name` (0 if never bumped).

        Caches derived from the database embed this number in their keys, so a bump in any
        process invalidates them everywhere.
        """
        raw = await self.get(VERSION_NAMESPACE + name)
        return 0 if raw is None else int(raw)

    async def bump_version(self, name: str) -> int:
        """Atomically increment the version of `name` and return the new value (no TTL)."""
        return await self.incr(VERSION_NAMESPACE + name)

    # --- locks --------------------------------------------------------------------------

    @abc.abstractmethod
    async def acquire_lock(self, name: str, ttl: float) -> str | None:
        """Take lock `name` for `ttl` seconds; return an opaque token, or None if held."""

    @abc.abstractmethod
    async def release_lock(self, name: str, token: str) -> bool:
        """Release lock `name` if `token` still holds it. Returns True if released."""

    @abc.abstractmethod
    async def extend_lock(self, name: str, token: str, ttl: float) -> bool:
        """Reset the TTL of lock `name` to `ttl` seconds if `token` still holds it."""

    def lock(self, name: str, ttl: float, *, wait: float = 0.0, poll: float = 0.05) -> Lock:
        """Async context manager holding lock `name` for at most `ttl` seconds.

        Args:
            name: Lock name (stored under ``<prefix>lock:<name>``).
            ttl: Expiry; the lock frees itself if the holder dies.
            wait: How long to keep trying before giving up.
            poll: Delay between attempts while waiting.

        Raises:
            LockNotAcquired: The lock is still held by someone else after `wait` seconds.
        """
        return Lock(self, name, ttl, wait, poll)

    # --- pub/sub ------------------------------------------------------------------------

    @abc.abstractmethod
    async def publish(self, channel: str, message: str) -> None:
        """Send `message` to current subscribers of `channel` (fire-and-forget)."""

    @abc.abstractmethod
    def subscribe(self, channel: str) -> Subscription:
        """Return a `Subscription` to `channel`; see `Subscription` for its lifecycle."""

    # --- namespace ----------------------------------------------------------------------

    @abc.abstractmethod
    async def scan_keys(self, pattern: str = "*", limit: int = 10000) -> list[str]:
        """Keys under our prefix matching the Redis-style glob `pattern`, prefix removed.

        At most `limit` keys, sorted. Never blocks the server (SCAN, not KEYS).
        """

    @abc.abstractmethod
    async def delete_pattern(self, pattern: str) -> int:
        """Delete keys under our prefix matching `pattern`; return how many were deleted.

        Cannot touch keys outside the prefix.
        """

    async def clear_namespace(self, namespace: str) -> int:
        """Delete every key of one application namespace (``<prefix><namespace>:*``).

        Nothing else is touched: not the other namespaces, not keys outside the prefix (no
        FLUSHDB). Whether a namespace *may* be cleared is the caller's policy
        (`app.core.cache.namespaces.protected_namespaces`).

        Returns:
            How many keys were deleted.

        Raises:
            ValueError: `namespace` is not a well-formed namespace name (so it can hold no
                glob metacharacter).
        """
        if not is_namespace(namespace):
            raise ValueError(f"invalid cache namespace {namespace!r}")
        return await self.delete_pattern(namespace + NAMESPACE_SEPARATOR + "*")

    @abc.abstractmethod
    async def namespace_counts(self, limit: int) -> NamespaceCounts:
        """Count the keys under our prefix per namespace, examining at most about `limit` keys.

        Bounded so that it never takes long, whatever else the backend holds: Redis runs at
        most ``ceil(limit / SCAN COUNT)`` SCAN steps (a step examines about COUNT keys of the
        database, ours or not); memory examines at most `limit` entries of its store. When the
        bound stops the count, `truncated` is True.

        Raises:
            ValueError: `limit` is less than 1.
        """

    # --- operations ---------------------------------------------------------------------

    @abc.abstractmethod
    async def stats(self) -> CacheStats:
        """Memory use, hit/miss counters and, for Redis, server facts (`CacheStats`)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Return True if the backend answers; raise `CacheUnavailableError` otherwise."""

    @abc.abstractmethod
    async def info(self) -> dict[str, Any]:
        """Backend name, key count under our prefix and, for Redis, a few INFO fields."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and end this instance's subscriptions."""
