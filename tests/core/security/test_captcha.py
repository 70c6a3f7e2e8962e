"""Image captchas (docs/security-checklist.md §1.1 anti-automation: ASVS 6.1.1, 6.3.1; §6 shared
state).

Runs on the in-process cache and, when ``TEST_REDIS_URL`` is set, on Redis.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.core.cache import Cache, MemoryCache, MemoryStore, RedisCache
from app.core.config import Settings
from app.core.security.captcha import ALPHABET, KEY_PREFIX, CaptchaService
from tests.conftest import make_settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CacheFactory = Callable[[str], Cache]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return make_settings("sqlite+aiosqlite:///:memory:", captcha_ttl=300)


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[CacheFactory]:
    """Caches on one backend; memory caches share a store, like processes sharing Redis."""
    store = MemoryStore()
    created: list[Cache] = []

    def make(prefix: str) -> Cache:
        cache: Cache
        if request.param == "memory":
            cache = MemoryCache(prefix, store=store)
        else:
            cache = RedisCache(REDIS_URL, prefix=prefix, socket_timeout=1.0, connect_timeout=1.0)
        created.append(cache)
        return cache

    yield make
    for cache in created:
        await cache.delete_pattern("*")
        await cache.close()


@pytest.fixture
def prefix() -> str:
    return f"fa-test-{uuid.uuid4().hex}:"


@pytest.fixture
def cache(make_cache: CacheFactory, prefix: str) -> Cache:
    return make_cache(prefix)


@pytest.fixture
def service(cache: Cache, settings: Settings) -> CaptchaService:
    return CaptchaService(cache, settings)


async def _answer(cache: Cache, captcha_id: str) -> str:
    stored = await cache.get(KEY_PREFIX + captcha_id)
    assert stored is not None
    return stored.decode()


async def test_create_returns_png_and_stores_answer(
    service: CaptchaService, cache: Cache, settings: Settings
) -> None:
    """ASVS 6.1.1: a PNG image; the answer lives only in the cache, with the configured TTL."""
    captcha_id, image = await service.create()
    assert image.startswith(PNG_SIGNATURE) and len(image) > 500
    assert len(captcha_id) >= 22
    answer = await _answer(cache, captcha_id)
    assert 4 <= len(answer) <= 5 and set(answer) <= set(ALPHABET)
    ttl = await cache.ttl(KEY_PREFIX + captcha_id)
    assert ttl is not None and settings.captcha_ttl - 5 < ttl <= settings.captcha_ttl


async def test_codes_and_ids_are_random(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: codes vary in content and length (4-5), ids never repeat."""
    created = [await service.create() for _ in range(30)]
    ids = [captcha_id for captcha_id, _ in created]
    answers = [await _answer(cache, captcha_id) for captcha_id in ids]
    assert len(set(ids)) == 30
    assert len(set(answers)) > 20
    assert {len(answer) for answer in answers} == {4, 5}


async def test_right_answer_accepted_once(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: single use: a second verify of the same id fails even with the right code."""
    captcha_id, _ = await service.create()
    answer = await _answer(cache, captcha_id)
    assert await service.verify(captcha_id, answer) is True
    assert await service.verify(captcha_id, answer) is False
    assert await cache.get(KEY_PREFIX + captcha_id) is None


async def test_wrong_answer_consumes_the_captcha(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: one guess per image; after a wrong answer the right one fails too."""
    captcha_id, _ = await service.create()
    answer = await _answer(cache, captcha_id)
    assert await service.verify(captcha_id, "ZZZZZZ") is False
    assert await service.verify(captcha_id, answer) is False


@pytest.mark.parametrize("code", [None, ""])
async def test_missing_answer_consumes_the_captcha(
    service: CaptchaService, cache: Cache, code: str | None
) -> None:
    """ASVS 6.1.1: an attempt without an answer still uses up the captcha."""
    captcha_id, _ = await service.create()
    answer = await _answer(cache, captcha_id)
    assert await service.verify(captcha_id, code) is False
    assert await service.verify(captcha_id, answer) is False


@pytest.mark.parametrize("transform", [str.lower, str.upper, lambda s: f"  {s.lower()} "])
async def test_answer_is_case_insensitive(
    service: CaptchaService, cache: Cache, transform: Callable[[str], str]
) -> None:
    """ASVS 6.1.1 usability: case and surrounding spaces do not matter."""
    captcha_id, _ = await service.create()
    assert await service.verify(captcha_id, transform(await _answer(cache, captcha_id))) is True


@pytest.mark.parametrize(
    "captcha_id", [None, "", "unknown-id-0123456789ab", "*", "a" * 65, "../../etc"]
)
async def test_unknown_or_malformed_id_rejected(
    service: CaptchaService, captcha_id: str | None
) -> None:
    """ASVS 6.1.1: no captcha, no pass."""
    assert await service.verify(captcha_id, "ABCD") is False


async def test_non_ascii_answer_rejected(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: odd input is a wrong answer, not a server error."""
    captcha_id, _ = await service.create()
    assert await service.verify(captcha_id, "ÄÖÜ✓") is False


async def test_expired_answer_rejected(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: once the cache entry expires the captcha cannot be solved."""
    await cache.set(KEY_PREFIX + "expiring-id-0123456789", "ABCD", ttl=0.05)
    await asyncio.sleep(0.15)
    assert await service.verify("expiring-id-0123456789", "ABCD") is False


async def test_works_across_processes(
    make_cache: CacheFactory, prefix: str, settings: Settings
) -> None:
    """docs/security-checklist.md §6: created by one process, verified by another; still single
    use."""
    first = CaptchaService(make_cache(prefix), settings)
    second_cache = make_cache(prefix)
    second = CaptchaService(second_cache, settings)
    captcha_id, _ = await first.create()
    answer = await _answer(second_cache, captcha_id)
    assert await second.verify(captcha_id, answer) is True
    assert await first.verify(captcha_id, answer) is False


async def test_concurrent_verifications_succeed_once(service: CaptchaService, cache: Cache) -> None:
    """ASVS 6.1.1: racing the right answer many times passes exactly once (atomic GETDEL)."""
    captcha_id, _ = await service.create()
    answer = await _answer(cache, captcha_id)
    results: list[Any] = await asyncio.gather(
        *(service.verify(captcha_id, answer) for _ in range(10))
    )
    assert results.count(True) == 1
