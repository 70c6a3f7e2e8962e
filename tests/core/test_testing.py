"""The test-only routes (`ENABLE_TEST_ROUTES`, app/core/testing.py): off unless enabled, never in
production, and `/__test/slow` does what the fault-injection tests rely on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.config import ConfigError, Settings, load_settings
from app.core.testing import MAX_SLOW_MS
from app.main import create_app
from tests.conftest import make_settings
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT

STRONG = "kP3-vZ8qL1xN7wR2tY5uB9mC4dF6gH0jS_eA"


def test_production_refuses_test_routes() -> None:
    with pytest.raises(ConfigError, match="ENABLE_TEST_ROUTES"):
        load_settings("prod", secret_key=STRONG, enable_test_routes=True)
    assert load_settings("prod", secret_key=STRONG).enable_test_routes is False


async def test_test_routes_are_absent_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__test/slow", params={"ms": 0})).status_code == 404


@shared_fixture("the app with test routes", scope="module")
async def test_routes_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(settings.database_url, enable_test_routes=True))
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app


@pytest.fixture
async def http(test_routes_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=test_routes_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=10) as client:
        yield client


async def test_slow_sleeps_without_blocking_and_holds_a_connection(
    test_routes_app: FastAPI, http: httpx.AsyncClient
) -> None:
    pool = test_routes_app.state.engine.pool
    baseline = pool.checkedout()
    start = time.monotonic()
    slow = asyncio.create_task(http.get("/__test/slow", params={"ms": 1500, "db": "true"}))
    while pool.checkedout() == baseline and time.monotonic() - start < 1.2:
        await asyncio.sleep(0.01)
    held = pool.checkedout()
    live = await http.get("/api/v1/health/live")  # answered while the slow request sleeps
    assert not slow.done() and live.status_code == 200
    response = await slow
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"slept_ms": 1500, "db": True}
    assert time.monotonic() - start >= 1.5
    assert held == baseline + 1
    assert pool.checkedout() == baseline


async def test_slow_is_bounded_public_and_undocumented(http: httpx.AsyncClient) -> None:
    assert (await http.get("/__test/slow", params={"ms": 0})).json()["data"] == {
        "slept_ms": 0,
        "db": False,
    }
    for ms in (-1, MAX_SLOW_MS + 1):
        assert (await http.get("/__test/slow", params={"ms": ms})).status_code == 422
    schema = (await http.get("/api/v1/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/__test")]
