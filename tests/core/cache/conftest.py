"""Fixtures running the cache contract tests against every available backend.

``memory`` always runs; ``redis`` runs when ``TEST_REDIS_URL`` is set (e.g.
``redis://127.0.0.1:6379/1``). Every cache gets a unique ``fa-test-<hex>:`` prefix and its keys
are deleted at teardown, so runs can share a Redis that also holds other data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

from app.core.cache import Cache, MemoryCache, MemoryStore, RedisCache

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


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class StalledServer:
    """Accepts TCP connections and reads forever without answering: a hung Redis."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
        self._writers.discard(writer)
        await _close_writer(writer)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            await _close_writer(writer)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `stop()` simulates an outage, `start()` heals."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        # Reuses the first port on restart so clients reconnect to the same address.
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        await _close_writer(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            await _close_writer(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def stop(self) -> None:
        """Stop listening and cut every open connection, like a Redis going down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


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
