"""The login log: every attempt and its reason, lockouts, MFA failures, logouts, refresh-token
reuse; client details parsed; read, filter and clear with permissions (issue 4 item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.modules.system.login_log.models import LoginLog
from app.modules.system.login_log.recorder import writer_for
from tests.modules.system.auth.conftest import solve_captcha
from tests.support.identity import DEFAULT_PASSWORD, auth_headers, create_role, create_user

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


async def _events(app: FastAPI) -> list[LoginLog]:
    writer = writer_for(app)
    assert writer is not None
    await writer.flush()
    async with app.state.sessionmaker() as db:
        return list((await db.execute(select(LoginLog).order_by(LoginLog.id))).scalars())


async def _login(
    client: httpx.AsyncClient, username: str, password: str, **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login",
        data={"username": username, "password": password, **extra},
        headers={"User-Agent": FIREFOX},
    )


async def test_attempts_outcomes_and_client_details(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        alice = await create_user(db, username="alice")
    ok = await _login(client, "alice", DEFAULT_PASSWORD)
    assert ok.status_code == 200
    await _login(client, "alice", "wrong password!")
    await _login(client, "ghost", "wrong password!")
    token = ok.json()["access_token"]
    await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    events = await _events(app)
    summary = [(e.event, e.success, e.reason, e.username) for e in events]
    assert summary == [
        ("login", True, None, "alice"),
        ("login", False, "bad_credentials", "alice"),
        ("login", False, "bad_credentials", None),  # not an account: no name (issue 13a)
        ("logout", True, None, "alice"),
    ]
    first = events[0]
    assert first.user_id == alice.id
    assert first.ip == "127.0.0.1"
    assert first.browser is not None and first.browser.startswith("Firefox 128")
    assert first.os == "Linux"
    assert first.device == "pc"
    assert DEFAULT_PASSWORD not in str([vars(e) for e in events])


async def test_lockout_and_refresh_reuse_are_security_events(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="bob")
    tokens = (await _login(client, "bob", DEFAULT_PASSWORD)).json()
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    for _ in range(settings.login_max_failures):
        await _login(client, "bob", "wrong password!", **await solve_captcha(client, app))
    await _login(client, "bob", DEFAULT_PASSWORD, **await solve_captcha(client, app))
    events = [(e.event, e.reason) for e in await _events(app)]
    assert ("refresh_reuse", "session_revoked") in events
    assert ("lockout", None) in events
    assert events[-1] == ("login", "throttled")


async def test_list_filter_and_clear_need_their_permissions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        reader_role = await create_role(db, permissions=["system:login-log:list"])
        reader = await create_user(db, username="reader", roles=[reader_role])
        await create_user(db, username="carol")
    await _login(client, "carol", "nope nope nope")
    await _login(client, "carol", DEFAULT_PASSWORD)
    await _events(app)
    headers = await auth_headers(app, reader)
    failed = (
        await client.get(
            "/api/v1/system/login-logs",
            headers=headers,
            params={"username": "carol", "success": "false"},
        )
    ).json()["data"]
    assert failed["total"] == 1
    assert failed["items"][0]["reason"] == "bad_credentials"
    assert (await client.delete("/api/v1/system/login-logs", headers=headers)).status_code == 403
    async with app.state.sessionmaker() as db, db.begin():
        admin = await create_user(db, username="root", is_superuser=True)
    cleared = await client.delete(
        "/api/v1/system/login-logs", headers=await auth_headers(app, admin)
    )
    assert cleared.json()["data"]["deleted"] == 2


async def test_export_needs_its_permission_and_honours_filters(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["system:login-log:list"])
        lister = await create_user(db, username="lister", roles=[role])
        admin = await create_user(db, username="root", is_superuser=True)
        await create_user(db, username="erin")
    await _login(client, "erin", "nope nope nope")
    await _login(client, "erin", DEFAULT_PASSWORD)
    await _events(app)
    denied = await client.get(
        "/api/v1/system/login-logs/export", headers=await auth_headers(app, lister)
    )
    assert denied.status_code == 403
    response = await client.get(
        "/api/v1/system/login-logs/export",
        headers=await auth_headers(app, admin),
        params={"format": "csv", "username": "erin"},
    )
    assert response.status_code == 200
    lines = response.text.strip().splitlines()
    assert lines[0].lstrip("\ufeff").startswith("ID,Time,User,Event")
    assert len(lines) == 3
    assert all(",erin,login," in line for line in lines[1:])


async def test_list_pages_by_cursor_with_filters(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The login log grows without bound: deep pages by `cursor`, filters kept, a bad cursor
    is a 422 naming `cursor` (docs/security-checklist.md §0 #11, #12; API4)."""
    base = datetime(2026, 3, 1, 8, 0, 0, 500000, tzinfo=UTC)
    rows = [
        LoginLog(
            username=f"seed{n % 2}",
            event="login",
            success=n % 4 != 0,
            reason=None if n % 4 else "bad_credentials",
            created_at=base + timedelta(seconds=n % 2),  # two distinct times: ties
        )
        for n in range(17)
    ]
    async with app.state.sessionmaker() as db, db.begin():
        db.add_all(rows)
        admin = await create_user(db, username="root", is_superuser=True)
    headers = await auth_headers(app, admin)
    newest_first = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    cases: list[tuple[dict[str, str | int], list[int]]] = [
        ({"username": "seed0"}, [r.id for r in newest_first if r.username == "seed0"]),
        ({"success": "false"}, [r.id for r in newest_first if not r.success]),
        ({"event": "login"}, [r.id for r in newest_first]),
    ]
    for params, expected in cases:
        seen: list[int] = []
        cursor = None
        for _ in range(20):
            query: dict[str, str | int] = {**params, "page_size": 2}
            if cursor:
                query["cursor"] = cursor
            response = await client.get("/api/v1/system/login-logs", headers=headers, params=query)
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert (data["total"], data["total_exact"]) == (len(expected), True)
            seen += [item["id"] for item in data["items"]]
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, params
    bad = await client.get(
        "/api/v1/system/login-logs", headers=headers, params={"cursor": "bm90IGpzb24"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"
