"""Cache status (`GET /api/v1/monitor/cache`) and clearing one namespace
(`DELETE /api/v1/monitor/cache/namespaces/{namespace}`), on the app's real cache: in-process,
or Redis when TEST_REDIS_URL is set.

docs/security-checklist.md §0 #1 and #2 (every route declares its permission; 401/403), §0 #5 and
ASVS 15.3.1
(no secret in a response: never a value, never a key name that may hold a token), §1.4 ASVS
2.2.1 (positive validation of the namespace: no glob reaches the cache), F10 (security state
survives: the namespaces holding it cannot be cleared), §1.7 ASVS 16.3 (the clearing is in the
operation log).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select

from app.core.cache import Cache, MemoryCache, RedisCache
from app.core.cache.namespaces import protected_namespaces
from app.core.config import Settings, load_settings
from app.core.modules import load_modules
from app.modules.monitor.cache import service
from app.modules.monitor.permissions import CACHE_DELETE, CACHE_LIST, SERVER_READ
from app.modules.system.operation_log.models import OperationLog
from app.modules.system.operation_log.recorder import writer_for
from tests.support.databases import TEST_REDIS_URL
from tests.support.identity import holder_headers, superuser_headers

URL = "/api/v1/monitor/cache"


def clear_url(namespace: str) -> str:
    return f"{URL}/namespaces/{namespace}"


@pytest.fixture
def cache(app: FastAPI) -> Cache:
    app_cache: Cache = app.state.cache
    return app_cache


@pytest.fixture
async def neighbour(cache: Cache) -> AsyncIterator[Cache]:
    """Another application sharing the backend under another prefix (same store / Redis)."""
    prefix = f"fa-test-{uuid.uuid4().hex[:12]}-neighbour:"
    other: Cache
    if isinstance(cache, MemoryCache):
        other = MemoryCache(prefix, store=cache.store)
    else:
        other = RedisCache(TEST_REDIS_URL, prefix=prefix)
    yield other
    await other.delete_pattern("*")
    await other.close()


@pytest.fixture
async def raw_redis() -> AsyncIterator[Redis | None]:
    """A plain client for keys outside any prefix (Redis only)."""
    if not TEST_REDIS_URL:
        yield None
        return
    client = Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


def namespaces(data: dict[str, Any]) -> dict[str, int]:
    return {item["namespace"]: item["keys"] for item in data["keys"]["namespaces"]}


async def test_cache_status_shape(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache, settings: Settings
) -> None:
    response = await client.get(URL, headers=await holder_headers(app, [CACHE_LIST]))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    redis = bool(TEST_REDIS_URL)
    assert data["backend"] == ("redis" if redis else "memory") == cache.backend
    assert data["shared"] is redis
    assert data["prefix"] == settings.cache_prefix
    assert data["keys"]["scan_limit"] == settings.cache_scan_limit
    assert data["keys"]["truncated"] is False
    # The caller's own session is in the cache, protected.
    sess = [item for item in data["keys"]["namespaces"] if item["namespace"] == "sess"]
    assert sess and sess[0]["keys"] >= 1 and sess[0]["protected"] is True
    assert data["keys"]["total"] == sum(namespaces(data).values()) + data["keys"]["other"]
    listed = {item["namespace"]: item["reason"] for item in data["protected_namespaces"]}
    assert listed == dict(protected_namespaces())
    assert {"sess", "login", "mfa", "rl", "lock", "ver"} <= set(listed)

    memory, hits = data["memory"], data["hits"]
    assert memory["used_memory"] > 0 and isinstance(memory["used_memory_human"], str)
    assert hits["hits"] >= 0 and hits["misses"] >= 0
    assert hits["hit_rate"] is None or 0.0 <= hits["hit_rate"] <= 1.0
    if redis:
        assert memory["approximate"] is False and memory["entries"] is None
        assert isinstance(memory["maxmemory"], int)
        assert hits["scope"] == "server"
        server = data["server"]
        assert isinstance(server["version"], str) and server["version"]
        assert server["uptime_seconds"] >= 0
        assert server["connected_clients"] >= 1
        assert server["role"] in ("master", "slave")
    else:
        assert memory["approximate"] is True and memory["maxmemory"] is None
        assert memory["entries"] == data["keys"]["total"]
        assert hits["scope"] == "process"
        assert data["server"] is None


async def test_cache_status_reflects_keys_written_and_lookups(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache, neighbour: Cache
) -> None:
    headers = await superuser_headers(app)
    before = (await client.get(URL, headers=headers)).json()["data"]
    assert "probe" not in namespaces(before)

    await cache.set_many({"probe:1": "x", "probe:2": "x", "probe:3:deep": "x"})
    await cache.sadd("probe-set:members", "a", "b")
    await neighbour.set_many({"probe:1": "x", "probe:9": "x"})  # not ours: not counted
    for _ in range(3):
        assert await cache.get("probe:1") == b"x"
    assert await cache.get("probe:missing") is None

    after = (await client.get(URL, headers=headers)).json()["data"]
    counts = namespaces(after)
    assert counts["probe"] == 3
    assert counts["probe-set"] == 1
    assert after["keys"]["total"] >= before["keys"]["total"] + 4
    assert after["hits"]["hits"] >= before["hits"]["hits"] + 3
    assert after["hits"]["misses"] >= before["hits"]["misses"] + 1
    if not TEST_REDIS_URL:
        assert after["memory"]["used_memory"] > before["memory"]["used_memory"]


async def test_no_value_and_no_token_in_the_response(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache
) -> None:
    headers = await superuser_headers(app)
    secret_value = f"secret-value-{secrets.token_hex(16)}"
    token = secrets.token_hex(16)
    await cache.set(f"probe:{token}", secret_value)
    await cache.set(token, secret_value)  # a bare token as a key: no namespace at all
    await cache.set(f"Tok{token}:x", secret_value)  # malformed namespace segment
    await cache.set_json(f"probe:json:{token}", {"password": secret_value})
    session_ids = [key.split(":", 1)[1] for key in await cache.scan_keys("sess:*")]
    assert session_ids

    response = await client.get(URL, headers=headers)
    assert response.status_code == 200
    text = response.text
    assert secret_value not in text
    assert token not in text
    for session_id in session_ids:
        assert session_id not in text
    data = response.json()["data"]
    assert data["keys"]["other"] >= 2
    assert namespaces(data)["probe"] == 2


async def test_counts_are_bounded_by_the_scan_limit(cache: Cache) -> None:
    await cache.set_many({f"bulk:{i}": "x" for i in range(2500)})
    partial = await service.cache_status(cache, scan_limit=1000)
    assert partial.keys.truncated is True
    assert partial.keys.scan_limit == 1000
    assert partial.keys.total < 2500
    full = await service.cache_status(cache, scan_limit=100_000)
    assert full.keys.truncated is False
    assert {n.namespace: n.keys for n in full.keys.namespaces}["bulk"] == 2500


async def test_clear_namespace_deletes_only_that_namespace(
    app: FastAPI,
    client: httpx.AsyncClient,
    cache: Cache,
    neighbour: Cache,
    raw_redis: Redis | None,
) -> None:
    headers = await holder_headers(app, [CACHE_DELETE])
    await cache.set_many({"probe:1": "x", "probe:2:deep": "x"})
    await cache.sadd("probe:set", "member")
    await cache.set_many({"prober:1": "keep", "probe": "keep", "other:1": "keep"})
    await neighbour.set_many({"probe:1": "keep", "probe:2": "keep"})
    outside = [f"probe:{uuid.uuid4().hex}", f"{cache.prefix.rstrip(':')}probe:{uuid.uuid4().hex}"]
    if raw_redis is not None:
        for key in outside:
            await raw_redis.set(key, "keep", ex=60)

    response = await client.delete(clear_url("probe"), headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"namespace": "probe", "deleted": 3}
    assert await cache.scan_keys("probe*") == ["probe", "prober:1"]
    assert await cache.get("other:1") == b"keep"
    assert await cache.scan_keys("sess:*"), "the caller's session is untouched"
    assert await neighbour.scan_keys() == ["probe:1", "probe:2"]
    if raw_redis is not None:
        try:
            assert await raw_redis.exists(*outside) == len(outside)
        finally:
            await raw_redis.delete(*outside)
    again = await client.delete(clear_url("probe"), headers=headers)
    assert again.json()["data"] == {"namespace": "probe", "deleted": 0}


@pytest.mark.parametrize(
    "namespace", ["Probe", "prob*", "pro%3Fbe", "probe%3Ax", "-probe", "a" * 65, "%5Ba-z%5D"]
)
async def test_invalid_namespace_is_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache, namespace: str
) -> None:
    await cache.set_many({"probe:1": "keep", "Probe:1": "keep"})
    response = await client.delete(clear_url(namespace), headers=await superuser_headers(app))
    assert response.status_code == 422, response.text
    body = response.json()
    assert "namespace" in body["message"]
    assert [(e["field"], e["location"]) for e in body["errors"]] == [("namespace", "path")]
    assert await cache.scan_keys("*robe:*") == ["Probe:1", "probe:1"]


# The modules protect theirs when loaded (ModuleSpec.cache_namespaces): load them first.
load_modules(load_settings("test"))
PROTECTED = sorted(protected_namespaces())


@pytest.mark.parametrize("namespace", PROTECTED)
async def test_protected_namespace_is_refused(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache, namespace: str
) -> None:
    headers = await superuser_headers(app)
    await cache.set(f"{namespace}:probe", "state", ttl=60)
    response = await client.delete(clear_url(namespace), headers=headers)
    assert response.status_code == 409, response.text
    body = response.json()
    assert namespace in body["message"] and "security state" in body["message"]
    assert body["errors"][0]["field"] == "namespace"
    assert body["errors"][0]["type"] == "protected"
    assert await cache.get(f"{namespace}:probe") == b"state"
    # The session tombstones and live sessions are still there: the caller is still signed in.
    assert (await client.get(URL, headers=headers)).status_code == 200


async def test_clearing_is_in_the_operation_log(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache
) -> None:
    headers = await superuser_headers(app)
    await cache.set("probe:1", "x")
    cleared = await client.delete(
        clear_url("probe"), headers={**headers, "X-Request-ID": "cache-clear-1"}
    )
    refused = await client.delete(
        clear_url("sess"), headers={**headers, "X-Request-ID": "cache-clear-2"}
    )
    assert (cleared.status_code, refused.status_code) == (200, 409)
    writer = writer_for(app)
    assert writer is not None
    await writer.flush()
    async with app.state.sessionmaker() as db:
        rows = (
            (
                await db.execute(
                    select(OperationLog)
                    .where(OperationLog.request_id.in_(["cache-clear-1", "cache-clear-2"]))
                    .order_by(OperationLog.request_id)
                )
            )
            .scalars()
            .all()
        )
    assert [(r.module, r.action, r.method, r.status_code, r.success) for r in rows] == [
        ("monitor", "clear_cache_namespace", "DELETE", 200, True),
        ("monitor", "clear_cache_namespace", "DELETE", 409, False),
    ]
    assert rows[0].path == clear_url("probe")


async def test_cache_routes_need_their_permissions(
    app: FastAPI, client: httpx.AsyncClient, cache: Cache
) -> None:
    await cache.set("probe:1", "keep")
    assert (await client.get(URL)).status_code == 401
    assert (await client.delete(clear_url("probe"))).status_code == 401
    server_only = await holder_headers(app, [SERVER_READ])
    assert (await client.get(URL, headers=server_only)).status_code == 403
    reader = await holder_headers(app, [CACHE_LIST])
    assert (await client.get(URL, headers=reader)).status_code == 200
    denied = await client.delete(clear_url("probe"), headers=reader)
    assert denied.status_code == 403
    assert await cache.get("probe:1") == b"keep"
