"""Property-based fuzzing of every API operation with Schemathesis (docs/security-checklist.md §4.2,
§2).

The OpenAPI document of the in-process app (`/api/v1/openapi.json`) drives the generation of
valid and invalid requests for every operation, sent as two identities:

- a superuser, who reaches every handler (finds 5xx, undocumented status codes, responses that
  do not match their schema);
- a user whose only role grants a few read permissions (the same, plus API5: everything else
  answers a documented 401/403, never a 5xx).

`date-time` values include naive ones and the edges of the UTC range (`date_times`); integers
out of range come from the negative mode (every integer has bounds, tests/core/
test_http_input.py), and `test_edge_values.py` sends both to every operation explicitly.

Checks on every response: no 5xx, the status code is documented for the operation, the
content type and the body match the documented response, and (`ignored_auth`) the same request
without or with a broken token is refused (ASVS 8.2.1, API2). On top, every JSON body must be
the envelope and carry no secret key (§0 #5, API3), as `check_envelope` does for the whole
suite.

The run is bounded and reproducible: a fixed seed, derandomized generation and a fixed number
of examples per operation (fewer when TEST_DATABASE_URL points at a server, where each request
costs more). The number of generated cases is printed in the terminal summary and asserted.

Schemathesis sends the requests through its own ASGI client, which runs the app on an event
loop thread of its own (its "portal"); the app here is therefore a separate instance on a
database of its own, not the session `app` fixture, whose engine lives on pytest's loop.

The `fuzz_app` fixture runs the app's lifespan itself, on that portal, for the whole module.
Schemathesis would start a lifespan on the first request of each test and end it after each
test (its pytest plugin calls `shutdown_lifespans()` on every test's teardown), while the
helpers here (identities, the deleted-resource checks over httpx) use the app's engine and
cache outside any of those lifespans: the connections they opened after the last shutdown
were never closed, and Python collected them during a later test (a `ResourceWarning`).
Schemathesis is given `LifespanOwned(app)`, which acknowledges its lifespan events and leaves
the app's own alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import hypothesis
import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import BaseSchema
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.formats import rfc3339_values, unregister_string_format

from app.core import migrations
from app.main import create_app
from tests.api.fuzz_stats import CASES, DELETED_RESOURCES, OPERATIONS
from tests.conftest import FORBIDDEN_KEYS, PASSWORD_PATH_SUFFIX, TOKEN_PATHS, make_settings
from tests.support.databases import TEST_DATABASE_URL, temporary_database
from tests.support.identity import auth_headers, create_role, create_user
from tests.support.startup import shared_fixture

T = TypeVar("T")

OPENAPI_PATH = "/api/v1/openapi.json"
SEED = 20260101
# Generated cases per operation and identity (valid and invalid requests mixed). SQLite runs the
# larger set; on PostgreSQL / MariaDB a smaller run still reaches every operation. FUZZ_MAX_EXAMPLES
# overrides it for a longer run by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", 5 if TEST_DATABASE_URL else 12))
# Each identity must have sent at least this many cases, or the run proved little.
MIN_CASES = 110 * (MAX_EXAMPLES // 2)

LIMITED_PERMISSIONS = (
    "system:user:list",
    "system:dept:list",
    "system:role:list",
    "monitor:session:list",
    "files:file:list",
)

# Operations that cannot run in-process as a fuzzing target, with the reason.
EXCLUDED_PATHS: dict[str, str] = {
    # Prometheus scrape endpoint, outside the API and its envelope; access is by network
    # policy, not tokens, and it has tests of its own (tests/core/test_metrics.py).
    "/metrics": "not an API operation",
}


def _config() -> SchemathesisConfig:
    # Generation is driven below by Hypothesis settings of our own (fixed examples per operation,
    # derandomized, no example database); the seed keeps Schemathesis' own choices stable too.
    return SchemathesisConfig.from_dict({"seed": SEED})


def _run(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run `fn(*args)` on the event loop that serves the app under Schemathesis."""
    # A private helper of the pinned Schemathesis version: its ASGI client runs every app on
    # one portal thread, and the app's engine and cache are bound to that loop.
    result: T = schemathesis_asgi._get_portal().call(fn, *args)
    return result


