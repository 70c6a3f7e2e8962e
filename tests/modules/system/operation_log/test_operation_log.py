"""The operation (audit) log: what is recorded, secrets masked, before/after of changes,
no database round trip on the request path, nothing lost on a clean shutdown.

docs/security-checklist.md §1.5 / ASVS 16.x (security logging), 16.2.5 (no secrets in logs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.operation_log.recorder import writer_for
from tests.conftest import make_settings
from tests.support.identity import DEFAULT_PASSWORD, auth_headers, create_role, create_user
from tests.support.probe import create_probe_app
from tests.support.queries import counting, settle
from tests.support.timing import LIFESPAN_TIMEOUT

SECRET_PASSWORD = "tangerine velvet otter 77"


async def _rows(app: FastAPI) -> list[OperationLog]:
    writer = writer_for(app)
    assert writer is not None
    await writer.flush()
    async with app.state.sessionmaker() as db:
        return list((await db.execute(select(OperationLog).order_by(OperationLog.id))).scalars())


def _dump(rows: list[Any]) -> str:
    return json.dumps(
        [{c: str(getattr(r, c)) for c in r.__table__.columns.keys()} for r in rows]  # noqa: SIM118
    )


async def _admin(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        admin = await create_user(db, username="root", is_superuser=True)
    return await auth_headers(app, admin)


async def test_mutations_are_recorded_with_masked_bodies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _admin(app)
    response = await client.post(
        "/api/v1/system/users",
        headers={**headers, "X-Request-ID": "audit-create-1"},
        json={"username": "newbie", "name": "New", "password": SECRET_PASSWORD},
    )
    assert response.status_code == 201
    rows = [r for r in await _rows(app) if r.request_id == "audit-create-1"]
    assert len(rows) == 1
    row = rows[0]
    assert (row.method, row.route, row.status_code, row.success) == (
        "POST",
        "/api/v1/system/users",
        201,
        True,
    )
    assert row.module == "system"
    assert row.action == "create_user"
    assert row.username == "root"
    assert isinstance(row.body, dict)
    assert row.body["username"] == "newbie"
    assert row.body["password"] == "***"
    assert row.duration_ms >= 0
    assert SECRET_PASSWORD not in _dump(rows)


async def test_reads_are_not_recorded_but_denials_and_exports_are(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _admin(app)
    await client.get("/api/v1/system/users", headers={**headers, "X-Request-ID": "plain-read"})
    await client.get("/api/v1/system/users", headers={"X-Request-ID": "anon-read"})
    async with app.state.sessionmaker() as db, db.begin():
        weak = await create_user(db, username="weak")
    weak_headers = await auth_headers(app, weak)
    await client.get("/api/v1/system/users", headers={**weak_headers, "X-Request-ID": "denied"})
    await client.get("/api/v1/system/users/export", headers={**headers, "X-Request-ID": "export"})
    recorded = {r.request_id: r for r in await _rows(app)}
    assert "plain-read" not in recorded
    assert recorded["anon-read"].status_code == 401
    assert recorded["denied"].status_code == 403
    assert recorded["denied"].error_message == "Permission denied: system:user:list"
    assert recorded["export"].status_code == 200


async def test_no_secret_reaches_the_log_from_auth_flows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Login, refresh, password change, MFA: not one secret value is stored (issue 4)."""
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="alice")
    login = await client.post(
        "/api/v1/auth/login", data={"username": "alice", "password": DEFAULT_PASSWORD}
    )
    tokens = login.json()
    refreshed = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    password = {"password": DEFAULT_PASSWORD}
    setup = (await client.post("/api/v1/auth/mfa/setup", headers=bearer, json=password)).json()[
        "data"
    ]
    code = pyotp.TOTP(setup["secret"]).now()
    confirm = await client.post(
        "/api/v1/auth/mfa/confirm", headers=bearer, json={**password, "otp": code}
    )
    recovery = confirm.json()["data"]["recovery_codes"]
    await client.put(
        "/api/v1/auth/me/password",
        headers=bearer,
        json={"current_password": DEFAULT_PASSWORD, "new_password": SECRET_PASSWORD},
    )
    dumped = _dump(await _rows(app))
    secrets = [
        DEFAULT_PASSWORD,
        SECRET_PASSWORD,
        tokens["refresh_token"],
        tokens["access_token"],
        refreshed["refresh_token"],
        setup["secret"],
        code,
        *recovery,
    ]
    for secret in secrets:
        assert secret not in dumped
    assert '"/api/v1/auth/login"' in json.dumps([r.route for r in await _rows(app)])


