"""`Idempotency-Key` on create and import routes (docs/security-checklist.md §5.3 F15;
docs/http.md).

F15's pass criteria: exactly one row however often (and however concurrently) a keyed request
is sent; replays return the same status and body; a concurrent duplicate gets 409 ("in
progress"); a different body gives 422; after the key's TTL a request is new again. Run on
the suite's database and cache (SQLite + in-process, PostgreSQL/MariaDB + Redis); the
two-instance test needs Redis.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openpyxl
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import func, select

from app.core.access import public
from app.core.config import Settings
from app.core.excel import XLSX_MEDIA_TYPE
from app.core.idempotency import HEADER, REPLAYED_HEADER, _Digest
from app.core.responses import Envelope, created
from app.main import create_app
from app.modules.example.models import Example
from app.modules.example.permissions import EXAMPLE_CREATE
from app.modules.system.auth import sessions
from app.modules.system.auth.deps import token_service
from app.modules.system.permissions import USER_IMPORT
from app.modules.system.user.models import User
from tests.conftest import check_envelope, make_settings
from tests.support.databases import ONCE_PER_CI, TEST_REDIS_URL
from tests.support.identity import holder_headers, superuser_headers
from tests.support.startup import shared_fixture
from tests.support.tcp_proxy import free_port
from tests.support.timing import LIFESPAN_TIMEOUT

EXAMPLES = "/api/v1/examples"
IMPORT = "/api/v1/system/users/import"
GATED = "/__test/idem/gated"
STREAMED = "/__test/idem/streamed"
OPTED_OUT = "/__test/idem/opted-out"
IMPORT_PASSWORD = "velvet-orbit-quarry-58"


def new_key() -> str:
    return f"k-{uuid.uuid4().hex}"


async def count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def field_error(response: httpx.Response) -> dict[str, Any]:
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


# --- a test-only app: a route that waits for the test, to hold a request "in progress" ------


@dataclass
class Gate:
    """Lets a test hold the gated route open: it records each run, then waits for `release`."""

    runs: list[str] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Item(BaseModel):
    name: str


gate = Gate()
router = APIRouter(prefix="/__test/idem", dependencies=[Depends(public)])


@router.post("/gated", status_code=201)
async def gated(body: Item) -> Envelope[dict[str, Any]]:
    """Anonymous create that waits for the test."""
    gate.runs.append(body.name)
    gate.entered.set()
    await gate.release.wait()
    return created({"name": body.name, "run": len(gate.runs)})


@router.post("/streamed", status_code=201)
async def streamed(body: Item) -> StreamingResponse:
    """A 201 whose body is streamed (an export-like answer)."""
    gate.runs.append(body.name)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first,"
        yield b"second"

    return StreamingResponse(chunks(), status_code=201, media_type="text/csv")


@router.post("/opted-out", status_code=201, openapi_extra={"x-idempotent": False})
async def opted_out(body: Item) -> Envelope[dict[str, Any]]:
    """A 201 route that declines idempotency."""
    gate.runs.append(body.name)
    return created({"name": body.name, "run": len(gate.runs)})


@pytest.fixture
def fresh_gate() -> Iterator[Gate]:
    global gate
    gate = Gate()
    yield gate
    gate.release.set()


async def _start(settings: Settings) -> tuple[FastAPI, LifespanManager]:
    application = create_app(settings)
    application.include_router(router)
    manager = LifespanManager(
        application, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    )
    await manager.__aenter__()
    return application, manager


@shared_fixture("the gated idempotency app", scope="module")
async def gated_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application, manager = await _start(make_settings(settings.database_url))
    try:
        yield application
    finally:
        await application.state.cache.delete_pattern("*")
        await manager.__aexit__(None, None, None)


@shared_fixture("the short-TTL idempotency app", scope="module")
async def short_ttl_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application, manager = await _start(make_settings(settings.database_url, idempotency_ttl=1))
    try:
        yield application
    finally:
        await application.state.cache.delete_pattern("*")
        await manager.__aexit__(None, None, None)


def client_for(application: FastAPI) -> httpx.AsyncClient:
    async def check(response: httpx.Response) -> None:
        await response.aread()
        check_envelope(response)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application, raise_app_exceptions=False),
        base_url="http://testserver",
        event_hooks={"response": [check]},
    )


@pytest.fixture
async def admin(app: FastAPI) -> dict[str, str]:
    return await superuser_headers(app)


# --- replay -------------------------------------------------------------------------------


async def test_replay_returns_the_first_status_and_body_and_creates_one_row(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """F15: the same key and body again is not executed; it gets the stored 201 and body."""
    headers = {**admin, HEADER: new_key()}
    body = {"name": "Alpha", "description": "first"}

    first = await client.post(EXAMPLES, json=body, headers=headers)
    second = await client.post(EXAMPLES, json=body, headers=headers)
    third = await client.post(EXAMPLES, json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert REPLAYED_HEADER.lower() not in first.headers
    for replay in (second, third):
        assert replay.status_code == 201
        assert replay.headers[REPLAYED_HEADER] == "true"
        assert replay.content == first.content
        assert replay.headers["content-type"] == first.headers["content-type"]
        assert replay.headers["x-request-id"] != first.headers["x-request-id"]
    assert await count(app, Example) == 1


async def test_without_the_header_every_request_runs(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The control for F15: the same body twice without a key creates two rows."""
    body = {"name": "Alpha", "description": "first"}
    responses = [await client.post(EXAMPLES, json=body, headers=admin) for _ in range(2)]
    assert [r.status_code for r in responses] == [201, 201]
    assert all(REPLAYED_HEADER.lower() not in r.headers for r in responses)
    assert responses[0].json()["data"]["id"] != responses[1].json()["data"]["id"]
    assert await count(app, Example) == 2