# Bounds for the app's startup and shutdown (a loaded CI machine may flush audit writers slowly).
LIFESPAN_TIMEOUT = 60.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LifespanOwned:
    """The app as Schemathesis sees it: HTTP goes to the app; lifespan events are acknowledged
    here, because `fuzz_app` runs the app's lifespan itself, once for the whole module."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Built here, on the portal's loop: LifespanManager detects the async library it runs on.
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield


@shared_fixture("the fuzzed app", scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    with temporary_database(tmp_path_factory.mktemp("fuzz-db"), "fuzz") as url:
        migrations.upgrade(url)
        application = create_app(make_settings(url))
        # Started and ended on the portal's loop, where every request and helper runs: the
        # shutdown closes the cache and disposes of the engine on the loop that opened them.
        with schemathesis_asgi._get_portal().wrap_async_context_manager(_lifespan(application)):
            yield application
            _run(application.state.cache.delete_pattern, "*")
        # Nothing may use the engine after the shutdown disposed of it: a connection opened
        # then would stay open until Python collects it, in some later test.
        pool = application.state.engine.pool
        assert (pool.checkedin(), pool.checkedout()) == (0, 0), pool.status()


# `date-time` values as clients really send them, not only RFC 3339: naive (what most date
# pickers send), and the edges of the range once converted to UTC. Schemathesis' own strategy
# always adds an offset, so it never sent `?since=2026-01-01T00:00:00`, which was a 500.
DATE_TIME_EDGES = (
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-01-01T00:00:00+23:59",
)


def date_times() -> st.SearchStrategy[str]:
    naive = st.datetimes().map(lambda moment: moment.isoformat())
    return st.one_of(st.sampled_from(DATE_TIME_EDGES), naive, rfc3339_values("date-time"))


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: FastAPI) -> Iterator[BaseSchema]:
    schema: BaseSchema = schemathesis.openapi.from_asgi(
        OPENAPI_PATH, LifespanOwned(fuzz_app), config=_config()
    )
    for path in EXCLUDED_PATHS:
        schema = schema.exclude(path=path)
    schemathesis.openapi.format("date-time", date_times())
    try:
        yield schema
    finally:
        unregister_string_format("date-time")  # back to Schemathesis' own


async def _superuser(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, is_superuser=True)
    return await auth_headers(app, user)


async def _limited(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=LIMITED_PERMISSIONS, data_scope="self")
        user = await create_user(db, roles=[role])
    return await auth_headers(app, user)


def _forbidden_keys(value: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in FORBIDDEN_KEYS or key == "password":
                found.append(here)
            found.extend(_forbidden_keys(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_forbidden_keys(item, f"{path}[{index}]"))
    return found


def envelope_and_no_secrets(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every JSON body is the envelope (`code` repeats the status) and carries no secret key."""
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        return None
    body = json.loads(response.content)
    path = case.operation.path
    if path in TOKEN_PATHS and response.status_code == 200:
        assert not _forbidden_keys({k: v for k, v in body.items() if k != "refresh_token"})
        return None
    assert isinstance(body, dict), body
    assert body.get("code") == response.status_code, (response.status_code, body)
    assert {"message", "data"} <= set(body), body
    leaks = _forbidden_keys(body)
    if path.endswith(PASSWORD_PATH_SUFFIX):
        leaks = [leak for leak in leaks if leak != ".data.password"]
    assert not leaks, f"secret keys in the response: {leaks}"
    return None


CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.ignored_auth,
    envelope_and_no_secrets,
]


