"""Server-side retry of writes the database broke as a deadlock or serialization failure
(docs/security-checklist.md §5.3 F18; app/core/retry.py, docs/http.md "Retries of conflicting
transactions").

The conflicts are real where the database can have them (`POST /__test/conflict`,
app/core/testing.py): a serialization failure (40001) on PostgreSQL, a deadlock (1213) on
MariaDB between the request's transaction and another connection locking two rows in opposite
order. SQLite cannot deadlock: there the route raises the MariaDB driver's deadlock error.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.types import Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.retry import TransactionRetryMiddleware, mark_conflict
from app.main import create_app
from app.modules.system.operation_log.models import OperationLog
from app.modules.system.operation_log.recorder import OperationLogMiddleware
from app.modules.system.operation_log.recorder import writer_for as operation_log_writer
from app.modules.system.param.models import Param
from tests.conftest import make_settings
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT

CONFLICT = "/__test/conflict"
ATTEMPTS = 3  # DB_RETRY_ATTEMPTS' default


@shared_fixture("the retrying app", scope="module")
async def retry_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(settings.database_url, enable_test_routes=True))
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app


@shared_fixture("the single-attempt app", scope="module")
async def single_attempt_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        make_settings(settings.database_url, enable_test_routes=True, db_retry_attempts=1)
    )
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as client:
        yield client
    writer = operation_log_writer(app)
    if writer is not None:  # flushed before the `app` fixture's clean-up empties the tables
        await writer.flush()


@pytest.fixture
async def http(retry_app: FastAPI, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `retry_app`; `app` is requested so that the tables are emptied after."""
    async for client in _client(retry_app):
        yield client