async def test_a_role_update_records_before_and_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _admin(app)
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, name="Clerks", permissions=["system:user:list"])
    response = await client.patch(
        f"/api/v1/system/roles/{role.id}",
        headers={**headers, "X-Request-ID": "role-edit"},
        json={"name": "Senior clerks", "data_scope": "self"},
    )
    assert response.status_code == 200
    async with app.state.sessionmaker() as db:
        change = (
            await db.execute(select(ChangeLog).where(ChangeLog.request_id == "role-edit"))
        ).scalar_one()
    assert change.entity == "role"
    assert change.action == "update"
    assert change.before == {"name": "Clerks", "data_scope": "all"}
    assert change.after == {"name": "Senior clerks", "data_scope": "self"}
    entry = next(r for r in await _rows(app) if r.request_id == "role-edit")
    detail = (await client.get(f"/api/v1/system/operation-logs/{entry.id}", headers=headers)).json()
    assert detail["data"]["changes"][0]["after"]["name"] == "Senior clerks"


async def test_failed_change_leaves_no_change_record(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await _admin(app)
    response = await client.post(
        "/api/v1/system/users",
        headers={**headers, "X-Request-ID": "bad-create"},
        json={"username": "x1", "name": "X", "password": "password123"},
    )
    assert response.status_code == 422
    async with app.state.sessionmaker() as db:
        assert (await db.execute(select(ChangeLog))).first() is None
    entry = next(r for r in await _rows(app) if r.request_id == "bad-create")
    assert entry.success is False
    assert entry.error_message is not None


async def test_list_filters_and_clear(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await _admin(app)
    for name in ("a1", "a2"):
        await client.post(
            "/api/v1/system/positions", headers=headers, json={"name": name, "code": name}
        )
    await _rows(app)
    page = (
        await client.get(
            "/api/v1/system/operation-logs",
            headers=headers,
            params={"method": "POST", "success": "true", "page_size": 100},
        )
    ).json()["data"]
    assert page["total"] == 2
    assert all(item["method"] == "POST" for item in page["items"])
    bad_sort = await client.get(
        "/api/v1/system/operation-logs", headers=headers, params={"sort": "body"}
    )
    assert bad_sort.status_code == 422
    cleared = await client.delete("/api/v1/system/operation-logs", headers=headers)
    assert cleared.json()["data"]["deleted"] >= 2
    remaining = await _rows(app)
    assert [r.action for r in remaining] == ["clear_operation_logs"]


async def test_recording_adds_no_query_to_the_request_and_flushes_on_shutdown(
    settings: Settings,
) -> None:
    quiet = make_settings(
        settings.database_url, audit_flush_interval=60, redis_url=settings.redis_url
    )
    app = create_probe_app(quiet)
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            with counting(app) as statements:
                for index in range(3):
                    response = await http.post(
                        "/__test/noop", headers={"X-Request-ID": f"noop-{index}"}
                    )
                    assert response.status_code == 200
            assert statements == []
        writer = writer_for(app)
        assert writer is not None
        assert len(writer.pending) == 3
    async with app.state.sessionmaker() as db:
        ids = set(
            (
                await db.execute(
                    select(OperationLog.request_id).where(OperationLog.request_id.like("noop-%"))
                )
            ).scalars()
        )
        await db.execute(OperationLog.__table__.delete())  # type: ignore[attr-defined]
        await db.commit()
    await app.state.engine.dispose()
    assert ids == {"noop-0", "noop-1", "noop-2"}


async def test_export_streams_the_filtered_log_and_is_itself_recorded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    import io

    from openpyxl import load_workbook

    headers = await _admin(app)
    await client.post(
        "/api/v1/system/positions", headers=headers, json={"name": "=1+1", "code": "p1"}
    )
    await client.post("/api/v1/system/positions", headers=headers, json={"name": "b", "code": "p1"})
    await _rows(app)
    response = await client.get(
        "/api/v1/system/operation-logs/export", headers=headers, params={"success": "false"}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="operation-log.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "Time", "User")
    assert len(rows) == 2  # header + the one failed (409) create
    assert rows[1][7] == 409
    csv_response = await client.get(
        "/api/v1/system/operation-logs/export", headers=headers, params={"format": "csv"}
    )
    assert csv_response.text.startswith("\ufeffID,Time,User")
    exports = [r for r in await _rows(app) if r.action == "export_operation_logs"]
    assert len(exports) == 2


async def _seed_log(app: FastAPI, count: int) -> list[OperationLog]:
    """`count` entries of users 900001/900002 at three distinct times (many ties)."""
    base = datetime(2026, 3, 1, 8, 0, 0, 250000, tzinfo=UTC)
    rows = [
        OperationLog(
            user_id=900001 + n % 2,
            username=f"seed{n % 2}",
            module="seeded",
            action="update_user",
            method="PATCH",
            route="/api/v1/system/users/{user_id}",
            path=f"/api/v1/system/users/{n}",
            status_code=200 if n % 3 else 409,
            success=bool(n % 3),
            duration_ms=1.5,
            created_at=base + timedelta(seconds=n % 3),
        )
        for n in range(count)
    ]
    async with app.state.sessionmaker() as db, db.begin():
        db.add_all(rows)
    return rows


async def _walk(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(20):
        response = await client.get(
            "/api/v1/system/operation-logs",
            headers=headers,
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        ids += [item["id"] for item in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the cursor does not advance")


async def test_list_pages_by_cursor_with_filters_and_without_offset(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Deep pages read after the cursor (an index range), never through OFFSET (API4); the
    filters still decide the set; the count is exact for a small log."""
    headers = await _admin(app)
    rows = await _seed_log(app, 25)
    expected = [
        r.id
        for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
        if r.user_id == 900001 and not r.success
    ]
    assert len(expected) == 5  # n = 0, 6, 12, 18, 24: even n, multiple of 3
    filters = {"user_id": 900001, "success": "false", "page_size": 3}
    assert await _walk(client, headers, filters) == expected
    everything = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    assert await _walk(client, headers, {"module": "seeded", "page_size": 4}) == [
        r.id for r in everything
    ]
    first = (
        await client.get(
            "/api/v1/system/operation-logs",
            headers=headers,
            params={"module": "seeded", "page_size": 10},
        )
    ).json()["data"]
    assert (first["total"], first["total_exact"]) == (25, True)
    await settle(app)
    with counting(app) as statements:
        response = await client.get(
            "/api/v1/system/operation-logs",
            headers=headers,
            params={"module": "seeded", "page_size": 10, "cursor": first["next_cursor"]},
        )
    assert [i["id"] for i in response.json()["data"]["items"]] == [r.id for r in everything][10:20]
    page = [s for s in statements if "ORDER BY" in s and "sys_operation_log" in s]
    assert len(page) == 1, statements
    # The position is a condition on (created_at, id), which the created_at index serves.
    assert "sys_operation_log.created_at" in page[0].split("WHERE", 1)[1].split("ORDER BY")[0]
    if app.state.engine.dialect.name != "sqlite":  # SQLAlchemy always adds OFFSET 0 there
        assert "OFFSET" not in page[0].upper()


async def test_a_bad_cursor_is_422_naming_cursor(app: FastAPI, client: httpx.AsyncClient) -> None:
    """docs/security-checklist.md §0 #11, #12: a forged cursor never reaches SQL as text and is
    never a 500."""
    headers = await _admin(app)
    await _seed_log(app, 3)
    for params in (
        {"cursor": "definitely-not-a-cursor"},
        {"cursor": "W10"},  # "[]"
        {"cursor": "x" * 600},
    ):
        response = await client.get("/api/v1/system/operation-logs", headers=headers, params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == "cursor"
    # A cursor of the default sort used with another sort.
    first = (
        await client.get("/api/v1/system/operation-logs", headers=headers, params={"page_size": 1})
    ).json()["data"]
    other = await client.get(
        "/api/v1/system/operation-logs",
        headers=headers,
        params={"sort": "id", "cursor": first["next_cursor"]},
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "cursor"
