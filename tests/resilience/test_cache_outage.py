"""Redis stalled or stopped under load, with a private redis-server and the app as a real
process (docs/security-checklist.md §0 #16, §5.3 F8 and F9; the per-use policy in
docs/resilience.md).

The policy under test: every cache call gives up after REDIS_SOCKET_TIMEOUT (1 s); sessions,
login throttling and captcha fail closed (503 `cache`); the API rate limits fail open; the
dictionary and parameter caches fall back to the database; nothing waits for Redis to return,
and everything works again once it has, without restarting the app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.cache import Cache, create_cache
from app.core.database import create_engine, create_sessionmaker
from app.modules.system.dict import cache as dict_cache
from app.modules.system.param.reader import ParamReader
from tests.conftest import make_settings
from tests.resilience.conftest import StartApp
from tests.resilience.harness import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    BUDGET,
    CLIENT_TIMEOUT,
    OUTAGE_MESSAGE,
    RECOVERY,
    Load,
    admin_headers,
    assert_all,
    assert_fails_cleanly,
    assert_recovers,
    window,
)
from tests.support import fault_stats
from tests.support.databases import ONCE_PER_CI
from tests.support.private_services import PrivateRedis

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

PAUSE_MS = 5000  # CLIENT PAUSE <ms> ALL
DOWN_MS = 3000  # how long the killed server stays down before it is started again
SOCKET_TIMEOUT = 1.0  # REDIS_SOCKET_TIMEOUT (the default)
USERS = "/api/v1/system/users?page_size=5"
LOGIN = {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}


async def _timed(request: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response: httpx.Response = await request
    return response, time.monotonic() - start


def _is_cache_503(response: httpx.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 503
        and body["message"] == f"{OUTAGE_MESSAGE}: cache"
        and int(response.headers["retry-after"]) > 0
    )


@pytest.mark.parametrize("fault", ["stalled", "stopped"])
async def test_f8_f9_redis_stalled_or_stopped_follows_the_policy_and_recovers(
    fault: str, private_redis: PrivateRedis, sqlite_app_database: str, start_app: StartApp
) -> None:
    """F9 (`CLIENT PAUSE 5000 ALL`) and F8 (redis-server killed, started again empty 3 s later).

    Under load: authenticated requests 503 `cache` (sessions fail closed); a public route behind
    the per-IP rate limit still 200 (the limiter fails open, and says so in the log); readiness
    503 naming the cache; liveness 200; login and captcha 503 `cache`. Nothing waits for Redis:
    every answer comes within B. Afterwards the same token works
    again (after F8 the session is reloaded from the database) and login succeeds.
    """
    app = await start_app(
        sqlite_app_database,
        private_redis.url,
        ENABLE_TEST_ROUTES="true",
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_PER_IP="100000/minute",
        RATE_LIMIT_PER_USER="100000/minute",
    )
    headers = await admin_headers(app)
    targets = {
        "users": (USERS, headers),
        "open": ("/__test/slow?ms=0", {}),  # public, but behind the per-IP rate limit
        "live": ("/api/v1/health/live", {}),
        "ready": ("/api/v1/health/ready", {}),
    }
    async with (
        httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http,
        Load(app.base, targets) as load,
    ):
        await asyncio.sleep(1.0)
        issued = load.now()
        if fault == "stalled":
            await asyncio.to_thread(private_redis.pause, PAUSE_MS)
        else:
            await asyncio.to_thread(private_redis.stop)
        began = load.now()
        (login, login_s), (captcha, captcha_s) = await asyncio.gather(
            _timed(http.post("/api/v1/auth/login", data=LOGIN)),
            _timed(http.get("/api/v1/auth/captcha")),
        )
        outage = (PAUSE_MS if fault == "stalled" else DOWN_MS) / 1000
        await asyncio.sleep(max(0.0, issued + outage - load.now()))
        ending = load.now()  # the pause ends by itself about now; a stopped server restarts
        if fault == "stopped":
            await asyncio.to_thread(private_redis.start)
        back = load.now()
        await load.first_success("users", after=back, within=RECOVERY + 3)
        await asyncio.sleep(0.5)
        relogin = await http.post("/api/v1/auth/login", data=LOGIN)
    samples = load.samples
    fault_stats.record_samples(
        f"F{'9' if fault == 'stalled' else '8'} Redis {fault} mid-load", samples
    )

    # P1-P3: answers, no 500, 503s with the envelope and Retry-After naming the cache, within B.
    assert_fails_cleanly(samples, budget=BUDGET, component="cache")
    assert_all(load.of("live"), 200, "liveness must not depend on Redis")
    assert_all(load.of("open"), 200, "the API rate limit must fail open")
    assert "rate_limit_skipped" in app.log()
    for target in ("users", "ready"):
        during = window(samples, target, began, ending)
        assert_all(during, 503, f"{target} while Redis was {fault}")
        assert_recovers(samples, target, after=back)
    ready = window(samples, "ready", began, ending)[0].body
    assert ready["message"] == "Not ready: cache down"

    # Login throttling and captcha are security state: fail closed, without waiting it out.
    assert _is_cache_503(login), login.text
    # Four cache calls, but after the first times out the others fail at once (fail-fast
    # window in RedisCache), so login answers within the budget too.
    assert login_s <= BUDGET, login_s
    assert _is_cache_503(captcha), captcha.text
    assert captcha_s <= BUDGET, captcha_s
    assert relogin.status_code == 200, relogin.text


@pytest.fixture
async def stalled_cache(private_redis: PrivateRedis) -> AsyncIterator[tuple[Cache, PrivateRedis]]:
    cache = create_cache(
        private_redis.url,
        prefix=f"fa-fault-{uuid.uuid4().hex[:8]}:",
        socket_timeout=SOCKET_TIMEOUT,
        connect_timeout=SOCKET_TIMEOUT,
    )
    try:
        yield cache, private_redis
    finally:
        await cache.close()  # the server itself is killed by its fixture, paused or not


async def test_f9_dictionary_and_parameter_reads_fall_back_to_the_database(
    stalled_cache: tuple[Cache, PrivateRedis], sqlite_app_database: str
) -> None:
    """F9, the pure caches: while Redis stalls, the dictionary read and the parameter reader
    answer from the database after one socket timeout, with the same values as when warm.

    (Over HTTP the public dictionary read needs a signed-in caller, and sessions fail closed
    first, so this policy is proven at the service level.)
    """
    cache, redis_server = stalled_cache
    engine = create_engine(make_settings(sqlite_app_database, redis_url=""))
    sessionmaker = create_sessionmaker(engine)
    params = ParamReader(cache, sessionmaker)
    try:
        async with sessionmaker() as db:
            warm_items = await dict_cache.active_items(db, cache, "sys_status")
        warm_params = dict(await params.values())
        assert warm_items and warm_params["login.max_failures"] == "5"
        assert await cache.exists(dict_cache.items_key("sys_status"))  # really cached

        await asyncio.to_thread(redis_server.pause, PAUSE_MS)
        start = time.monotonic()
        async with sessionmaker() as db:
            items = await dict_cache.active_items(db, cache, "sys_status")
        items_s = time.monotonic() - start
        params.clear()  # no in-process memo: the reader must go to the cache, then the DB
        start = time.monotonic()
        values = dict(await params.values())
        params_s = time.monotonic() - start
    finally:
        await engine.dispose()
    assert items == warm_items
    assert values == warm_params
    assert items_s <= BUDGET and params_s <= BUDGET, (items_s, params_s)
