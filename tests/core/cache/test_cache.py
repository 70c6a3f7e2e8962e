"""Contract tests for `Cache`, run against every backend, plus Redis failure behaviour."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from app.core.cache import (
    Cache,
    CacheUnavailableError,
    LockNotAcquired,
    MemoryCache,
    MemoryStore,
    RedisCache,
    create_cache,
)
from app.core.cache.memory import SWEEP_EVERY_WRITES, glob_to_regex, human_bytes
from app.core.cache.namespaces import (
    is_namespace,
    namespace_of,
    protect_namespace,
    protected_namespaces,
)
from tests.core.cache.conftest import CacheFactory, needs_redis, unique_prefix
from tests.support.tcp_proxy import StalledServer, TcpProxy

# --- strings ------------------------------------------------------------------------------


async def test_set_get_roundtrip(cache: Cache) -> None:
    assert await cache.get("missing") is None
    await cache.set("b", b"\x00\xffbytes")
    await cache.set("s", "ünïcode")
    assert await cache.get("b") == b"\x00\xffbytes"
    assert await cache.get("s") == "ünïcode".encode()
    await cache.set("s", "replaced")
    assert await cache.get("s") == b"replaced"


async def test_set_ttl_expires(cache: Cache) -> None:
    await cache.set("k", "v", ttl=0.2)
    assert await cache.exists("k")
    await asyncio.sleep(0.35)
    assert await cache.get("k") is None
    assert not await cache.exists("k")


async def test_plain_set_clears_previous_ttl(cache: Cache) -> None:
    await cache.set("k", "v", ttl=0.2)
    await cache.set("k", "v2")
    assert await cache.ttl("k") is None
    await asyncio.sleep(0.35)
    assert await cache.get("k") == b"v2"


async def test_ttl_and_expire(cache: Cache) -> None:
    assert await cache.ttl("missing") is None
    assert not await cache.expire("missing", 10)
    await cache.set("k", "v")
    assert await cache.ttl("k") is None
    assert await cache.expire("k", 10)
    remaining = await cache.ttl("k")
    assert remaining is not None and 0 < remaining <= 10
    assert await cache.expire("k", 0.2)
    await asyncio.sleep(0.35)
    assert not await cache.exists("k")


@pytest.mark.parametrize("bad_ttl", [0, -1, float("nan")])
async def test_non_positive_ttl_is_rejected(cache: Cache, bad_ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", "v", ttl=bad_ttl)
    with pytest.raises(ValueError, match="ttl"):
        await cache.incr("n", ttl=bad_ttl)


async def test_set_nx(cache: Cache) -> None:
    assert await cache.set_nx("k", "first", ttl=0.2)
    assert not await cache.set_nx("k", "second")
    assert await cache.get("k") == b"first"
    await asyncio.sleep(0.35)
    assert await cache.set_nx("k", "third")
    assert await cache.get("k") == b"third"


async def test_getdel_is_single_use(cache: Cache) -> None:
    assert await cache.getdel("missing") is None
    await cache.set("code", "1234")
    results = await asyncio.gather(*(cache.getdel("code") for _ in range(20)))
    assert [r for r in results if r is not None] == [b"1234"]
    assert not await cache.exists("code")


async def test_delete_and_exists(cache: Cache) -> None:
    await cache.set("a", "1")
    await cache.set("b", "2")
    await cache.sadd("set", "x")
    assert await cache.exists("set")
    assert await cache.delete("a", "b", "set", "missing") == 3
    assert await cache.delete() == 0
    assert not await cache.exists("a")


async def test_get_many_set_many(cache: Cache) -> None:
    assert await cache.get_many([]) == []
    await cache.set_many({})
    await cache.set_many({"a": "1", "b": b"2"}, ttl=0.2)
    await cache.set("c", "3")
    assert await cache.get_many(["a", "missing", "b", "c"]) == [b"1", None, b"2", b"3"]
    await asyncio.sleep(0.35)
    assert await cache.get_many(["a", "b", "c"]) == [None, None, b"3"]


async def test_json_helpers(cache: Cache) -> None:
    assert await cache.get_json("missing") is None
    value = {"id": 7, "roles": ["admin", "ops"], "nested": {"ok": True, "none": None}}
    await cache.set_json("j", value)
    assert await cache.get_json("j") == value
    await cache.set_json("list", [1, 2.5, "x"], ttl=10)
    assert await cache.get_json("list") == [1, 2.5, "x"]


# --- counters -----------------------------------------------------------------------------


async def test_incr(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.incr("n", -10) == -4
    assert await cache.get("n") == b"-4"
    assert await cache.ttl("n") is None


async def test_incr_is_atomic_under_concurrency(cache: Cache) -> None:
    results = await asyncio.gather(*(cache.incr("hits", ttl=30) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await cache.get("hits") == b"50"


async def test_incr_ttl_is_a_fixed_window(cache: Cache) -> None:
    assert await cache.incr("window", ttl=0.5) == 1
    await asyncio.sleep(0.3)
    assert await cache.incr("window", ttl=0.5) == 2  # must not push the expiry back
    await asyncio.sleep(0.35)  # 0.65 s after creation, 0.35 s after the second increment
    assert await cache.get("window") is None
    assert await cache.incr("window", ttl=0.5) == 1  # a new window starts


async def test_incr_with_ttl_never_leaves_key_without_expiry(cache: Cache) -> None:
    await cache.set("n", "5")
    assert await cache.incr("n", ttl=0.2) == 6
    assert await cache.ttl("n") is not None
    await asyncio.sleep(0.35)
    assert not await cache.exists("n")


async def test_wrong_kind_of_value_raises_cache_error(cache: Cache) -> None:
    await cache.set("text", "abc")
    await cache.sadd("members", "x")
    with pytest.raises(CacheUnavailableError):
        await cache.incr("text")
    with pytest.raises(CacheUnavailableError):
        await cache.sadd("text", "x")
    with pytest.raises(CacheUnavailableError):
        await cache.get("members")


# --- sets and versions --------------------------------------------------------------------


async def test_sets(cache: Cache) -> None:
    assert await cache.smembers("s") == set()
    assert await cache.sadd("s") == 0
    assert await cache.sadd("s", "a", "b", "a") == 2
    assert await cache.sadd("s", "b", "c") == 1
    assert await cache.smembers("s") == {"a", "b", "c"}
    assert await cache.sismember("s", "a")
    assert not await cache.sismember("s", "z")
    assert not await cache.sismember("missing", "a")
    assert await cache.srem("s", "a", "z") == 1
    assert await cache.srem("missing", "a") == 0
    assert await cache.srem("s", "b", "c") == 2
    assert not await cache.exists("s")  # an emptied set disappears


async def test_versions(cache: Cache) -> None:
    assert await cache.get_version("perm") == 0
    assert await cache.bump_version("perm") == 1
    assert await cache.bump_version("perm") == 2
    assert await cache.get_version("perm") == 2
    assert await cache.get_version("other") == 0
    await asyncio.gather(*(cache.bump_version("perm") for _ in range(20)))
    assert await cache.get_version("perm") == 22
    assert await cache.ttl("ver:perm") is None


# --- locks --------------------------------------------------------------------------------


async def test_lock_exclusivity_and_ownership(cache: Cache) -> None:
    token = await cache.acquire_lock("job", 10)
    assert token is not None
    assert await cache.acquire_lock("job", 10) is None
    assert not await cache.release_lock("job", "not-the-token")
    assert not await cache.extend_lock("job", "not-the-token", 10)
    assert await cache.extend_lock("job", token, 20)
    assert await cache.release_lock("job", token)
    assert not await cache.release_lock("job", token)
    second = await cache.acquire_lock("job", 10)
    assert second is not None and second != token


async def test_lock_expiry_frees_it(cache: Cache) -> None:
    stale = await cache.acquire_lock("job", 0.2)
    assert stale is not None
    await asyncio.sleep(0.35)
    fresh = await cache.acquire_lock("job", 10)
    assert fresh is not None
    assert not await cache.release_lock("job", stale)  # the old holder cannot free it
    assert not await cache.extend_lock("job", stale, 10)
    assert await cache.acquire_lock("job", 10) is None


async def test_lock_context_manager(cache: Cache) -> None:
    async with cache.lock("job", 10) as held:
        assert held.token is not None
        assert await cache.acquire_lock("job", 10) is None
        assert await held.extend(10)
        with pytest.raises(LockNotAcquired):
            async with cache.lock("job", 10, wait=0.2, poll=0.05):
                pytest.fail("entered a lock that is held")
    token = await cache.acquire_lock("job", 10)
    assert token is not None  # released on exit
    await cache.release_lock("job", token)

    with pytest.raises(RuntimeError, match="boom"):
        async with cache.lock("job", 10):
            raise RuntimeError("boom")
    assert await cache.acquire_lock("job", 0.2) is not None  # released despite the error
    async with cache.lock("job", 10, wait=5.0):  # waits for the 0.2 s lock to expire
        pass


# --- pub/sub ------------------------------------------------------------------------------


async def test_pubsub_delivers_to_every_subscriber(cache: Cache) -> None:
    async with cache.subscribe("events") as first, cache.subscribe("events") as second:
        await cache.publish("elsewhere", "not for us")
        await cache.publish("events", "one")
        await cache.publish("events", "twö")
        for subscription in (first, second):
            received = [await asyncio.wait_for(anext(subscription), 5) for _ in range(2)]
            assert received == ["one", "twö"]
    assert first.closed and second.closed
    with pytest.raises(StopAsyncIteration):
        await anext(first)
    await cache.publish("events", "nobody listens")


async def test_pubsub_iteration_and_close(cache: Cache) -> None:
    subscription = cache.subscribe("ticks")
    await subscription.start()
    received: list[str] = []

    async def consume() -> None:
        async for message in subscription:
            received.append(message)
            if message == "stop":
                await subscription.aclose()

    consumer = asyncio.create_task(consume())
    for message in ("a", "b", "stop", "after"):
        await cache.publish("ticks", message)
    await asyncio.wait_for(consumer, 5)
    assert received == ["a", "b", "stop"]


async def test_pubsub_channels_are_prefixed(make_cache: CacheFactory) -> None:
    ours, theirs = make_cache(), make_cache()
    async with ours.subscribe("events") as subscription:
        await theirs.publish("events", "theirs")
        await ours.publish("events", "ours")
        assert await asyncio.wait_for(anext(subscription), 5) == "ours"


# --- namespace, isolation, operations -----------------------------------------------------


async def test_scan_keys(cache: Cache) -> None:
    await cache.set_many({"user:1": "a", "user:2": "b", "role:1": "c"})
    await cache.sadd("user:set", "x")
    await cache.set("user:gone", "x", ttl=0.2)
    await asyncio.sleep(0.35)
    assert await cache.scan_keys("user:*") == ["user:1", "user:2", "user:set"]
    assert await cache.scan_keys("user:?") == ["user:1", "user:2"]
    assert await cache.scan_keys() == ["role:1", "user:1", "user:2", "user:set"]
    assert len(await cache.scan_keys(limit=2)) == 2


async def test_scan_and_delete_pattern_stay_inside_prefix(make_cache: CacheFactory) -> None:
    ours, theirs = make_cache(), make_cache()
    await ours.set_many({"a:1": "x", "a:2": "x", "b:1": "x"})
    await theirs.set_many({"a:1": "keep", "b:1": "keep"})
    assert await ours.delete_pattern("a:*") == 2
    assert await ours.scan_keys() == ["b:1"]
    assert await ours.delete_pattern("*") == 1
    assert await ours.scan_keys() == []
    assert await theirs.get_many(["a:1", "b:1"]) == [b"keep", b"keep"]
    assert await theirs.scan_keys() == ["a:1", "b:1"]


async def test_glob_characters_in_prefix_are_literal(make_cache: CacheFactory) -> None:
    base = unique_prefix()[:-1]
    wild, plain = make_cache(f"{base}-?:"), make_cache(f"{base}-x:")
    await plain.set("k", "keep")
    await wild.set("k", "mine")
    assert await wild.scan_keys() == ["k"]
    assert await wild.delete_pattern("*") == 1
    assert await plain.get("k") == b"keep"


async def test_prefix_isolation(make_cache: CacheFactory) -> None:
    first, second = make_cache(), make_cache()
    await first.set("k", "one")
    await second.set("k", "two")
    assert await first.get("k") == b"one"
    assert await second.get("k") == b"two"
    await first.delete("k")
    assert await second.get("k") == b"two"
    assert await first.incr("n") == 1 and await second.incr("n") == 1


async def test_info_and_properties(cache: Cache, backend: str) -> None:
    await cache.set_many({"a": "1", "b": "2"})
    await cache.sadd("s", "x")
    info = await cache.info()
    assert info["backend"] == cache.backend == backend
    assert info["keys"] == 3
    assert cache.shared is (backend == "redis")
    assert await cache.ping() is True
    if backend == "redis":
        assert isinstance(info["redis_version"], str)
        for field in ("used_memory", "connected_clients", "keyspace_hits", "keyspace_misses"):
            assert isinstance(info[field], int), field


# --- namespaces and operator figures (the monitor's cache page) ---------------------------


async def test_namespace_counts_per_first_segment(make_cache: CacheFactory) -> None:
    ours, theirs = make_cache(), make_cache()
    await ours.set_many({"session:a": "1", "session:b:c": "1", "sessions:1": "1", "role:1": "1"})
    await ours.sadd("role:set", "x")
    await ours.set("nocolon", "1")  # no namespace: could be a bare token, never named
    await ours.set("Upper:1", "1")  # not a well-formed namespace name
    await ours.bump_version("perm")
    assert await ours.acquire_lock("job", 10) is not None
    await ours.set("session:gone", "1", ttl=0.2)
    await theirs.set_many({"session:x": "1", "other:1": "1"})
    await asyncio.sleep(0.35)

    # A shared Redis may hold many keys of other runs: the bound must cover them all here.
    counted = await ours.namespace_counts(100_000_000)

    assert counted.counts == {"session": 2, "sessions": 1, "role": 2, "ver": 1, "lock": 1}
    assert counted.other == 2
    assert counted.total == 9
    assert counted.truncated is False


async def test_namespace_counts_are_bounded_and_say_so(cache: Cache) -> None:
    await cache.set_many({f"n:{i}": "x" for i in range(2500)})
    partial = await cache.namespace_counts(1000)
    assert partial.truncated is True
    assert 0 < partial.total < 2500
    full = await cache.namespace_counts(1_000_000)
    assert full.truncated is False
    assert full.counts == {"n": 2500}
    with pytest.raises(ValueError, match="limit"):
        await cache.namespace_counts(0)


async def test_clear_namespace_deletes_only_that_namespace(make_cache: CacheFactory) -> None:
    ours, theirs = make_cache(), make_cache()
    await ours.set_many({"session:1": "x", "session:2:deep": "x", "sessions:1": "x", "role:1": "x"})
    await ours.sadd("session:set", "member")
    await ours.set("session", "no separator: not in the namespace")
    await theirs.set_many({"session:1": "keep", "session:2": "keep"})

    assert await ours.clear_namespace("session") == 3

    assert await ours.scan_keys() == ["role:1", "session", "sessions:1"]
    assert await theirs.scan_keys() == ["session:1", "session:2"]
    assert await ours.clear_namespace("session") == 0


@pytest.mark.parametrize("bad", ["*", "a*", "s?ss", "[a-z]", "a:b", "Session", "", "-x", "a" * 65])
async def test_clear_namespace_refuses_malformed_names(cache: Cache, bad: str) -> None:
    await cache.set("keep:1", "x")
    with pytest.raises(ValueError, match="namespace"):
        await cache.clear_namespace(bad)
    assert await cache.scan_keys() == ["keep:1"]


async def test_stats_count_hits_and_misses(cache: Cache, backend: str) -> None:
    before = await cache.stats()
    await cache.set("hit", "0123456789")
    await cache.sadd("set", "member")
    assert await cache.get("hit") == b"0123456789"
    assert await cache.get("missing") is None
    assert await cache.get_many(["hit", "missing"]) == [b"0123456789", None]
    after = await cache.stats()

    assert before.backend == after.backend == backend
    assert before.hits is not None and before.misses is not None
    assert after.hits is not None and after.misses is not None
    if backend == "memory":
        assert (after.hits - before.hits, after.misses - before.misses) == (2, 2)
        assert after.entries == 2
        key_bytes = len((cache.prefix + "hit").encode()) + len((cache.prefix + "set").encode())
        assert after.used_memory == key_bytes + len(b"0123456789") + len(b"member")
        assert after.used_memory_human == f"{after.used_memory}B"
        assert (after.maxmemory, after.version, after.role) == (None, None, None)
    else:  # server-wide counters: other clients may add to them
        assert after.hits - before.hits >= 2
        assert after.misses - before.misses >= 2
        assert after.entries is None
        assert isinstance(after.version, str) and after.version
        assert isinstance(after.used_memory, int) and after.used_memory > 0
        assert isinstance(after.used_memory_human, str)
        assert isinstance(after.maxmemory, int)
        assert isinstance(after.uptime_seconds, int)
        assert isinstance(after.connected_clients, int) and after.connected_clients >= 1
        assert after.role in ("master", "slave")


@pytest.mark.parametrize(
    ("key", "namespace"),
    [
        ("sess:abc", "sess"),
        ("authz:1:2:3", "authz"),
        ("dict.items-x_1:y", "dict.items-x_1"),
        ("nocolon", None),
        (":leading", None),
        ("Upper:x", None),
        ("with space:x", None),
        ("a" * 65 + ":x", None),
    ],
)
def test_namespace_of(key: str, namespace: str | None) -> None:
    assert namespace_of(key) == namespace


def test_protected_namespaces_registry() -> None:
    protected = protected_namespaces()
    assert {"rl", "lock", "ver"} <= set(protected)  # the core's; the modules' below
    assert list(protected) == sorted(protected)
    assert all(reason for reason in protected.values())
    with pytest.raises(ValueError, match="namespace"):
        protect_namespace("bad:name", "reason")
    with pytest.raises(TypeError):
        protected["sess"] = "changed"  # type: ignore[index]
    assert is_namespace("a") and not is_namespace("a\n")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.00K"),
        (3 * 1024**2 // 2, "1.50M"),
        (5 * 1024**4, "5.00T"),
    ],
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


# --- backend-specific ---------------------------------------------------------------------


async def test_memory_sweep_drops_unread_expired_keys() -> None:
    store = MemoryStore()
    cache = MemoryCache(unique_prefix(), store=store)
    for i in range(10):
        await cache.set(f"old:{i}", "x", ttl=0.05)
    await asyncio.sleep(0.1)
    for i in range(SWEEP_EVERY_WRITES):
        await cache.set(f"new:{i % 5}", "x")
    assert not any(key.endswith(tuple(f"old:{i}" for i in range(10))) for key in store.data)


@pytest.mark.parametrize(
    ("pattern", "matches", "rejects"),
    [
        ("user:*", ["user:", "user:1:x"], ["role:1"]),
        ("h?llo", ["hello", "hallo"], ["hllo", "heello"]),
        ("h[ae]llo", ["hello", "hallo"], ["hillo"]),
        ("h[^e]llo", ["hallo"], ["hello"]),
        ("h[a-c]llo", ["hbllo"], ["hdllo"]),
        (r"a\*b", ["a*b"], ["axb"]),
        ("a.b+", ["a.b+"], ["axbb"]),
    ],
)
def test_glob_to_regex(pattern: str, matches: list[str], rejects: list[str]) -> None:
    regex = glob_to_regex(pattern)
    assert all(regex.fullmatch(text) for text in matches)
    assert not any(regex.fullmatch(text) for text in rejects)


async def test_create_cache_picks_backend() -> None:
    memory = create_cache("", prefix="fa:", socket_timeout=1.0, connect_timeout=1.0)
    assert isinstance(memory, MemoryCache) and not memory.shared
    redis = create_cache(
        "redis://127.0.0.1:1/0", prefix="fa:", socket_timeout=1.0, connect_timeout=1.0
    )
    assert isinstance(redis, RedisCache) and redis.shared and redis.backend == "redis"
    await redis.close()
    with pytest.raises(ValueError, match="prefix"):
        MemoryCache("")


Operation = Callable[[Cache], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "ping": lambda c: c.ping(),
    "get": lambda c: c.get("k"),
    "set_many": lambda c: c.set_many({"a": "1"}, ttl=5),
    "incr_ttl": lambda c: c.incr("n", ttl=5),
    "acquire_slot": lambda c: c.acquire_slot("n", 3, 5),
    "release_slot": lambda c: c.release_slot("n"),
    "release_lock": lambda c: c.release_lock("job", "token"),
    "publish": lambda c: c.publish("ch", "m"),
    "subscribe": lambda c: c.subscribe("ch").start(),
    "scan_keys": lambda c: c.scan_keys(),
    "info": lambda c: c.info(),
    "stats": lambda c: c.stats(),
    "namespace_counts": lambda c: c.namespace_counts(1000),
    "clear_namespace": lambda c: c.clear_namespace("authz"),
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_unreachable_redis_raises_cache_unavailable(operation: str) -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", prefix=unique_prefix())
    try:
        with pytest.raises(CacheUnavailableError, match="cache unavailable") as caught:
            await asyncio.wait_for(OPERATIONS[operation](cache), 5)
        assert caught.value.__cause__ is not None
    finally:
        await cache.close()


@pytest.mark.parametrize("operation", ["get", "incr_ttl", "subscribe"])
async def test_stalled_redis_fails_fast(stalled_server: StalledServer, operation: str) -> None:
    cache = RedisCache(
        f"redis://127.0.0.1:{stalled_server.port}/0",
        prefix=unique_prefix(),
        socket_timeout=1.0,
        connect_timeout=1.0,
    )
    started = time.monotonic()
    try:
        with pytest.raises(CacheUnavailableError):
            await asyncio.wait_for(OPERATIONS[operation](cache), 5)
        assert time.monotonic() - started < 3.0
    finally:
        await cache.close()


@needs_redis
async def test_redis_recovers_after_outage(redis_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = redis_proxy
    cache = RedisCache(url, prefix=unique_prefix(), socket_timeout=1.0, connect_timeout=1.0)
    try:
        await cache.set("k", "v")
        subscription = cache.subscribe("events")
        await subscription.start()
        await proxy.stop()
        for _ in range(2):
            with pytest.raises(CacheUnavailableError):
                await asyncio.wait_for(cache.get("k"), 5)
        with pytest.raises(CacheUnavailableError):
            await asyncio.wait_for(anext(subscription), 5)
        await subscription.aclose()

        await proxy.start()
        assert await asyncio.wait_for(cache.get("k"), 5) == b"v"
        # A restart while the pooled connection is idle must not cost the next call an error.
        await proxy.stop()
        await proxy.start()
        assert await asyncio.wait_for(cache.get("k"), 5) == b"v"
        assert await cache.incr("n", ttl=5) == 1
        async with cache.subscribe("events") as fresh:
            await cache.publish("events", "back")
            assert await asyncio.wait_for(anext(fresh), 5) == "back"
    finally:
        await cache.delete_pattern("*")
        await cache.close()


def test_each_enabled_module_protects_its_own_namespaces() -> None:
    """The identity module's security state and the scheduler's queue are declared by those
    modules (`ModuleSpec.cache_namespaces`) and protected once they are loaded."""
    from app.core.config import load_settings
    from app.core.modules import load_modules

    specs = {spec.name: spec for spec in load_modules(load_settings("test"))}
    assert set(specs["system"].cache_namespaces) == {"sess", "login", "mfa"}
    assert set(specs["scheduler"].cache_namespaces) == {"scheduler"}
    protected = protected_namespaces()
    for spec in specs.values():
        for namespace, reason in spec.cache_namespaces.items():
            assert protected[namespace] == reason
