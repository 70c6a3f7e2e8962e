"""Denied and anonymous requests keep no body in the operation log, only its size
(docs/security-checklist.md §2 API4, §1.7 16.3.2: denials are logged, but an anonymous client
cannot make
each logged denial cost kilobytes of storage).

Before: an unauthenticated POST with a 16 KiB JSON body was answered 401 and stored with the
whole body, so anyone could grow the table by gigabytes a day.
"""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI

from app.modules.system.operation_log.models import OperationLog
from app.modules.system.operation_log.recorder import MAX_QUERY_BYTES
from tests.modules.system.operation_log.test_operation_log import _admin, _rows
from tests.support.identity import DEFAULT_PASSWORD, auth_headers, create_user

MARKER = "payload-that-must-not-be-stored"


def big_body(size: int) -> bytes:
    """A JSON object of about `size` bytes, under AUDIT_MAX_BODY_BYTES (16 KiB by default)."""
    return json.dumps({"username": MARKER, "name": "x" * (size - 60)}).encode()


def stored_bytes(row: OperationLog) -> int:
    return len(json.dumps(row.body)) + len(json.dumps(row.query))


async def by_request_id(app: FastAPI) -> dict[str, OperationLog]:
    return {row.request_id or "": row for row in await _rows(app)}


async def test_anonymous_401_keeps_only_the_body_size(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    limit = app.state.settings.audit_max_body_bytes
    body = big_body(limit - 100)
    for n in range(5):
        response = await client.post(
            "/api/v1/system/users",
            content=body,
            headers={"Content-Type": "application/json", "X-Request-ID": f"anon-{n}"},
        )
        assert response.status_code == 401
    rows = [row for key, row in (await by_request_id(app)).items() if key.startswith("anon-")]
    assert len(rows) == 5  # the denial is still recorded (ASVS 16.3.2)
    for row in rows:
        assert row.status_code == 401
        assert row.body == {"_withheld": "denied", "_size": len(body)}
        assert stored_bytes(row) < 100
        assert MARKER not in json.dumps(row.body)


async def test_a_signed_in_callers_403_keeps_only_the_body_size(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        weak = await create_user(db, username="weak")
    headers = {**await auth_headers(app, weak), "X-Request-ID": "weak-post"}
    body = big_body(4000)
    response = await client.post(
        "/api/v1/system/users",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 403
    row = (await by_request_id(app))["weak-post"]
    assert row.body == {"_withheld": "denied", "_size": len(body)}
    assert row.username == "weak"  # who was refused is still known


async def test_anonymous_requests_that_succeed_keep_only_the_body_size(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="alice")
    form = {"username": "alice", "password": DEFAULT_PASSWORD}
    response = await client.post(
        "/api/v1/auth/login", data=form, headers={"X-Request-ID": "anon-login"}
    )
    assert response.status_code == 200
    row = (await by_request_id(app))["anon-login"]
    assert row.body is not None
    assert row.body["_withheld"] == "anonymous"
    assert set(row.body) == {"_withheld", "_size"}
    assert row.body["_size"] > 0


async def test_a_long_query_string_is_stored_as_its_size(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    query = "q=" + "a" * (MAX_QUERY_BYTES * 8)
    await client.post(f"/api/v1/system/users?{query}", headers={"X-Request-ID": "long-query"})
    row = (await by_request_id(app))["long-query"]
    assert row.query == {"_omitted": f"{len(query)} bytes"}
    assert stored_bytes(row) < 100


async def test_a_signed_in_callers_allowed_request_keeps_its_masked_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The rule withholds only what anyone can send; an operator's change stays auditable."""
    headers = {**await _admin(app), "X-Request-ID": "allowed"}
    response = await client.post(
        "/api/v1/system/positions",
        json={"name": MARKER, "code": "p1"},
        headers=headers,
    )
    assert response.status_code == 201
    row = (await by_request_id(app))["allowed"]
    assert row.body == {"name": MARKER, "code": "p1"}
