"""Redis-backed cache for the scale shape: shared by every worker process on every host.

Failure policy: a stopped or stalled Redis must make a call fail within about the socket
timeout, never hang, and every backend error surfaces as `CacheUnavailableError`.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
from app.core.metrics import record_cache_error

P = ParamSpec("P")
R = TypeVar("R")

# asyncio.TimeoutError is the builtin TimeoutError (an OSError) on Python >= 3.11.
_BACKEND_ERRORS = (RedisError, OSError)
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500
_POLL_SECONDS = 1.0  # how often a waiting subscriber wakes up to notice aclose()

# INCRBY, then set the TTL only if the key has none: a fresh key gets its window, later
# increments never extend it, and (being one script) no key is ever left without expiry.
_INCR_LUA = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""
# Take a slot only below the limit; check and increment in one script (no lost race).
_ACQUIRE_SLOT_LUA = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if value >= tonumber(ARGV[1]) then
    return -1
end
value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""
_RELEASE_SLOT_LUA = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if value <= 1 then
    redis.call('DEL', KEYS[1])
    return 0
end
return redis.call('DECR', KEYS[1])
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_EXTEND_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


@contextmanager
def _translate(operation: str) -> Iterator[None]:
    try:
        yield
    except _BACKEND_ERRORS as exc:
        record_cache_error(operation)
        raise CacheUnavailableError(f"cache unavailable: {operation}: {_reason(exc)}") from exc


def _guarded(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Convert every backend error raised by `method` into `CacheUnavailableError`.

    After a timeout (a stalled server), calls fail at once for one socket timeout instead of
    each waiting for it: a request making four cache calls answers 503 after ~1 s, not ~4 s.
    A refused connection fails fast by itself and does not trip this.
    """

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        cache = args[0]
        assert isinstance(cache, RedisCache)
        if cache._fail_fast_until > time.monotonic():
            record_cache_error(method.__name__)
            raise CacheUnavailableError(f"cache unavailable: {method.__name__}: stalled")
        try:
            with _translate(method.__name__):
                return await method(*args, **kwargs)
        except CacheUnavailableError as exc:
            if isinstance(exc.__cause__, RedisTimeoutError | TimeoutError):
                cache._fail_fast_until = time.monotonic() + cache._socket_timeout
            raise

    return wrapper


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # decode_responses is off, so replies are bytes; str only appears in the type stubs.
    return value.encode() if isinstance(value, str) else value


def _as_str(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (str, bytes)) and value.isdigit():
        return int(value)
    return None


