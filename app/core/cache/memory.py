"""In-process cache for the lite shape (one worker process, no Redis).

Atomicity comes from the event loop: no method awaits between reading and writing the store,
so every operation is indivisible with respect to other tasks. No threads are involved; the
store must only be used from one event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.cache.base import (
    LOCK_NAMESPACE,
    Cache,
    CacheStats,
    CacheUnavailableError,
    NamespaceCounts,
    Subscription,
    to_bytes,
    ttl_to_ms,
)
from app.core.cache.namespaces import namespace_of

# Expired keys are dropped lazily on access; a full sweep every this many writes bounds the
# memory held by keys that are never read again (e.g. one rate-limit counter per client IP).
SWEEP_EVERY_WRITES = 1000
# A subscriber that stops reading loses its oldest messages instead of growing without bound
# (Redis similarly disconnects subscribers whose output buffer overflows).
SUBSCRIBER_QUEUE_SIZE = 10000

_INTEGER = re.compile(rb"-?[0-9]+")


@dataclass(slots=True)
class _Entry:
    value: bytes | set[str]
    expires_at: float | None  # time.monotonic() deadline


def _expiry(ttl: float | None) -> float | None:
    return None if ttl is None else time.monotonic() + ttl_to_ms(ttl) / 1000


def _wrong_type(key: str) -> CacheUnavailableError:
    # Same exception as RedisCache raises for WRONGTYPE replies, so callers see one behaviour.
    return CacheUnavailableError(f"cache unavailable: WRONGTYPE operation on key {key!r}")


def human_bytes(size: int) -> str:
    """`size` the way Redis writes `used_memory_human` (``"912B"``, ``"1.05M"``)."""
    if size < 1024:
        return f"{size}B"
    value, unit = size / 1024, "K"
    for bigger in ("M", "G", "T"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.2f}{unit}"


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Redis-style glob (``* ? [abc] [^a-z] \\x``) to an anchored regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            if negate:
                body = body[1:]
            parts: list[str] = []
            j = 0
            while j < len(body):
                if body[j] == "\\" and j + 1 < len(body):
                    j += 1
                    parts.append(re.escape(body[j]))
                elif j + 2 < len(body) and body[j + 1] == "-":
                    low, high = sorted((body[j], body[j + 2]))
                    parts.append(f"{re.escape(low)}-{re.escape(high)}")
                    j += 2
                else:
                    parts.append(re.escape(body[j]))
                j += 1
            out.append(f"[{'^' if negate else ''}{''.join(parts)}]" if parts else "(?!)")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


class MemoryStore:
    """The data behind one or more `MemoryCache` instances (normally one per process).

    Sharing a store between instances with different prefixes mirrors several applications
    sharing one Redis, which is how prefix isolation is tested.
    """

    def __init__(self) -> None:
        self.data: dict[str, _Entry] = {}
        self.channels: dict[str, set[_MemorySubscription]] = {}
        self._writes = 0
        # Value lookups that found / did not find a value, like Redis keyspace_hits/misses.
        self.hits = 0
        self.misses = 0

    def count_lookup(self, found: bool) -> None:
        if found:
            self.hits += 1
        else:
            self.misses += 1

    def entry(self, full_key: str) -> _Entry | None:
        """Live entry for `full_key`, dropping it if it has expired."""
        found = self.data.get(full_key)
        if found is None:
            return None
        if found.expires_at is not None and found.expires_at <= time.monotonic():
            del self.data[full_key]
            return None
        return found

    def put(self, full_key: str, entry: _Entry) -> None:
        self.data[full_key] = entry
        self._writes += 1
        if self._writes >= SWEEP_EVERY_WRITES:
            self.sweep()

    def sweep(self) -> int:
        """Drop every expired entry; return how many were dropped."""
        self._writes = 0
        now = time.monotonic()
        dead = [k for k, e in self.data.items() if e.expires_at is not None and e.expires_at <= now]
        for full_key in dead:
            del self.data[full_key]
        return len(dead)


class _MemorySubscription(Subscription):
    def __init__(self, store: MemoryStore, owner: MemoryCache, full_channel: str) -> None:
        super().__init__(full_channel)
        self._store = store
        self._owner = owner
        # None is the wake-up sentinel pushed by aclose().
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)

    def deliver(self, message: str | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(message)

    async def _start(self) -> None:
        self._store.channels.setdefault(self.channel, set()).add(self)
        self._owner._subscriptions.add(self)

    async def _next(self) -> str:
        message = await self._queue.get()
        if message is None or self.closed:
            raise StopAsyncIteration
        return message

    async def _close(self) -> None:
        subscribers = self._store.channels.get(self.channel)
        if subscribers is not None:
            subscribers.discard(self)
            if not subscribers:
                del self._store.channels[self.channel]
        self._owner._subscriptions.discard(self)
        self.deliver(None)


class MemoryCache(Cache):
    """Process-local `Cache`; expiry uses `time.monotonic()`.

    Args:
        prefix: Namespace for every key and channel.
        store: Data to share with other instances; a private store by default.
    """

    def __init__(self, prefix: str, *, store: MemoryStore | None = None) -> None:
        super().__init__(prefix)
        self.store = store if store is not None else MemoryStore()
        self._subscriptions: set[_MemorySubscription] = set()

    @property
    def backend(self) -> str:
        return "memory"

    @property
    def shared(self) -> bool:
        return False

    def _read_bytes(self, key: str) -> bytes | None:
        found = self.store.entry(self._prefix + key)
        if found is None:
            return None
        if not isinstance(found.value, bytes):
            raise _wrong_type(key)
        return found.value

    def _read_set(self, key: str) -> builtins.set[str] | None:
        """The live (mutable) set stored at `key`."""
        found = self.store.entry(self._prefix + key)
        if found is None:
            return None
        if not isinstance(found.value, set):
            raise _wrong_type(key)
        return found.value

    # --- strings ------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = self._read_bytes(key)
        self.store.count_lookup(value is not None)
        return value

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        self.store.put(self._prefix + key, _Entry(to_bytes(value), _expiry(ttl)))

    async def set_nx(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        expires_at = _expiry(ttl)  # validate ttl even when the key exists
        if self.store.entry(self._prefix + key) is not None:
            return False
        self.store.put(self._prefix + key, _Entry(to_bytes(value), expires_at))
        return True

    async def getdel(self, key: str) -> bytes | None:
        value = self._read_bytes(key)
        self.store.count_lookup(value is not None)
        if value is not None:
            del self.store.data[self._prefix + key]
        return value

    async def delete(self, *keys: str) -> int:
        deleted = 0
        for key in keys:
            if self.store.entry(self._prefix + key) is not None:
                del self.store.data[self._prefix + key]
                deleted += 1
        return deleted

    async def exists(self, key: str) -> bool:
        return self.store.entry(self._prefix + key) is not None

    async def expire(self, key: str, ttl: float) -> bool:
        expires_at = _expiry(ttl)
        found = self.store.entry(self._prefix + key)
        if found is None:
            return False
        found.expires_at = expires_at
        return True

    async def ttl(self, key: str) -> float | None:
        found = self.store.entry(self._prefix + key)
        if found is None or found.expires_at is None:
            return None
        return max(0.0, found.expires_at - time.monotonic())

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values: list[bytes | None] = []
        for key in keys:
            found = self.store.entry(self._prefix + key)
            # MGET answers nil for non-string keys rather than failing; mirror that.
            values.append(found.value if found and isinstance(found.value, bytes) else None)
            self.store.count_lookup(found is not None)
        return values

    async def set_many(self, mapping: Mapping[str, bytes | str], ttl: float | None = None) -> None:
        expires_at = _expiry(ttl)
        for key, value in mapping.items():
            self.store.put(self._prefix + key, _Entry(to_bytes(value), expires_at))

    # --- counters -----------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        expires_at = _expiry(ttl)
        current = self._read_bytes(key)
        if current is not None and not _INTEGER.fullmatch(current):
            raise CacheUnavailableError(f"cache unavailable: value of {key!r} is not an integer")
        result = (0 if current is None else int(current)) + amount
        found = self.store.entry(self._prefix + key)
        if found is None:
            self.store.put(self._prefix + key, _Entry(str(result).encode(), expires_at))
        else:
            found.value = str(result).encode()
            if found.expires_at is None:  # never extend a running window
                found.expires_at = expires_at
        return result

    async def acquire_slot(self, key: str, limit: int, ttl: float) -> int | None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        _expiry(ttl)  # validate ttl even when the counter is full
        current = self._read_bytes(key)
        if current is not None and not _INTEGER.fullmatch(current):
            raise CacheUnavailableError(f"cache unavailable: value of {key!r} is not an integer")
        if current is not None and int(current) >= limit:
            return None
        return await self.incr(key, ttl=ttl)  # no await inside: still one indivisible step

    async def release_slot(self, key: str) -> int:
        current = self._read_bytes(key)
        if current is not None and not _INTEGER.fullmatch(current):
            raise CacheUnavailableError(f"cache unavailable: value of {key!r} is not an integer")
        if current is None or int(current) <= 1:
            if current is not None:
                del self.store.data[self._prefix + key]
            return 0
        found = self.store.entry(self._prefix + key)
        assert found is not None
        found.value = str(int(current) - 1).encode()
        return int(current) - 1

    # --- sets ---------------------------------------------------------------------------

    async def sadd(self, key: str, *members: str) -> int:
        members_now = self._read_set(key)
        if not members:
            return 0
        if members_now is None:
            members_now = set()
            self.store.put(self._prefix + key, _Entry(members_now, None))
        before = len(members_now)
        members_now.update(members)
        return len(members_now) - before

    async def srem(self, key: str, *members: str) -> int:
        members_now = self._read_set(key)
        if members_now is None:
            return 0
        before = len(members_now)
        members_now.difference_update(members)
        if not members_now:  # Redis deletes a set once it is empty
            del self.store.data[self._prefix + key]
        return before - len(members_now)

    async def smembers(self, key: str) -> builtins.set[str]:
        return set(self._read_set(key) or ())

    async def sismember(self, key: str, member: str) -> bool:
        members_now = self._read_set(key)
        return members_now is not None and member in members_now

    # --- locks --------------------------------------------------------------------------

    async def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        stored = await self.set_nx(LOCK_NAMESPACE + name, token, ttl)
        return token if stored else None

    def _held_by(self, name: str, token: str) -> _Entry | None:
        found = self.store.entry(self._prefix + LOCK_NAMESPACE + name)
        if found is None or found.value != token.encode():
            return None
        return found

    async def release_lock(self, name: str, token: str) -> bool:
        if self._held_by(name, token) is None:
            return False
        del self.store.data[self._prefix + LOCK_NAMESPACE + name]
        return True

    async def extend_lock(self, name: str, token: str, ttl: float) -> bool:
        expires_at = _expiry(ttl)
        found = self._held_by(name, token)
        if found is None:
            return False
        found.expires_at = expires_at
        return True

    # --- pub/sub ------------------------------------------------------------------------

    async def publish(self, channel: str, message: str) -> None:
        for subscriber in list(self.store.channels.get(self._prefix + channel, ())):
            subscriber.deliver(message)

    def subscribe(self, channel: str) -> Subscription:
        return _MemorySubscription(self.store, self, self._prefix + channel)

    # --- namespace ----------------------------------------------------------------------

    def _matching(self, pattern: str) -> list[str]:
        regex = glob_to_regex(pattern)
        size = len(self._prefix)
        return [
            full_key[size:]
            for full_key in list(self.store.data)
            if full_key.startswith(self._prefix)
            and regex.fullmatch(full_key[size:])
            and self.store.entry(full_key) is not None
        ]

    async def scan_keys(self, pattern: str = "*", limit: int = 10000) -> list[str]:
        return sorted(self._matching(pattern))[:limit]

    async def delete_pattern(self, pattern: str) -> int:
        keys = self._matching(pattern)
        for key in keys:
            del self.store.data[self._prefix + key]
        return len(keys)

    async def namespace_counts(self, limit: int) -> NamespaceCounts:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        counts: dict[str, int] = {}
        other = 0
        size = len(self._prefix)
        now = time.monotonic()
        examined = 0
        truncated = False
        for full_key, entry in self.store.data.items():  # no await: the dict cannot change
            if examined >= limit:
                truncated = True
                break
            examined += 1
            if not full_key.startswith(self._prefix):
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                continue
            namespace = namespace_of(full_key[size:])
            if namespace is None:
                other += 1
            else:
                counts[namespace] = counts.get(namespace, 0) + 1
        return NamespaceCounts(counts=counts, other=other, truncated=truncated)

    # --- operations ---------------------------------------------------------------------

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict[str, Any]:
        return {"backend": "memory", "keys": len(self._matching("*"))}

    async def stats(self) -> CacheStats:
        entries = 0
        size = 0
        now = time.monotonic()
        for full_key, entry in self.store.data.items():
            if not full_key.startswith(self._prefix):
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                continue
            entries += 1
            value = entry.value
            # Payload only (key and value bytes), not Python's object overhead: approximate.
            size += len(full_key.encode()) + (
                len(value) if isinstance(value, bytes) else sum(len(m.encode()) for m in value)
            )
        return CacheStats(
            backend="memory",
            hits=self.store.hits,
            misses=self.store.misses,
            used_memory=size,
            used_memory_human=human_bytes(size),
            entries=entries,
        )

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