def _fuzz(
    schema: BaseSchema, identity: str, make_headers: Callable[[], dict[str, str]]
) -> list[str]:
    """Send generated cases to every operation; return one line per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the schema of this operation cannot be used
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            # No shrinking: the first failing case is reported as generated, which keeps a
            # failing run as fast as a passing one.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
            print_blob=False,
        )
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            CASES[identity] += 1
            OPERATIONS[identity].add(case.operation.label)
            case.call_and_validate(headers=make_headers(), checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_fuzz_as_superuser(fuzz_app: FastAPI, fuzz_schema: BaseSchema) -> None:
    """§4.2, §0 #5, API3: every operation, as a superuser: no 5xx, documented codes and bodies."""
    # A fresh user and session per case: a case may sign out, change the password of, disable
    # or delete the identity it runs as.
    failures = _fuzz(fuzz_schema, "superuser", lambda: _run(_superuser, fuzz_app))
    assert not failures, "\n\n".join(failures)
    assert CASES["superuser"] >= MIN_CASES, CASES
    assert len(OPERATIONS["superuser"]) >= 100, OPERATIONS


def test_fuzz_as_limited_user(fuzz_app: FastAPI, fuzz_schema: BaseSchema) -> None:
    """§4.2, §0 #2, #5, API5: every operation, as a user holding a few read permissions."""
    failures = _fuzz(fuzz_schema, "limited user", lambda: _run(_limited, fuzz_app))
    assert not failures, "\n\n".join(failures)
    assert CASES["limited user"] >= MIN_CASES, CASES
    assert len(OPERATIONS["limited user"]) >= 100, OPERATIONS


# --- Deleted resources stay deleted (issue 8 item 1; Schemathesis' `use_after_free`) ---------
#
# For every resource the OpenAPI document shows as `POST <collection>` (201) plus `GET` and
# `DELETE <collection>/{id}`, one is created, read, found in the list, deleted; then every
# operation on its id (GET, PATCH, DELETE, and the actions under it) must answer 404, and the
# list must no longer hold it. The set of resources comes from the schema, so a new module is
# checked without a line here. The create body is generated from the schema (positive mode,
# derandomized); FIXTURE_BODIES holds a known-good body only where generation cannot satisfy
# the server-side rules (references to other rows, file content).

ITEM_PATH = re.compile(r"^(?P<collection>/.+)/\{(?P<param>[a-z_]+)\}$")
# Tries at a generated body before giving up (each is one POST).
CREATE_ATTEMPTS = 40


class _Enough(Exception):
    """Stops the generation of create bodies once one was accepted."""


@dataclass(frozen=True)
class CrudResource:
    collection: str  # /api/v1/system/users
    item: str  # /api/v1/system/users/{user_id}
    param: str  # user_id
    item_methods: frozenset[str]  # of `item`: GET, DELETE, maybe PATCH
    has_list: bool  # GET `collection` lists them
    actions: tuple[tuple[str, str], ...]  # (METHOD, path) under `item`, without a body


def crud_resources(openapi: dict[str, Any]) -> list[CrudResource]:
    """Every resource of the document with a create, a read and a delete by id."""
    paths: dict[str, dict[str, Any]] = openapi["paths"]
    found: list[CrudResource] = []
    for item, operations in paths.items():
        match = ITEM_PATH.match(item)
        if match is None or not {"get", "delete"} <= set(operations):
            continue
        collection = match["collection"]
        create = paths.get(collection, {}).get("post")
        if create is None or "201" not in create["responses"]:
            continue
        actions = tuple(
            (method.upper(), path)
            for path, sub in paths.items()
            if path.startswith(f"{item}/") and "{" not in path[len(item) :]
            for method, operation in sub.items()
            if not operation.get("requestBody", {}).get("required", False)
        )
        found.append(
            CrudResource(
                collection=collection,
                item=item,
                param=match["param"],
                item_methods=frozenset(m.upper() for m in operations),
                has_list="get" in paths[collection],
                actions=actions,
            )
        )
    return found


def _text_file() -> dict[str, Any]:
    return {"files": {"file": ("deleted.txt", b"stays deleted\n", "text/plain")}}


