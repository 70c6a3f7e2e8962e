"""API rate limits (issue 5 item 4) and demo mode (item 7): 429 with Retry-After, shared by
every process through the cache; a read-only demo that no header can lift."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI

from app.core.config import Settings
from app.core.ratelimit import Rate, limit
from app.core.responses import Envelope, ok
from app.main import create_app
from tests.conftest import _check_response, make_settings
from tests.support.identity import auth_headers, create_user
from tests.support.timing import LIFESPAN_TIMEOUT


def _client(app: FastAPI, ip: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 1234))
    return httpx.AsyncClient(
        transport=transport, base_url="http://t", event_hooks={"response": [_check_response]}
    )


async def _limited_app(settings: Settings, **overrides: object) -> FastAPI:
    app = create_app(
        make_settings(
            settings.database_url,
            redis_url=settings.redis_url,
            cache_prefix=settings.cache_prefix,
            rate_limit_enabled=True,
            **overrides,
        )
    )

    @app.get("/__test/tight", dependencies=[Depends(limit("2/minute"))])
    async def tight() -> Envelope[str]:
        return ok("tight")

    return app


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    app = await _limited_app(settings, rate_limit_per_ip="5/minute", rate_limit_per_user="3/minute")
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app
        await app.state.cache.delete_pattern("rl:*")


def test_rates_parse() -> None:
    assert Rate.parse("10/minute") == Rate(10, 60)
    assert Rate.parse("2/second") == Rate(2, 1)
    with pytest.raises(ValueError, match="not a rate"):
        Rate.parse("10 per minute")


async def test_per_ip_limit_answers_429_with_retry_after(limited: FastAPI) -> None:
    async with _client(limited, "192.0.2.10") as http, _client(limited, "192.0.2.11") as other:
        statuses = [(await http.get("/api/v1/auth/captcha")).status_code for _ in range(6)]
        assert statuses[:5] == [200] * 5
        assert statuses[5] == 429
        blocked = await http.get("/api/v1/auth/captcha")
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert (await other.get("/api/v1/auth/captcha")).status_code == 200  # per address
        # Health probes are never limited (load balancers poll them).
        assert (await http.get("/api/v1/health/live")).status_code == 200


async def test_per_user_and_per_route_limits(limited: FastAPI, app: FastAPI) -> None:
    async with limited.state.sessionmaker() as db, db.begin():
        user = await create_user(db, username="busy")
    headers = await auth_headers(limited, user)
    async with _client(limited, "192.0.2.20") as http:
        statuses = [
            (await http.get("/api/v1/auth/me", headers=headers)).status_code for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]
    async with _client(limited, "192.0.2.21") as http:
        route = [(await http.get("/__test/tight")).status_code for _ in range(3)]
    assert route == [200, 200, 429]


async def test_limits_are_shared_between_instances(settings: Settings) -> None:
    if not settings.redis_url:
        pytest.skip("with the in-process cache there is exactly one process")
    # Fixed windows: an hour, and not just before one ends, so the five requests share one.
    first = await _limited_app(settings, rate_limit_per_ip="4/hour")
    second = await _limited_app(settings, rate_limit_per_ip="4/hour")
    to_next_hour = 3600 - time.time() % 3600
    if to_next_hour < 10:
        await asyncio.sleep(to_next_hour + 0.5)
    async with (
        LifespanManager(first, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT),
        LifespanManager(
            second, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
        ),
    ):
        async with _client(first, "192.0.2.30") as a, _client(second, "192.0.2.30") as b:
            statuses = [
                (await client.get("/api/v1/auth/captcha")).status_code for client in (a, b, a, b, a)
            ]
        await first.state.cache.delete_pattern("rl:*")
    assert statuses == [200, 200, 200, 200, 429]


async def test_demo_mode_refuses_changes_but_not_sign_in(settings: Settings, app: FastAPI) -> None:
    """(`app` is requested so the shared tables are emptied after this test.)"""
    demo = create_app(make_settings(settings.database_url, demo_mode=True))
    async with LifespanManager(
        demo, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        async with demo.state.sessionmaker() as db, db.begin():
            admin = await create_user(db, username="demo-root", is_superuser=True)
        headers = await auth_headers(demo, admin)
        async with _client(demo) as http:
            refused = await http.post(
                "/api/v1/system/positions",
                headers={**headers, "X-HTTP-Method-Override": "GET", "X-Demo-Bypass": "1"},
                json={"name": "x", "code": "x"},
            )
            assert refused.status_code == 403
            assert refused.json()["message"].startswith("Demo mode")
            for path in ("/api/v1/system/positions/", "/API/v1/system/positions"):
                assert (await http.post(path, headers=headers, json={})).status_code in (403, 404)
            assert (await http.get("/api/v1/system/positions", headers=headers)).status_code == 200
            login = await http.post(
                "/api/v1/auth/login",
                data={"username": "demo-root", "password": "correct horse battery staple"},
            )
            assert login.status_code == 200
