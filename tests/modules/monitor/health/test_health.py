"""Liveness and readiness, including outages of the real database and cache.

An outage is simulated with a TCP proxy between the app and the real server: `stop()` makes
the server unreachable, `freeze()` makes it stall; the app must answer 503 within 3 s, name
what is down, and recover by itself when the server is back (docs/security-checklist.md
§0 #16, F1, F4, F8).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.support.databases import TEST_REDIS_URL
from tests.support.private_services import PrivateRedis, private_redis_fixture  # noqa: F401
from tests.support.tcp_proxy import TcpProxy
from tests.support.timing import LIFESPAN_TIMEOUT

BUDGET_SECONDS = 3.0


async def test_live_touches_nothing_and_says_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health/live")
    assert response.status_code == 200
    assert response.json()["data"] == {"status": "alive"}


async def test_ready_reports_each_component(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/api/v1/health/ready")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "ready"
    assert data["database"]["status"] == "up"
    assert data["cache"]["status"] == "up"


async def _proxied_app(
    settings: Settings, proxy: TcpProxy, which: Literal["database", "cache"]
) -> FastAPI:
    database_url, redis_url = settings.database_url, settings.redis_url
    if which == "database":
        url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        database_url = url.render_as_string(hide_password=False)
    else:
        db = make_url(redis_url).database or 0
        redis_url = f"redis://127.0.0.1:{proxy.port}/{db}"
    return create_app(make_settings(database_url, redis_url=redis_url))


@pytest.fixture
async def outage(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient]]:
    which: Literal["database", "cache"] = request.param
    if which == "database" and settings.db_dialect == "sqlite":
        pytest.skip("SQLite is a file; there is no server to stop")
    if which == "cache" and not TEST_REDIS_URL:
        pytest.skip("the in-process cache cannot be stopped; set TEST_REDIS_URL")
    target = make_url(settings.database_url if which == "database" else settings.redis_url)
    default_port = {"postgresql": 5432, "mysql": 3306}.get(target.get_backend_name(), 6379)
    proxy = await TcpProxy(target.host or "127.0.0.1", target.port or default_port).start()
    app = await _proxied_app(settings, proxy, which)
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=10) as http:
            yield proxy, http
    await proxy.stop()


async def _timed_ready(http: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = await asyncio.wait_for(http.get("/api/v1/health/ready"), 10)
    return response, time.monotonic() - start


async def _wait_until_ready(http: httpx.AsyncClient, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await http.get("/api/v1/health/ready")).status_code == 200:
            return
        await asyncio.sleep(0.2)
    pytest.fail("did not recover without a restart")


@pytest.mark.parametrize("outage", ["database", "cache"], indirect=True)
@pytest.mark.parametrize("fault", ["stopped", "frozen"])
async def test_outage_answers_503_within_budget_and_recovers(
    outage: tuple[TcpProxy, httpx.AsyncClient], fault: str, request: pytest.FixtureRequest
) -> None:
    proxy, http = outage
    which = request.node.callspec.params["outage"]
    assert (await http.get("/api/v1/health/ready")).status_code == 200

    if fault == "stopped":
        await proxy.stop()
    else:
        proxy.freeze()
    response, elapsed = await _timed_ready(http)
    assert response.status_code == 503
    assert elapsed < BUDGET_SECONDS, f"took {elapsed:.2f}s"
    body = response.json()
    assert body["message"] == f"Not ready: {which} down"
    assert [e["field"] for e in body["errors"]] == [which]
    assert response.headers["retry-after"]
    live = await http.get("/api/v1/health/live")
    assert live.status_code == 200  # liveness never depends on the outage

    await proxy.resume()
    await _wait_until_ready(http)


async def test_real_redis_stopped_answers_503_and_recovers_after_restart(
    private_redis: PrivateRedis, settings: Settings
) -> None:
    """docs/security-checklist.md §0 #16: the real server process is killed, then started again."""
    app = create_app(
        make_settings(settings.database_url, redis_url=f"redis://127.0.0.1:{private_redis.port}/0")
    )
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=10) as http:
            assert (await http.get("/api/v1/health/ready")).status_code == 200
            private_redis.stop()
            response, elapsed = await _timed_ready(http)
            assert response.status_code == 503
            assert elapsed < BUDGET_SECONDS
            assert response.json()["errors"][0]["field"] == "cache"
            private_redis.start()
            await _wait_until_ready(http)
