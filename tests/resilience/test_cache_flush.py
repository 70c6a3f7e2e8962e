"""Redis data loss: `FLUSHALL` on a private redis-server under a running app
(docs/security-checklist.md §0 #16,
§5.3 F10; docs/resilience.md "Redis data loss").

The database is the source of truth for security state; Redis only caches it. So after a flush a
revoked refresh family stays revoked, a logged-out access token stays rejected and a disabled
user stays locked out, while a live session keeps working and the caches fill again. What is
held only in Redis (login failure counters and lockouts among it) is lost: that is documented,
and pinned here so the documentation stays true.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import redis

from app.core.database import create_engine, create_sessionmaker
from app.modules.system.auth import authz, sessions
from app.modules.system.dict import cache as dict_cache
from tests.conftest import make_settings
from tests.resilience.conftest import StartApp
from tests.resilience.harness import CLIENT_TIMEOUT, admin_headers
from tests.support import fault_stats
from tests.support.databases import ONCE_PER_CI
from tests.support.identity import DEFAULT_PASSWORD, create_user
from tests.support.private_services import PrivateRedis

pytestmark = [pytest.mark.fault, ONCE_PER_CI]

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"
USERS = "/api/v1/system/users?page_size=5"
DICT = "/api/v1/system/dicts/sys_status"
MAX_FAILURES = 5  # the parameter `login.max_failures` of the initial data
NAMES = ("f10rotator", "f10leaver", "f10victim", "f10throttled")


async def _create_users(database_url: str) -> dict[str, int]:
    engine = create_engine(make_settings(database_url, redis_url=""))
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            return {name: (await create_user(db, username=name)).id for name in NAMES}
    finally:
        await engine.dispose()


def _session_id(access_token: str) -> str:
    """The `sid` claim of an access token (read, not verified: the app verifies it)."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sid"])


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_f10_redis_flush_keeps_security_state_and_caches_repopulate(
    private_redis: PrivateRedis,
    sqlite_app_database: str,
    start_app: StartApp,
) -> None:
    """F10: revoke a refresh family (reuse), log out, disable a user, lock an account out;
    `FLUSHALL`; then every revoked token is still rejected (the session rows decide, and the
    tombstones are written back), the disabled user still cannot sign in or use an old token,
    a live session still works and the caches (session, authorization versions, dictionary)
    are filled again. The (account, IP) lockout, held only in Redis, is gone: documented."""
    ids = await _create_users(sqlite_app_database)
    app = await start_app(
        sqlite_app_database,
        private_redis.url,
        RATE_LIMIT_ENABLED="false",
        SCHEDULER_ENABLED="false",
    )
    prefix = app.env["CACHE_PREFIX"]
    store = redis.Redis(host="127.0.0.1", port=private_redis.port, socket_timeout=5)
    statuses: list[int] = []
    try:
        await _scenario(app.base, prefix, store, ids, statuses, await admin_headers(app))
    finally:
        store.close()
        fault_stats.record(
            "F10 Redis FLUSHALL",
            requests=len(statuses),
            server_errors=sum(1 for s in statuses if s >= 500),
        )
    assert not [s for s in statuses if s >= 500], statuses


async def _scenario(
    base: str,
    prefix: str,
    store: redis.Redis,
    ids: dict[str, int],
    statuses: list[int],
    admin: dict[str, str],
) -> None:
    async def seen(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    async with httpx.AsyncClient(
        base_url=base, timeout=CLIENT_TIMEOUT, event_hooks={"response": [seen]}
    ) as http:

        async def login(name: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
            return await http.post(LOGIN, data={"username": name, "password": password})

        async def signed_in(name: str) -> dict[str, str]:
            response = await login(name)
            assert response.status_code == 200, response.text
            tokens: dict[str, str] = response.json()
            return tokens

        # A refresh family revoked by reuse detection: R1 -> R2, then R1 again ends it.
        first = await signed_in("f10rotator")
        rotated = await http.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        replay = await http.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401, replay.text
        assert (await http.get(ME, headers=_bearer(second))).status_code == 401

        # A logged-out access token.
        leaver = await signed_in("f10leaver")
        assert (await http.post("/api/v1/auth/logout", headers=_bearer(leaver))).status_code == 204
        assert (await http.get(ME, headers=_bearer(leaver))).status_code == 401

        # A disabled user, with a token from before.
        victim = await signed_in("f10victim")
        disable = await http.patch(
            f"/api/v1/system/users/{ids['f10victim']}", json={"status": "disabled"}, headers=admin
        )
        assert disable.status_code == 200, disable.text
        assert (await http.get(ME, headers=_bearer(victim))).status_code == 401
        assert (await login("f10victim")).status_code == 401

        # An (account, IP) pair locked out by failed logins: even the right password gets 429.
        for _ in range(MAX_FAILURES):
            assert (await login("f10throttled", "wrong password")).status_code == 401
        assert (await login("f10throttled")).status_code == 429

        # Warm caches, then lose everything.
        assert (await http.get(DICT, headers=admin)).status_code == 200
        assert await asyncio.to_thread(store.exists, prefix + dict_cache.items_key("sys_status"))
        await asyncio.to_thread(store.flushall)
        assert await asyncio.to_thread(store.dbsize) == 0

        # Security state survives: the database decides.
        for tokens in (first, second):
            assert (await http.get(ME, headers=_bearer(tokens))).status_code == 401
        family = await http.post(REFRESH, json={"refresh_token": second["refresh_token"]})
        assert family.status_code == 401, family.text
        assert (await http.get(ME, headers=_bearer(leaver))).status_code == 401
        assert (await http.get(ME, headers=_bearer(victim))).status_code == 401
        assert (await login("f10victim")).status_code == 401
        # ... and is cached again as revoked.
        for tokens in (second, leaver, victim):
            key = prefix + sessions.session_key(_session_id(tokens["access_token"]))
            assert await asyncio.to_thread(store.get, key) == sessions.REVOKED, key

        # A live session keeps working; the caches fill again.
        assert (await http.get(USERS, headers=admin)).status_code == 200
        assert (await http.get(DICT, headers=admin)).status_code == 200
        admin_session = prefix + sessions.session_key(
            _session_id(admin["Authorization"].removeprefix("Bearer "))
        )
        for key in (
            admin_session,
            prefix + authz.version_keys(0)[0],  # the global authorization version
            prefix + dict_cache.items_key("sys_status"),
        ):
            assert await asyncio.to_thread(store.exists, key), f"{key} not cached again"
        assert await asyncio.to_thread(store.keys, prefix + "authz:*"), "no principal cached"

        # Held only in Redis, so lost (docs/resilience.md): the lockout is lifted by the flush.
        assert (await login("f10throttled")).status_code == 200