async def _dict_data_body(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/system/dict-types",
        json={"name": "Deleted check", "code": f"deleted_{uuid.uuid4().hex[:8]}"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    code = created.json()["data"]["code"]
    return {"json": {"type_code": code, "label": "Stays deleted", "value": "gone"}}


async def _job_body(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    targets = await client.get("/api/v1/scheduler/targets", headers=headers)
    assert targets.status_code == 200, targets.text
    listed = targets.json()["data"]
    without_arguments = [t for t in listed if not t.get("args_schema", {}).get("required")]
    target = (without_arguments or listed)[0]["name"]
    return {
        "json": {
            "name": f"deleted-{uuid.uuid4().hex[:8]}",
            "target": target,
            "trigger": {"type": "interval", "seconds": 3600},
        }
    }


async def _menu_body(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    # The rules across fields (a directory or menu needs a title, a button a permission code
    # and no route) are not in the schema; most generated bodies break one of them.
    return {"json": {"type": "menu", "title": "Stays deleted"}}


# collection -> coroutine giving httpx keyword arguments for a POST that must succeed.
FIXTURE_BODIES: dict[
    str,
    Callable[[httpx.AsyncClient, dict[str, str]], Coroutine[Any, Any, dict[str, Any]]],
] = {}


async def _fixture_files(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    return _text_file()


FIXTURE_BODIES["/api/v1/files"] = _fixture_files
FIXTURE_BODIES["/api/v1/system/dict-data"] = _dict_data_body
FIXTURE_BODIES["/api/v1/system/menus"] = _menu_body
FIXTURE_BODIES["/api/v1/scheduler/jobs"] = _job_body


def _asgi_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _post_json(
    app: FastAPI, path: str, headers: dict[str, str], body: object
) -> httpx.Response:
    async with _asgi_client(app) as client:
        return await client.post(path, headers=headers, json=body)


async def _fixture_create(
    app: FastAPI, resource: CrudResource, headers: dict[str, str]
) -> httpx.Response:
    async with _asgi_client(app) as client:
        kwargs = await FIXTURE_BODIES[resource.collection](client, headers)
        return await client.post(resource.collection, headers=headers, **kwargs)


def _generated_create(
    app: FastAPI, schema: BaseSchema, resource: CrudResource, headers: dict[str, str]
) -> httpx.Response | None:
    """POST bodies generated from the schema until one is accepted (201)."""
    operation = schema.find_operation_by_label(f"POST {resource.collection}")
    assert operation is not None, resource.collection
    if operation.body and operation.body[0].media_type != "application/json":
        return None  # only JSON bodies are generated here
    accepted: list[httpx.Response] = []

    @hypothesis.settings(
        max_examples=CREATE_ATTEMPTS,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def post_until_accepted(case: Any) -> None:
        if accepted:  # one is enough: stop here (raised again, consistently, on replay)
            raise _Enough
        response = _run(_post_json, app, resource.collection, headers, case.body)
        assert response.status_code < 500, (resource.collection, case.body, response.text)
        if response.status_code == 201:
            accepted.append(response)

    with contextlib.suppress(_Enough):
        post_until_accepted()
    return accepted[0] if accepted else None


async def _list_ids(app: FastAPI, resource: CrudResource, headers: dict[str, str]) -> set[object]:
    """Every id the list shows, page after page: by `next_cursor` where the list pages by
    cursor (its `total` past the exact-count limit is an estimate), else by page number."""
    ids: set[object] = set()
    params: dict[str, Any] = {"page": 1, "page_size": 100}
    async with _asgi_client(app) as client:
        for page in range(1, 200):
            response = await client.get(resource.collection, params=params, headers=headers)
            assert response.status_code == 200, (resource.collection, response.text)
            data = response.json()["data"]
            items = data["items"] if isinstance(data, dict) else data
            ids.update(item["id"] for item in items)
            if not isinstance(data, dict):
                return ids
            if "next_cursor" in data:
                if data["next_cursor"] is None:
                    return ids
                params = {"cursor": data["next_cursor"], "page_size": 100}
            elif page * 100 >= data["total"]:
                return ids
            else:
                params = {"page": page + 1, "page_size": 100}
    raise AssertionError(f"{resource.collection}: more than 200 pages")


async def _after_delete(
    app: FastAPI,
    resource: CrudResource,
    url: str,
    patch_body: dict[str, Any] | None,
    headers: dict[str, str],
) -> list[str]:
    """Every operation on the deleted id: the ones that did not answer 404."""
    wrong: list[str] = []
    requests: list[tuple[str, str, dict[str, Any]]] = [("GET", url, {}), ("DELETE", url, {})]
    if patch_body is not None:
        requests.append(("PATCH", url, {"json": patch_body}))
    item_id = url.rsplit("/", 1)[1]
    for method, path in resource.actions:
        requests.append((method, path.replace(f"{{{resource.param}}}", item_id), {}))
    async with _asgi_client(app) as client:
        for method, path, kwargs in requests:
            response = await client.request(method, path, headers=headers, **kwargs)
            if response.status_code != 404:
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return wrong


async def _live_patch_body(
    app: FastAPI, url: str, item: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """A PATCH body the live resource accepts (so the 404 after deletion means "gone")."""
    candidates: list[dict[str, Any]] = [{}]
    for key in ("name", "title", "label", "description"):
        if isinstance(item.get(key), str):
            candidates.append({key: item[key]})
    answers = []
    async with _asgi_client(app) as client:
        for body in candidates:
            response = await client.patch(url, json=body, headers=headers)
            if response.status_code == 200:
                return body
            answers.append(f"{body}: {response.status_code} {response.text[:200]}")
    raise AssertionError(f"PATCH {url}: no candidate body accepted: {answers}")


def test_deleted_resources_stay_deleted(fuzz_app: FastAPI, fuzz_schema: BaseSchema) -> None:
    """Issue 8 item 1, docs/security-checklist.md §4.2 `use_after_free`, ASVS 8.2.2: after DELETE,
    the id
    answers 404 on GET, PATCH, DELETE and every action under it, and leaves the list."""
    resources = crud_resources(fuzz_app.openapi())
    assert len(resources) >= 12, [r.collection for r in resources]
    headers = _run(_superuser, fuzz_app)
    failures: list[str] = []
    for resource in resources:
        created: httpx.Response | None
        if resource.collection in FIXTURE_BODIES:
            how = "fixture"
            created = _run(_fixture_create, fuzz_app, resource, headers)
        else:
            how = "generated"
            created = _generated_create(fuzz_app, fuzz_schema, resource, headers)
        if created is None or created.status_code != 201:
            failures.append(
                f"POST {resource.collection}: no generated body was accepted; add a known-good "
                f"body to FIXTURE_BODIES ({created.text[:200] if created else ''})"
            )
            continue
        item_id = created.json()["data"]["id"]
        url = resource.item.replace(f"{{{resource.param}}}", str(item_id))
        problems = _run(_check_lifecycle, fuzz_app, resource, url, item_id, headers)
        failures.extend(f"{resource.collection}: {problem}" for problem in problems)
        DELETED_RESOURCES[resource.collection] = how
    assert not failures, "\n".join(failures)
    assert len(DELETED_RESOURCES) == len(resources)


async def _check_lifecycle(
    app: FastAPI, resource: CrudResource, url: str, item_id: object, headers: dict[str, str]
) -> list[str]:
    async with _asgi_client(app) as client:
        read = await client.get(url, headers=headers)
    if read.status_code != 200 or read.json()["data"]["id"] != item_id:
        return [f"GET {url} after create: {read.status_code} {read.text[:200]}"]
    patch_body = None
    if "PATCH" in resource.item_methods:
        patch_body = await _live_patch_body(app, url, read.json()["data"], headers)
    if resource.has_list and item_id not in await _list_ids(app, resource, headers):
        return [f"the list does not show {item_id} before it is deleted"]
    async with _asgi_client(app) as client:
        deleted = await client.delete(url, headers=headers)
    if deleted.status_code != 204:
        return [f"DELETE {url}: {deleted.status_code} {deleted.text[:200]}"]
    problems = await _after_delete(app, resource, url, patch_body, headers)
    if resource.has_list and item_id in await _list_ids(app, resource, headers):
        problems.append(f"the list still shows {item_id} after DELETE")
    return problems