async def test_concurrent_duplicates_create_one_row(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """F15: five requests at once with one key: one runs, the others are 409 or replays."""
    headers = {**admin, HEADER: new_key()}
    body = {"name": "Bravo", "description": "race"}
    responses = await asyncio.gather(
        *(client.post(EXAMPLES, json=body, headers=headers) for _ in range(5))
    )
    executed = [
        r for r in responses if r.status_code == 201 and REPLAYED_HEADER.lower() not in r.headers
    ]
    assert len(executed) == 1, [(r.status_code, r.text) for r in responses]
    for other in responses:
        if other is executed[0]:
            continue
        if other.status_code == 409:
            assert other.headers["retry-after"] == "1"
            assert field_error(other)["field"] == HEADER
        else:
            assert other.status_code == 201
            assert other.headers[REPLAYED_HEADER] == "true"
            assert other.content == executed[0].content
    assert await count(app, Example) == 1


async def test_a_duplicate_while_the_first_runs_gets_409_then_the_replay(
    gated_app: FastAPI, fresh_gate: Gate
) -> None:
    """F15: a duplicate arriving while the first is still running answers 409 with
    Retry-After and does not run; once the first has answered, the key replays."""
    headers = {HEADER: new_key()}
    async with client_for(gated_app) as http:
        first = asyncio.create_task(http.post(GATED, json={"name": "one"}, headers=headers))
        await asyncio.wait_for(fresh_gate.entered.wait(), 10)

        duplicate = await http.post(GATED, json={"name": "one"}, headers=headers)
        assert duplicate.status_code == 409
        assert duplicate.headers["retry-after"] == "1"
        assert "in progress" in duplicate.json()["message"]
        assert field_error(duplicate)["field"] == HEADER

        fresh_gate.release.set()
        answered = await first
        later = await http.post(GATED, json={"name": "one"}, headers=headers)

    assert answered.status_code == 201
    assert answered.json()["data"] == {"name": "one", "run": 1}
    assert later.status_code == 201
    assert later.headers[REPLAYED_HEADER] == "true"
    assert later.content == answered.content
    assert fresh_gate.runs == ["one"]


@pytest.mark.skipif(not TEST_REDIS_URL, reason="two instances share state only through Redis")
async def test_the_claim_holds_across_instances(gated_app: FastAPI, fresh_gate: Gate) -> None:
    """F15 across processes (docs/security-checklist.md §6): a second instance with its own cache
    client and
    memory, on the same Redis, sees the first one's claim (409) and then its answer."""
    other, manager = await _start(
        make_settings(gated_app.state.settings.database_url,
                      cache_prefix=gated_app.state.settings.cache_prefix)
    )  # fmt: skip
    headers = {HEADER: new_key()}
    try:
        async with client_for(gated_app) as a, client_for(other) as b:
            first = asyncio.create_task(a.post(GATED, json={"name": "x"}, headers=headers))
            await asyncio.wait_for(fresh_gate.entered.wait(), 10)
            duplicate = await b.post(GATED, json={"name": "x"}, headers=headers)
            fresh_gate.release.set()
            answered = await first
            later = await b.post(GATED, json={"name": "x"}, headers=headers)
    finally:
        await manager.__aexit__(None, None, None)
    assert duplicate.status_code == 409
    assert answered.status_code == 201
    assert later.headers[REPLAYED_HEADER] == "true"
    assert later.content == answered.content
    assert fresh_gate.runs == ["x"]


# --- what makes a request "the same" ------------------------------------------------------


async def test_the_same_key_with_a_different_body_is_422(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """F15: reusing a key for a different request is refused, naming the header."""
    headers = {**admin, HEADER: new_key()}
    assert (await client.post(EXAMPLES, json={"name": "Alpha"}, headers=headers)).status_code == 201
    for other in ({"name": "Bravo"}, {"name": "Alpha", "description": "more"}):
        response = await client.post(EXAMPLES, json=other, headers=headers)
        assert response.status_code == 422
        assert response.json()["message"] == f"Validation failed: {HEADER}"
        error = field_error(response)
        assert (error["field"], error["location"]) == (HEADER, "header")
        assert REPLAYED_HEADER.lower() not in response.headers
    assert await count(app, Example) == 1


async def test_keys_are_scoped_to_the_caller_and_the_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """F15: another user's request with the same key and body is independent, and so is the
    same key on another route."""
    key = new_key()
    body = {"name": "Alpha"}
    alice = await holder_headers(app, [EXAMPLE_CREATE])
    bob = await holder_headers(app, [EXAMPLE_CREATE])

    by_alice = await client.post(EXAMPLES, json=body, headers={**alice, HEADER: key})
    by_bob = await client.post(EXAMPLES, json=body, headers={**bob, HEADER: key})
    assert (by_alice.status_code, by_bob.status_code) == (201, 201)
    assert REPLAYED_HEADER.lower() not in by_bob.headers
    assert by_alice.json()["data"]["id"] != by_bob.json()["data"]["id"]
    assert await count(app, Example) == 2

    admin = await superuser_headers(app)
    await client.post(EXAMPLES, json=body, headers={**admin, HEADER: key})
    position = await client.post(
        "/api/v1/system/positions", json={"name": "Lead", "code": "lead"},
        headers={**admin, HEADER: key},
    )  # fmt: skip
    assert position.status_code == 201, position.text
    assert REPLAYED_HEADER.lower() not in position.headers


@pytest.mark.parametrize("session_cached", [True, False], ids=["warm", "cold"])
async def test_a_replay_after_sign_out_is_401_not_the_kept_answer(
    app: FastAPI, client: httpx.AsyncClient, session_cached: bool
) -> None:
    """A replay is answered before routing, but not before the session check: once the
    token's session has ended (sign-out), the kept answer is refused with the 401 the route
    would give (docs/security-checklist.md F15; ASVS 7.4.1). Cold: the session's cache entry is gone
    and
    the check reads the row."""
    headers = {**await holder_headers(app, [EXAMPLE_CREATE]), HEADER: new_key()}
    body = {"name": "Kept"}
    first = await client.post(EXAMPLES, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(EXAMPLES, json=body, headers=headers)
    assert again.headers.get(REPLAYED_HEADER) == "true"  # signed in: the kept answer

    signed_out = await client.post("/api/v1/auth/logout", headers=headers)
    assert signed_out.status_code == 204, signed_out.text
    if not session_cached:
        claims = token_service(app).decode_access(headers["Authorization"].split()[1])
        await app.state.cache.delete(sessions.session_key(claims.session_id))

    refused = await client.post(EXAMPLES, json=body, headers=headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"] == "Bearer"
    assert REPLAYED_HEADER.lower() not in refused.headers
    assert refused.json()["data"] is None
    assert "Kept" not in refused.text
    assert await count(app, Example) == 1


def test_a_multipart_boundary_does_not_change_the_fingerprint() -> None:
    """A client resending the same upload gets a new random boundary; the fingerprint must
    not depend on it, nor on how the body is split into chunks (F15 for imports)."""

    def digest(boundary: str, content: bytes, step: int) -> str:
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="a.xlsx"\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        scope = {"method": "POST", "path": "/api/v1/system/users/import", "query_string": b""}
        fingerprint = _Digest(scope, f"multipart/form-data; boundary={boundary}".encode())
        for start in range(0, len(body), step):
            fingerprint.update(body[start : start + step])
        return fingerprint.hexdigest()

    content = bytes(range(256)) * 4
    reference = digest("a" * 32, content, 10_000)
    assert digest("b" * 32, content, 10_000) == reference
    assert digest("c" * 20, content, 7) == reference
    assert digest("d" * 70, content, 1) == reference
    assert digest("a" * 32, content[:-1] + b"!", 10_000) != reference


# --- what is kept -------------------------------------------------------------------------


async def test_error_answers_are_not_kept_and_release_the_key(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """F15: a 4xx is not stored; the client can fix the request and retry with the same key."""
    headers = {**admin, HEADER: new_key()}
    for _ in range(2):
        invalid = await client.post(EXAMPLES, json={"name": ""}, headers=headers)
        assert invalid.status_code == 422
        assert field_error(invalid)["field"] == "name"
        assert REPLAYED_HEADER.lower() not in invalid.headers
    fixed = await client.post(EXAMPLES, json={"name": "Alpha"}, headers=headers)
    assert fixed.status_code == 201
    assert REPLAYED_HEADER.lower() not in fixed.headers
    assert await count(app, Example) == 1


async def test_a_streamed_answer_is_not_kept_and_never_runs_twice(
    gated_app: FastAPI, fresh_gate: Gate
) -> None:
    """A streamed 2xx is not stored; a retry gets 409 "already processed" instead of a second
    run (docs/http.md)."""
    headers = {HEADER: new_key()}
    async with client_for(gated_app) as http:
        first = await http.post(STREAMED, json={"name": "s"}, headers=headers)
        retry = await http.post(STREAMED, json={"name": "s"}, headers=headers)
    assert (first.status_code, first.content) == (201, b"first,second")
    assert retry.status_code == 409
    assert "already processed" in retry.json()["message"]
    assert fresh_gate.runs == ["s"]


async def test_a_route_can_opt_out(gated_app: FastAPI, fresh_gate: Gate) -> None:
    """`openapi_extra={"x-idempotent": False}` turns the header off for a 201 route."""
    headers = {HEADER: new_key()}
    async with client_for(gated_app) as http:
        responses = [await http.post(OPTED_OUT, json={"name": "o"}, headers=headers) for _ in "ab"]
    assert [r.json()["data"]["run"] for r in responses] == [1, 2]
    assert all(REPLAYED_HEADER.lower() not in r.headers for r in responses)


async def test_after_the_ttl_the_key_is_new(app: FastAPI, short_ttl_app: FastAPI) -> None:
    """F15: once IDEMPOTENCY_TTL has passed, the same key and body run again."""
    admin = await superuser_headers(short_ttl_app)
    headers = {**admin, HEADER: new_key()}
    body = {"name": "Alpha"}
    async with client_for(short_ttl_app) as http:
        first = await http.post(EXAMPLES, json=body, headers=headers)
        replay = await http.post(EXAMPLES, json=body, headers=headers)
        await asyncio.sleep(1.3)
        after = await http.post(EXAMPLES, json=body, headers=headers)
    assert first.status_code == 201
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert after.status_code == 201
    assert REPLAYED_HEADER.lower() not in after.headers
    assert after.json()["data"]["id"] != first.json()["data"]["id"]
    assert await count(app, Example) == 2


# --- the key itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, "caf\u00e9".encode("latin-1"), b"tab\there", b"\x7f"],
    ids=["empty", "too-long", "not-ascii", "control", "delete"],
)
async def test_an_invalid_key_is_422_naming_the_header(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], key: bytes
) -> None:
    """1 to 255 printable ASCII characters; anything else is a 422 and nothing runs."""
    headers = {name.encode(): value.encode() for name, value in admin.items()}
    headers[HEADER.encode()] = key
    response = await client.post(EXAMPLES, json={"name": "Alpha"}, headers=headers)
    assert response.status_code == 422
    error = field_error(response)
    assert (error["field"], error["location"]) == (HEADER, "header")
    assert await count(app, Example) == 0


async def test_the_longest_key_is_accepted(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    headers = {**admin, HEADER: "~" * 255}
    assert (await client.post(EXAMPLES, json={"name": "A"}, headers=headers)).status_code == 201
    replay = await client.post(EXAMPLES, json={"name": "A"}, headers=headers)
    assert replay.headers[REPLAYED_HEADER] == "true"


# --- imports ------------------------------------------------------------------------------


def users_xlsx(*usernames: str) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    columns = ["username", "name", "email", "phone", "dept_code", "role_codes", "status"]
    sheet.append([*columns, "password"])
    for username in usernames:
        sheet.append([username, username.title(), None, None, None, None, None, IMPORT_PASSWORD])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_an_import_honours_the_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    """F15 on an import: resending the same file (with a new multipart boundary) replays the
    report and creates the users once; the same key for a dry run is a different request."""
    headers = {**await holder_headers(app, [USER_IMPORT], data_scope="all"), HEADER: new_key()}
    data = users_xlsx("ann", "ben")
    before = await count(app, User)

    async def send(dry_run: str = "false") -> httpx.Response:
        return await client.post(
            IMPORT,
            params={"dry_run": dry_run},
            files={"file": ("users.xlsx", data, XLSX_MEDIA_TYPE)},
            headers=headers,
        )

    first = await send()
    again = await send()
    assert first.status_code == 201, first.text
    assert first.request.headers["content-type"] != again.request.headers["content-type"], (
        "the client sent a new boundary"
    )
    assert again.status_code == 201
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.content == first.content
    assert await count(app, User) == before + 2

    dry = await send("true")
    assert dry.status_code == 422
    assert field_error(dry)["field"] == HEADER


# --- documentation and outages ------------------------------------------------------------


async def test_the_header_is_documented_on_every_create_and_import(
    client: httpx.AsyncClient,
) -> None:
    """Every POST that answers 201 declares the optional header (so the API fuzzer sends it);
    no other operation does."""
    schema = (await client.get("/api/v1/openapi.json")).json()
    documented, creating = set(), set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
            if (HEADER, "header") in names:
                documented.add((method, path))
                assert not next(p for p in operation["parameters"] if p["name"] == HEADER)[
                    "required"
                ]
                assert "409" in operation["responses"]
            if method == "post" and "201" in operation["responses"]:
                creating.add((method, path))
    assert documented == creating
    assert {("post", EXAMPLES), ("post", IMPORT), ("post", "/api/v1/files")} <= documented
    assert ("post", "/api/v1/auth/login") not in documented


@ONCE_PER_CI  # its own (unreachable) Redis: the suite's database does not matter
async def test_with_the_cache_down_a_keyed_request_is_503_not_a_blind_run(
    settings: Settings, fresh_gate: Gate
) -> None:
    """docs/resilience.md: without the cache the key cannot be honoured, so a keyed request
    answers 503 (Retry-After) rather than risk running twice; unkeyed requests are unaffected."""
    fresh_gate.release.set()
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: connections are refused
    application, manager = await _start(make_settings(settings.database_url, redis_url=down))
    try:
        async with client_for(application) as http:
            keyed = await http.post(GATED, json={"name": "k"}, headers={HEADER: new_key()})
            unkeyed = await http.post(GATED, json={"name": "u"})
    finally:
        await manager.__aexit__(None, None, None)
    assert keyed.status_code == 503
    assert keyed.json()["message"] == "Service temporarily unavailable: cache"
    assert keyed.headers["retry-after"] == "5"
    assert unkeyed.status_code == 201
    assert fresh_gate.runs == ["u"]
