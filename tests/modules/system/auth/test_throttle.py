"""`GuessLimiter` on the app's cache (in-process, or Redis with TEST_REDIS_URL): what a guess
does when a counter is full (docs/security-checklist.md §0 #9, §1.11 ASVS 15.4.2)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import FastAPI

from app.core.cache import Cache
from app.core.errors import TooManyRequests
from app.modules.system.auth.throttle import Counter, GuessLimiter


def counter(limit: int, lockout: int | None = 60) -> Counter:
    return Counter(f"login:test:{uuid.uuid4().hex}", limit, 60, lockout=lockout)


@pytest.fixture
def cache(app: FastAPI) -> Cache:
    found: Cache = app.state.cache
    return found


async def test_a_waiting_guess_proceeds_once_the_guess_in_flight_succeeds(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache), counter(1)
    first = await limiter.reserve(limit)
    second = asyncio.create_task(limiter.reserve(limit))
    await asyncio.sleep(0.1)
    assert not second.done()  # the slot is held by a guess whose outcome is unknown
    await first.succeeded()
    reservation = await asyncio.wait_for(second, 10)
    assert reservation.holds(limit)


async def test_a_waiting_guess_is_refused_once_the_guesses_in_flight_fail(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache), counter(2, lockout=30)
    held = [await limiter.reserve(limit), await limiter.reserve(limit)]
    third = asyncio.create_task(limiter.reserve(limit))
    await asyncio.sleep(0.1)
    assert [await r.failed() for r in held] == [False, True]  # the 2nd failure locks
    with pytest.raises(TooManyRequests) as refused:
        await asyncio.wait_for(third, 10)
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 30


async def test_without_waiting_a_full_counter_refuses_at_once(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache), counter(1)
    await limiter.reserve(limit)
    with pytest.raises(TooManyRequests):
        await limiter.reserve(limit, wait=False)


async def test_the_wait_is_bounded(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache, wait=0.2), counter(1)
    await limiter.reserve(limit)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.reserve(limit)
    assert refused.value.headers["Retry-After"] == "1"


async def test_a_guess_given_back_during_a_lockout_does_not_open_it(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache), counter(2)
    first, second = await limiter.reserve(limit), await limiter.reserve(limit)
    await first.failed()
    await second.cancel()  # not evaluated: its slot comes back
    third = await limiter.reserve(limit)
    assert await third.failed() is True  # the 2nd counted failure locks
    await first.cancel()  # a late give-back (already settled) changes nothing
    with pytest.raises(TooManyRequests):
        await limiter.reserve(limit, wait=False)


async def test_reserving_several_counters_is_all_or_nothing(cache: Cache) -> None:
    limiter, roomy, full = GuessLimiter(cache), counter(5), counter(1)
    await limiter.reserve(full)
    with pytest.raises(TooManyRequests):
        await limiter.reserve(roomy, full, wait=False)
    assert await cache.get(roomy.key) is None  # the slot taken on `roomy` was given back


async def test_leaving_unsettled_gives_the_slots_back(cache: Cache) -> None:
    limiter, limit = GuessLimiter(cache), counter(1)
    with pytest.raises(RuntimeError):
        async with await limiter.reserve(limit):
            raise RuntimeError("the request failed before the guess was checked")
    async with await limiter.reserve(limit, wait=False) as attempt:
        await attempt.succeeded()