@pytest.fixture
async def single_http(
    single_attempt_app: FastAPI, app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(single_attempt_app):
        yield client


def middleware_classes(app: FastAPI) -> list[object]:
    """The app's user middleware classes, outermost first."""
    return [middleware.cls for middleware in app.user_middleware]


def new_tag() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def conflict(
    http: httpx.AsyncClient, tag: str, fail: int, payload: str = "hello"
) -> httpx.Response:
    return await http.post(CONFLICT, params={"tag": tag, "fail": fail}, json={"payload": payload})


async def state(http: httpx.AsyncClient, tag: str) -> dict[str, Any]:
    response = await http.get(f"{CONFLICT}/{tag}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def stored(app: FastAPI, tag: str) -> dict[str, str]:
    """The parameters the conflict route left for `tag` (its lock rows aside)."""
    async with app.state.sessionmaker() as db:
        rows = await db.execute(
            select(Param.key, Param.value).where(
                Param.key.like(f"__test.{tag}.%") | Param.key.like(f"__test-weight.{tag}.%")
            )
        )
        return {row[0]: row[1] for row in rows}


def retries_counted(app: FastAPI, route: str = CONFLICT) -> float:
    """`fastapiadmin_db_transaction_retries_total{route}` as /metrics exposes it."""
    value = app.state.metrics.registry.get_sample_value(
        "fastapiadmin_db_transaction_retries_total", {"route": route}
    )
    return float(value or 0)


async def test_a_conflicting_write_is_run_again_and_commits_once(
    retry_app: FastAPI, http: httpx.AsyncClient
) -> None:
    """F18: the first two attempts conflict for real; the third commits. One row (the third
    attempt's), the body replayed intact to every attempt, only the committed attempt's
    `after_commit` callback ran, two retries counted."""
    tag = new_tag()
    payload = "ünïcødé ✓ " * 20_000 + "end"  # about 300 KB: several receive() chunks
    before = retries_counted(retry_app)

    response = await conflict(http, tag, fail=2, payload=payload)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"attempt": 3, "payload": payload}
    assert await state(http, tag) == {"attempts": 3, "committed": [3]}
    digest = hashlib.sha256(payload.encode()).hexdigest()
    assert await stored(retry_app, tag) == {f"__test.{tag}.3": digest}
    assert retries_counted(retry_app) - before == 2


async def test_a_retried_request_counts_once_against_rate_limits(
    settings: Settings, app: FastAPI
) -> None:
    """The conflict route allows 2 requests an hour per client (`CONFLICT_RATE`); one request
    run three times by the server is one request, not three (API4: the limit is the
    client's, the retries are ours)."""
    limited = create_app(
        make_settings(settings.database_url, enable_test_routes=True, rate_limit_enabled=True)
    )
    async with LifespanManager(
        limited, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        async for client in _client(limited):
            tag = new_tag()
            response = await conflict(client, tag, fail=2)
            assert response.status_code == 200, response.text
            assert (await state(client, tag))["attempts"] == 3
            second = await conflict(client, new_tag(), fail=0)
            assert second.status_code == 200, second.text
            third = await conflict(client, new_tag(), fail=0)
            assert third.status_code == 429, third.text  # the limit itself still holds


async def test_after_the_last_attempt_the_client_gets_409_with_retry_after(
    retry_app: FastAPI, http: httpx.AsyncClient
) -> None:
    """F18: DB_RETRY_ATTEMPTS attempts, then today's 409 with `Retry-After`; nothing of any
    attempt was committed and no `after_commit` callback ran."""
    tag = new_tag()
    response = await conflict(http, tag, fail=10)

    assert response.status_code == 409, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert (body["code"], body["data"]) == (409, None)
    assert "send it again" in body["message"]
    assert await state(http, tag) == {"attempts": ATTEMPTS, "committed": []}
    assert await stored(retry_app, tag) == {}


async def test_a_retried_answer_looks_like_any_other(http: httpx.AsyncClient) -> None:
    """Nothing of the retry reaches the client: the same headers and body shape as an answer
    that needed one attempt."""
    plain = await conflict(http, new_tag(), fail=0)
    retried = await conflict(http, new_tag(), fail=1)
    assert (plain.status_code, retried.status_code) == (200, 200), retried.text
    assert set(retried.headers) == set(plain.headers)
    assert retried.json()["data"]["attempt"] == 2
    assert set(retried.json()) == set(plain.json())


async def test_a_get_is_never_retried(retry_app: FastAPI, http: httpx.AsyncClient) -> None:
    """F18: safe methods are not retried (they write nothing); their conflict is a 409."""
    tag = new_tag()
    before = retries_counted(retry_app)
    response = await http.get(CONFLICT, params={"tag": tag})
    assert response.status_code == 409, response.text
    assert response.headers["retry-after"] == "1"
    assert (await state(http, tag))["attempts"] == 1
    assert retries_counted(retry_app) == before


async def test_one_attempt_disables_the_retry(
    single_attempt_app: FastAPI, single_http: httpx.AsyncClient
) -> None:
    """DB_RETRY_ATTEMPTS=1: no retry middleware, the first conflict is the client's 409."""
    assert TransactionRetryMiddleware not in middleware_classes(single_attempt_app)
    tag = new_tag()
    response = await conflict(single_http, tag, fail=1)
    assert response.status_code == 409, response.text
    assert response.headers["retry-after"] == "1"
    assert await state(single_http, tag) == {"attempts": 1, "committed": []}
    assert await stored(single_attempt_app, tag) == {}


async def test_the_operation_log_records_one_entry_per_request(
    retry_app: FastAPI, http: httpx.AsyncClient
) -> None:
    """The retry runs inside the operation log (and metrics, idempotency): a request retried
    twice is one entry, with its final status."""
    *outer, innermost = middleware_classes(retry_app)
    assert innermost is TransactionRetryMiddleware
    assert OperationLogMiddleware in outer
    response = await conflict(http, new_tag(), fail=2)
    assert response.status_code == 200, response.text
    writer = operation_log_writer(retry_app)
    assert writer is not None
    await writer.flush()
    async with retry_app.state.sessionmaker() as db:
        entries = (
            await db.execute(
                select(OperationLog.status_code, func.count())
                .where(OperationLog.request_id == response.headers["x-request-id"])
                .group_by(OperationLog.status_code)
            )
        ).all()
    assert [tuple(entry) for entry in entries] == [(200, 1)]


# ------------------------------------------------- the middleware alone (no database) --


def _conflicting_app(calls: list[bytes]) -> Any:
    """An ASGI app that reads the body, then answers 409 marked as a conflict."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        calls.append(body)
        mark_conflict(scope)
        await send({"type": "http.response.start", "status": 409, "headers": []})
        await send({"type": "http.response.body", "body": b"conflict"})

    return app


async def _call(
    middleware: TransactionRetryMiddleware, content_type: bytes, chunks: list[bytes]
) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-type", content_type)],
    }
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


async def test_each_attempt_gets_the_whole_body_and_only_the_last_answer_is_sent() -> None:
    """The body, sent in chunks, is replayed in full to every attempt; the dropped attempts'
    answers never reach the client."""
    calls: list[bytes] = []
    middleware = TransactionRetryMiddleware(_conflicting_app(calls), attempts=3, max_body=1000)
    sent = await _call(middleware, b"application/json", [b'{"a":', b' "b"}'])
    assert calls == [b'{"a": "b"}'] * 3
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


@pytest.mark.parametrize(
    ("content_type", "chunks"),
    [(b"multipart/form-data; boundary=x", [b"--x--"]), (b"application/json", [b"1" * 600] * 2)],
    ids=["multipart", "over-the-limit"],
)
async def test_uploads_and_large_bodies_run_once(content_type: bytes, chunks: list[bytes]) -> None:
    """Multipart uploads and bodies past the limit are not buffered: they run once."""
    calls: list[bytes] = []
    middleware = TransactionRetryMiddleware(_conflicting_app(calls), attempts=3, max_body=1000)
    sent = await _call(middleware, content_type, chunks)
    assert calls == [b"".join(chunks)]
    assert sent[0]["status"] == 409