def _str_or_none(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return None if value is None else str(value)


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so a prefix only ever matches itself."""
    return "".join("\\" + c if c in "*?[]\\^" else c for c in text)


class _RedisSubscription(Subscription):
    def __init__(self, client: Redis, full_channel: str, timeout: float, owner: RedisCache) -> None:
        super().__init__(full_channel)
        self._client = client
        self._timeout = timeout
        self._owner = owner
        self._pubsub: PubSub | None = None

    async def _start(self) -> None:
        self._pubsub = self._client.pubsub()
        self._owner._subscriptions.add(self)
        try:
            with _translate("subscribe"):
                await self._pubsub.subscribe(self.channel)
                # SUBSCRIBE is only sent above; wait for the server's confirmation so a
                # message published right after start() returns is guaranteed to reach us.
                confirmation = await self._pubsub.get_message(timeout=self._timeout)
            if confirmation is None or confirmation.get("type") != "subscribe":
                record_cache_error("subscribe")
                raise CacheUnavailableError("cache unavailable: subscribe: no confirmation")
        except BaseException:
            await self.aclose()  # a failed subscription is dead; subscribe() again to retry
            raise

    async def _next(self) -> str:
        while True:
            if self.closed or self._pubsub is None:
                raise StopAsyncIteration
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=_POLL_SECONDS
                )
            except _BACKEND_ERRORS as exc:
                if self.closed:
                    raise StopAsyncIteration from None
                # redis-py already tried one reconnect-and-resubscribe (the retry policy);
                # the caller must now resubscribe, knowing messages may have been lost.
                record_cache_error("subscribe")
                raise CacheUnavailableError(
                    f"cache unavailable: subscribe: {_reason(exc)}"
                ) from exc
            if message is not None and message.get("type") == "message":
                data = message["data"]
                return data.decode(errors="replace") if isinstance(data, bytes) else str(data)

    async def _close(self) -> None:
        self._owner._subscriptions.discard(self)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_BACKEND_ERRORS):
                # Drops the connection, so the server forgets the subscription.
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py


class RedisCache(Cache):
    """`Cache` on Redis (>= 6.2 for GETDEL), via `redis.asyncio`.

    Creating the instance does no I/O; the first command connects. After an outage the same
    instance recovers on its own: the pool drops broken connections and opens new ones.

    Args:
        url: ``redis://[user:password@]host:port/db`` (or ``rediss://``, ``unix://``).
        prefix: Namespace for every key and channel.
        socket_timeout: Seconds to wait for any reply before failing.
        connect_timeout: Seconds to wait for a TCP connection.
        health_check_interval: Idle seconds after which a pooled connection is PINGed
            before reuse.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        health_check_interval: float = 30.0,
    ) -> None:
        super().__init__(prefix)
        self._socket_timeout = socket_timeout
        self._fail_fast_until = 0.0  # monotonic time; see _guarded
        # Retry policy. redis-py 8.1's Redis() constructor defaults to 10 retries with
        # exponential backoff (capped at 1 s) on ConnectionError *and* TimeoutError, so a
        # stalled server could hold one call for 10+ socket timeouts. (from_url() happens to
        # skip that default and use no retry; we set the policy explicitly either way.)
        # We allow exactly one immediate retry, and only for ConnectionError:
        # - a stalled Redis (TimeoutError) fails after ~socket_timeout, never retried;
        # - a stopped Redis is refused twice within milliseconds;
        # - a pooled connection that the server side reset while idle is not detected on
        #   checkout by redis-py (only a clean EOF is), so the first command on it fails with
        #   ConnectionError; the retry reconnects and the caller never sees the stale socket;
        # - retrying timeouts could run a non-idempotent command (INCR, GETDEL, lock scripts)
        #   twice when only the reply was late; a ConnectionError almost always means the
        #   command never reached the server.
        # Callers see CacheUnavailableError and decide (HTTP 503 + Retry-After).
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            health_check_interval=health_check_interval,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._incr_script = self._client.register_script(_INCR_LUA)
        self._acquire_slot_script = self._client.register_script(_ACQUIRE_SLOT_LUA)
        self._release_slot_script = self._client.register_script(_RELEASE_SLOT_LUA)
        self._release_script = self._client.register_script(_RELEASE_LUA)
        self._extend_script = self._client.register_script(_EXTEND_LUA)
        self._subscriptions: set[_RedisSubscription] = set()

    @property
    def backend(self) -> str:
        return "redis"

    @property
    def shared(self) -> bool:
        return True

    def _k(self, key: str) -> str:
        return self._prefix + key

    # --- strings ------------------------------------------------------------------------

    @_guarded
    async def get(self, key: str) -> bytes | None:
        return _as_bytes(await self._client.get(self._k(key)))

    @_guarded
    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        px = None if ttl is None else ttl_to_ms(ttl)
        await self._client.set(self._k(key), to_bytes(value), px=px)

    @_guarded
    async def set_nx(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        px = None if ttl is None else ttl_to_ms(ttl)
        return bool(await self._client.set(self._k(key), to_bytes(value), px=px, nx=True))

    @_guarded
    async def getdel(self, key: str) -> bytes | None:
        return _as_bytes(await self._client.getdel(self._k(key)))

    @_guarded
    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.unlink(*(self._k(k) for k in keys)))

    @_guarded
    async def exists(self, key: str) -> bool:
        return int(await self._client.exists(self._k(key))) == 1

    @_guarded
    async def expire(self, key: str, ttl: float) -> bool:
        return bool(await self._client.pexpire(self._k(key), ttl_to_ms(ttl)))

    @_guarded
    async def ttl(self, key: str) -> float | None:
        millis = int(await self._client.pttl(self._k(key)))
        return None if millis < 0 else millis / 1000  # -2: no key, -1: no expiry

    @_guarded
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | str | None] = await self._client.mget([self._k(k) for k in keys])
        return [_as_bytes(v) for v in values]

    @_guarded
    async def set_many(self, mapping: Mapping[str, bytes | str], ttl: float | None = None) -> None:
        if not mapping:
            return
        px = None if ttl is None else ttl_to_ms(ttl)
        # MULTI/EXEC: one round trip, and readers never see half of the batch.
        async with self._client.pipeline(transaction=True) as pipe:
            for key, value in mapping.items():
                pipe.set(self._k(key), to_bytes(value), px=px)
            await pipe.execute()

    # --- counters -----------------------------------------------------------------------

    @_guarded
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            return int(await self._client.incrby(self._k(key), amount))
        result = await self._incr_script(keys=[self._k(key)], args=[amount, ttl_to_ms(ttl)])
        return int(result)

    @_guarded
    async def acquire_slot(self, key: str, limit: int, ttl: float) -> int | None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        result = int(
            await self._acquire_slot_script(keys=[self._k(key)], args=[limit, ttl_to_ms(ttl)])
        )
        return None if result < 0 else result

    @_guarded
    async def release_slot(self, key: str) -> int:
        return int(await self._release_slot_script(keys=[self._k(key)], args=[]))

    # --- sets ---------------------------------------------------------------------------

    @_guarded
    async def sadd(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await self._client.sadd(self._k(key), *members))

    @_guarded
    async def srem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await self._client.srem(self._k(key), *members))

    @_guarded
    async def smembers(self, key: str) -> builtins.set[str]:
        members: builtins.set[bytes | str] = await self._client.smembers(self._k(key))
        return {_as_str(m) for m in members}

    @_guarded
    async def sismember(self, key: str, member: str) -> bool:
        return bool(await self._client.sismember(self._k(key), member))

    # --- locks --------------------------------------------------------------------------

    @_guarded
    async def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        stored = await self._client.set(
            self._k(LOCK_NAMESPACE + name), token, px=ttl_to_ms(ttl), nx=True
        )
        return token if stored else None

    @_guarded
    async def release_lock(self, name: str, token: str) -> bool:
        result = await self._release_script(keys=[self._k(LOCK_NAMESPACE + name)], args=[token])
        return int(result) == 1

    @_guarded
    async def extend_lock(self, name: str, token: str, ttl: float) -> bool:
        result = await self._extend_script(
            keys=[self._k(LOCK_NAMESPACE + name)], args=[token, ttl_to_ms(ttl)]
        )
        return int(result) == 1

    # --- pub/sub ------------------------------------------------------------------------

    @_guarded
    async def publish(self, channel: str, message: str) -> None:
        # Channels are global to the server (not per database), so the prefix matters here.
        await self._client.publish(self._k(channel), message)

    def subscribe(self, channel: str) -> Subscription:
        return _RedisSubscription(self._client, self._k(channel), self._socket_timeout, self)

    # --- namespace ----------------------------------------------------------------------

    async def _scan_batch(self, cursor: int, pattern: str) -> tuple[int, list[bytes]]:
        """One SCAN step restricted to our prefix (the escaped prefix anchors the match)."""
        match = _glob_escape(self._prefix) + pattern
        next_cursor, batch = await self._client.scan(cursor, match=match, count=_SCAN_COUNT)
        prefix = self._prefix.encode()
        keys = [k.encode() if isinstance(k, str) else k for k in batch]
        return int(next_cursor), [k for k in keys if k.startswith(prefix)]

    @_guarded
    async def scan_keys(self, pattern: str = "*", limit: int = 10000) -> list[str]:
        size = len(self._prefix.encode())
        found: set[str] = set()  # SCAN may return a key more than once
        cursor = 0
        while True:
            cursor, batch = await self._scan_batch(cursor, pattern)
            found.update(k[size:].decode(errors="replace") for k in batch)
            if cursor == 0 or len(found) >= limit:
                break
        return sorted(found)[:limit]

    @_guarded
    async def delete_pattern(self, pattern: str) -> int:
        deleted = 0
        cursor = 0
        while True:
            cursor, batch = await self._scan_batch(cursor, pattern)
            for start in range(0, len(batch), _UNLINK_BATCH):
                deleted += int(await self._client.unlink(*batch[start : start + _UNLINK_BATCH]))
            if cursor == 0:
                return deleted

    @_guarded
    async def namespace_counts(self, limit: int) -> NamespaceCounts:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        seen: set[bytes] = set()  # SCAN may return a key more than once
        cursor = 0
        # Each step examines about _SCAN_COUNT keys of the database, ours or not, so the
        # number of steps bounds the time even when other applications hold millions of keys.
        for _step in range(-(-limit // _SCAN_COUNT)):
            cursor, batch = await self._scan_batch(cursor, "*")
            seen.update(batch)
            if cursor == 0:
                break
        size = len(self._prefix.encode())
        counts: dict[str, int] = {}
        other = 0
        for key in seen:
            namespace = namespace_of(key[size:].decode(errors="replace"))
            if namespace is None:
                other += 1
            else:
                counts[namespace] = counts.get(namespace, 0) + 1
        return NamespaceCounts(counts=counts, other=other, truncated=cursor != 0)

    # --- operations ---------------------------------------------------------------------

    @_guarded
    async def ping(self) -> bool:
        await self._client.ping()
        return True

    @_guarded
    async def info(self) -> dict[str, Any]:
        raw: dict[str, Any] = await self._client.info()
        keys: set[bytes] = set()  # SCAN may return a key more than once
        cursor = 0
        while True:
            cursor, batch = await self._scan_batch(cursor, "*")
            keys.update(batch)
            if cursor == 0:
                break
        fields = ("redis_version", "used_memory", "connected_clients")
        stats = ("keyspace_hits", "keyspace_misses")
        return {
            "backend": "redis",
            "keys": len(keys),
            **{name: raw.get(name) for name in fields + stats},
        }

    @_guarded
    async def stats(self) -> CacheStats:
        try:
            raw: dict[str, Any] = await self._client.info()
        except ResponseError:
            # INFO disabled or not permitted (some managed services, ACLs): nothing to report.
            return CacheStats(backend="redis")
        return CacheStats(
            backend="redis",
            hits=_int_or_none(raw.get("keyspace_hits")),
            misses=_int_or_none(raw.get("keyspace_misses")),
            used_memory=_int_or_none(raw.get("used_memory")),
            used_memory_human=_str_or_none(raw.get("used_memory_human")),
            maxmemory=_int_or_none(raw.get("maxmemory")),
            version=_str_or_none(raw.get("redis_version")),
            uptime_seconds=_int_or_none(raw.get("uptime_in_seconds")),
            connected_clients=_int_or_none(raw.get("connected_clients")),
            role=_str_or_none(raw.get("role")),
        )

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        with contextlib.suppress(*_BACKEND_ERRORS):  # nothing to release on a dead link
            await self._client.aclose()
