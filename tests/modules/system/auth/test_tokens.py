"""Access tokens through HTTP, refresh rotation with reuse detection, logout, session limits.

docs/security-checklist.md §0 #6 (ASVS 9.1.x-9.2.3), §0 #7 (refresh rotation), §0 #8 (ASVS 7.4.1).
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import jwt
from fastapi import FastAPI

from app.core.config import Settings
from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import bearer, login


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _tokens(client: httpx.AsyncClient, username: str = "alice") -> dict[str, str]:
    response = await login(client, username)
    assert response.status_code == 200, response.json()
    body: dict[str, str] = response.json()
    return body


async def _me(client: httpx.AsyncClient, access: str) -> int:
    return (await client.get("/api/v1/auth/me", headers=bearer(access))).status_code


async def test_forged_tokens_are_rejected_through_http(
    client: httpx.AsyncClient, alice: User, settings: Settings
) -> None:
    good = (await _tokens(client))["access_token"]
    header, payload, _signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "stripped signature": f"{header}.{payload}.",
        "tampered payload": f"{header}.{_b64({**claims, 'sub': '999'})}.{_signature}",
        "other key": jwt.encode(claims, "x" * 64, algorithm="HS256", headers={"kid": "k1"}),
        "jku header": jwt.encode(
            claims, "x" * 64, algorithm="HS256", headers={"kid": "k1", "jku": "http://evil/"}
        ),
        "garbage": "not-a-token",
    }
    for name, token in forged.items():
        response = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer"
    assert await _me(client, good) == 200


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient, alice: User) -> None:
    """ASVS 9.2.2: token types are not interchangeable."""
    tokens = await _tokens(client)
    assert await _me(client, tokens["refresh_token"]) == 401
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert response.status_code in (401, 422)


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    client: httpx.AsyncClient, alice: User
) -> None:
    first = await _tokens(client)
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    r2 = second.json()
    assert r2["refresh_token"] != first["refresh_token"]
    assert await _me(client, r2["access_token"]) == 200
    third = await client.post("/api/v1/auth/refresh", json={"refresh_token": r2["refresh_token"]})
    assert third.status_code == 200
    r3 = third.json()
    # Replaying a spent token (two generations old): refused, and the session is over.
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": r3["refresh_token"]})
    ).status_code == 401
    assert await _me(client, r3["access_token"]) == 401


async def test_concurrent_refreshes_yield_at_most_one_new_token(
    client: httpx.AsyncClient, alice: User
) -> None:
    tokens = await _tokens(client)
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(5)
        )
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) <= 1
    assert all(r.status_code in (200, 401, 503) for r in responses)


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401


async def test_logout_ends_access_and_refresh(client: httpx.AsyncClient, alice: User) -> None:
    tokens = await _tokens(client)
    response = await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    assert await _me(client, tokens["access_token"]) == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_revocation_survives_a_cache_flush(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    """docs/security-checklist.md F10: the database is the source of truth for revoked sessions."""
    tokens = await _tokens(client)
    await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    await app.state.cache.delete_pattern("*")
    assert await _me(client, tokens["access_token"]) == 401


async def test_each_login_is_a_new_session_and_the_limit_ends_the_oldest(
    client: httpx.AsyncClient, alice: User, settings: Settings
) -> None:
    """ASVS 7.1.2 / 7.2.4: new tokens per login; beyond the limit the oldest session ends."""
    first = await _tokens(client)
    others = [await _tokens(client) for _ in range(settings.max_sessions_per_user)]
    assert len({t["access_token"] for t in [first, *others]}) == len(others) + 1
    assert await _me(client, first["access_token"]) == 401
    assert await _me(client, others[-1]["access_token"]) == 200
    listed = (
        await client.get("/api/v1/auth/me/sessions", headers=bearer(others[-1]["access_token"]))
    ).json()
    assert len(listed["data"]) == settings.max_sessions_per_user
    assert sum(1 for s in listed["data"] if s["current"]) == 1


async def test_own_session_can_be_revoked_but_not_anyone_elses(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    from tests.support.identity import create_user

    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="bob")
    a1 = await _tokens(client)
    a2 = await _tokens(client)
    bob = await _tokens(client, "bob")
    sessions = (
        await client.get("/api/v1/auth/me/sessions", headers=bearer(a1["access_token"]))
    ).json()["data"]
    other = next(s["session_id"] for s in sessions if not s["current"])
    bob_session = (
        await client.get("/api/v1/auth/me/sessions", headers=bearer(bob["access_token"]))
    ).json()["data"][0]["session_id"]
    refused = await client.delete(
        f"/api/v1/auth/me/sessions/{bob_session}", headers=bearer(a1["access_token"])
    )
    assert refused.status_code == 404
    done = await client.delete(
        f"/api/v1/auth/me/sessions/{other}", headers=bearer(a1["access_token"])
    )
    assert done.status_code == 204
    assert await _me(client, a2["access_token"]) == 401
    assert await _me(client, bob["access_token"]) == 200
