"""Fixtures running the cache contract tests against every available backend.

``memory`` always runs; ``redis`` runs when ``TEST_REDIS_URL`` is set (e.g.
``redis://127.0.0.1:6379/1``). Every cache gets a unique ``fa-test-<hex>:`` prefix and its keys
are deleted at teardown, so runs can share a Redis that also holds other data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

from app.core.cache import Cache, MemoryCache, MemoryStore, RedisCache
from tests.support.tcp_proxy import StalledServer, TcpProxy

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")

CacheFactory = Callable[..., Cache]


def unique_prefix(tag: str = "") -> str:
    return f"fa-test-{uuid.uuid4().hex}{tag}:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest_asyncio.fixture
async def make_cache(backend: str) -> AsyncIterator[CacheFactory]:
    """Factory for caches on the test's backend; memory caches share one store, like Redis."""
    store = MemoryStore()
    created: list[Cache] = []

    def make(prefix: str | None = None) -> Cache:
        prefix = prefix or unique_prefix()
        cache: Cache
        if backend == "memory":
            cache = MemoryCache(prefix, store=store)
        else:
            cache = RedisCache(REDIS_URL, prefix=prefix, socket_timeout=1.0, connect_timeout=1.0)
        created.append(cache)
        return cache

    yield make
    for cache in created:
        await cache.delete_pattern("*")
        await cache.close()


@pytest_asyncio.fixture
async def cache(make_cache: CacheFactory) -> Cache:
    return make_cache()


@pytest_asyncio.fixture
async def stalled_server() -> AsyncIterator[StalledServer]:
    server = StalledServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def redis_proxy() -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of TEST_REDIS_URL and the URL that goes through it."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    parts = urlsplit(REDIS_URL)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit(parts._replace(netloc=netloc))
    await proxy.stop()
