"""Contract tests for `Cache.acquire_slot` / `release_slot`, on every backend.

The primitive behind "reserve the attempt before verifying the guess" (SECURITY.md §1.11
ASVS 15.4.2 check-then-act as one operation; §1.1 anti-automation ASVS 6.1.1, 6.3.1).
"""

from __future__ import annotations

import asyncio

import pytest

from app.core.cache import Cache, CacheUnavailableError
from tests.core.cache.conftest import CacheFactory


async def test_slots_are_taken_up_to_the_limit(cache: Cache) -> None:
    assert [await cache.acquire_slot("s", 3, 30) for _ in range(3)] == [1, 2, 3]
    assert await cache.acquire_slot("s", 3, 30) is None
    assert await cache.get("s") == b"3"  # a refused caller changes nothing
    ttl = await cache.ttl("s")
    assert ttl is not None and 0 < ttl <= 30


async def test_concurrent_callers_never_get_more_than_the_limit(
    make_cache: CacheFactory,
) -> None:
    """50 callers at once, spread over two cache instances (two processes on Redis)."""
    first = make_cache()
    second = make_cache(first.prefix)
    results = await asyncio.gather(
        *((first if i % 2 else second).acquire_slot("burst", 5, 30) for i in range(50))
    )
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert results.count(None) == 45
    assert await first.get("burst") == b"5"


async def test_release_gives_a_slot_back_and_never_goes_below_zero(cache: Cache) -> None:
    await cache.acquire_slot("s", 2, 30)
    await cache.acquire_slot("s", 2, 30)
    assert await cache.acquire_slot("s", 2, 30) is None
    assert await cache.release_slot("s") == 1
    assert await cache.acquire_slot("s", 2, 30) == 2
    assert await cache.release_slot("s") == 1
    assert await cache.release_slot("s") == 0
    assert not await cache.exists("s")  # an empty counter is gone
    assert await cache.release_slot("s") == 0
    assert not await cache.exists("s")  # releasing never creates the key


async def test_release_keeps_the_expiry(cache: Cache) -> None:
    await cache.acquire_slot("s", 5, 30)
    await cache.acquire_slot("s", 5, 30)
    await cache.expire("s", 100)
    assert await cache.release_slot("s") == 1
    ttl = await cache.ttl("s")
    assert ttl is not None and 30 < ttl <= 100


async def test_slot_window_is_fixed_and_expires(cache: Cache) -> None:
    assert await cache.acquire_slot("w", 1, 0.3) == 1
    assert await cache.acquire_slot("w", 1, 0.3) is None
    await asyncio.sleep(0.45)
    assert await cache.acquire_slot("w", 1, 0.3) == 1  # a new window


async def test_slot_counter_shares_its_key_with_incr(cache: Cache) -> None:
    """A counter pushed past the limit by `incr` (a forced attempt) stays full."""
    await cache.incr("s", 4, ttl=30)
    assert await cache.acquire_slot("s", 3, 30) is None
    assert await cache.release_slot("s") == 3
    assert await cache.acquire_slot("s", 3, 30) is None


@pytest.mark.parametrize("limit", [0, -1])
async def test_limit_below_one_is_rejected(cache: Cache, limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        await cache.acquire_slot("s", limit, 30)


async def test_slot_on_a_non_counter_raises_cache_error(cache: Cache) -> None:
    await cache.set("text", "abc")
    await cache.sadd("members", "x")
    for key in ("text", "members"):
        with pytest.raises(CacheUnavailableError):
            await cache.acquire_slot(key, 3, 30)
        with pytest.raises(CacheUnavailableError):
            await cache.release_slot(key)
