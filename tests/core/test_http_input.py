"""Input at the edges (docs/http.md, docs/security.md "Round two: input at the edges"):
datetimes, integer bounds, strict ids, unknown query parameters, validation wording, the
trailing-slash redirect and the statuses every route documents.

docs/security-checklist.md §1.6 (ASVS 4.1), §1.7 (16.5.1: never a 500 for bad input), API4, API8.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from app.core.schemas import INT32_MAX, MAX_ID, pattern_hint
from app.modules.system.login_log.models import LoginLog
from tests.security.routes import operations
from tests.support.identity import auth_headers, create_user

LOGS = ("/api/v1/system/operation-logs", "/api/v1/system/login-logs")
NAIVE = "2026-01-01T00:00:00"
# Valid ISO 8601 with an offset, but with no UTC equivalent inside 0001..9999.
OUT_OF_RANGE = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
NOT_IDS = ("1_0", "+1", "01", " 1", "1.0", "true", "0x1", "\uff11", str(MAX_ID + 1), str(2**64))


@pytest.fixture
async def admin(app: FastAPI) -> dict[str, str]:
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, is_superuser=True)
    return await auth_headers(app, user)


def _field(response: httpx.Response) -> tuple[str | None, str | None]:
    error = response.json()["errors"][0]
    return error["location"], error["field"]


# ------------------------------------------------------------------------ datetimes --


async def test_naive_datetimes_in_log_filters_exports_and_clearing_are_read_as_utc(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 8: `?since=2026-01-01T00:00:00` (what date pickers send) was a 500 in the log
    filters, exports and clearing; it now means the same as `...Z`."""
    async with app.state.sessionmaker() as db, db.begin():
        for hour in (1, 3):  # 01:00Z and 03:00Z on 2026-01-01
            await db.execute(
                insert(LoginLog).values(
                    username="someone",
                    ip="192.0.2.1",
                    event="login",
                    success=False,
                    created_at=datetime(2026, 1, 1, hour, tzinfo=UTC),
                )
            )
    url = "/api/v1/system/login-logs"
    naive = await client.get(url, params={"since": "2026-01-01T02:00:00"}, headers=admin)
    aware = await client.get(url, params={"since": "2026-01-01T02:00:00Z"}, headers=admin)
    assert naive.status_code == aware.status_code == 200, naive.text
    assert naive.json()["data"]["total"] == aware.json()["data"]["total"]
    assert [i["created_at"] for i in naive.json()["data"]["items"]] == ["2026-01-01T03:00:00Z"]
    for base in LOGS:
        for params in ({"since": NAIVE}, {"until": NAIVE}):
            listed = await client.get(base, params=params, headers=admin)
            assert listed.status_code == 200, (base, listed.text)
            exported = await client.get(f"{base}/export", params=params, headers=admin)
            assert exported.status_code == 200, (base, exported.text)
        cleared = await client.delete(base, params={"before": "2026-01-01T02:00:00"}, headers=admin)
        assert cleared.status_code == 200, (base, cleared.text)
    assert (await client.get(url, headers=admin)).json()["data"]["total"] == 1  # 03:00Z stays


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_datetimes_without_a_utc_equivalent_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], value: str
) -> None:
    """Item 8: an offset pushing the time past year 1 or 9999 in UTC was a 500 (overflow)."""
    for base in LOGS:
        for path, method, name in (
            (base, "GET", "since"),
            (base, "GET", "until"),
            (f"{base}/export", "GET", "since"),
            (base, "DELETE", "before"),
        ):
            response = await client.request(method, path, params={name: value}, headers=admin)
            assert response.status_code == 422, (method, path, name, response.text)
            assert _field(response) == ("query", name)
            assert f"query.{name} must lie between" in response.json()["message"]


async def test_job_trigger_times_need_an_offset_and_a_utc_equivalent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 8: a job's `run_at` sits next to the job's own `timezone`, so a naive one is
    ambiguous: refused with 422 naming it, as is a time past 9999 in UTC, never a 500."""
    targets = (await client.get("/api/v1/scheduler/targets", headers=admin)).json()["data"]
    target = next(t["name"] for t in targets if not t.get("args_schema", {}).get("required"))
    cases = [
        ({"type": "date", "run_at": NAIVE}, "must include a time zone offset"),
        ({"type": "date", "run_at": OUT_OF_RANGE[1]}, "must lie between"),
        ({"type": "interval", "seconds": 60, "start_at": OUT_OF_RANGE[0]}, "must lie between"),
        ({"type": "interval", "seconds": 60, "start_at": NAIVE}, "must include a time zone"),
    ]
    for trigger, words in cases:
        body = {"name": "edge", "target": target, "trigger": trigger}
        response = await client.post("/api/v1/scheduler/jobs", json=body, headers=admin)
        assert response.status_code == 422, (trigger, response.text)
        location, field = _field(response)
        assert location == "body" and field is not None and field.startswith("trigger.")
        assert words in response.json()["errors"][0]["message"]
    runs = await client.get(
        "/api/v1/scheduler/job-runs", params={"scheduled_from": NAIVE}, headers=admin
    )
    assert runs.status_code == 200, runs.text


# --------------------------------------------------------------------- integers, ids --


def _integer_path_params(app: FastAPI) -> Iterator[tuple[str, str, str]]:
    for method, path, operation in operations(app):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                yield method, path, parameter["name"]


async def test_every_integer_path_id_is_strict_and_bounded(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 8: `/users/1_0` was user 10 (Python's digit separator), and a path id past the
    BIGINT range was a 500 on the operation log. Every integer path parameter, on every
    route: plain digits between 1 and 2**63-1, anything else a 422 naming the parameter."""
    checked = 0
    for method, path, name in _integer_path_params(app):
        for bad in NOT_IDS:
            url = path.replace(f"{{{name}}}", bad)
            response = await client.request(method, url, headers=admin)
            assert response.status_code == 422, (method, url, response.status_code)
            errors = {(e["location"], e["field"]): e["message"] for e in response.json()["errors"]}
            assert ("path", name) in errors, (method, url, response.text)
            assert errors["path", name].startswith("must")
        checked += 1
    assert checked >= 40


async def test_body_and_query_ids_are_strict_and_bounded(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 8: `true` or `"1_0"` in a body is not dept 1 or 10; a query id past 2**63-1 is 422."""
    for bad in (True, "1_0", 1.5, MAX_ID + 1, 0):
        body = {"username": "idcheck", "name": "Id check", "password": "x" * 20, "dept_id": bad}
        response = await client.post("/api/v1/system/users", json=body, headers=admin)
        assert response.status_code == 422, (bad, response.text)
        assert ("body", "dept_id") in {
            (e["location"], e["field"]) for e in response.json()["errors"]
        }
    for bad in ("1_0", str(MAX_ID + 1)):
        response = await client.get("/api/v1/system/users", params={"dept_id": bad}, headers=admin)
        assert response.status_code == 422, response.text
        assert _field(response) == ("query", "dept_id")


def _integer_schemas(
    node: Any, components: dict[str, Any], where: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in components.setdefault("__seen__", set()):
                components["__seen__"].add(name)
                yield from _integer_schemas(components[name], components, f"{where}>{name}")
            return
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from _integer_schemas(value, components, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _integer_schemas(value, components, f"{where}[{index}]")


def test_every_integer_a_request_carries_is_bounded_to_what_the_databases_store(
    app: FastAPI,
) -> None:
    """Item 8: every integer of a path, query or body has a minimum and a maximum inside
    BIGINT (and inside INTEGER for `version`), so no value reaches a database that cannot
    store it. Read from the OpenAPI document, so a new module is covered without a line here."""
    document = app.openapi()
    unbounded = []
    for method, path, operation in operations(app):
        inputs = {
            "parameters": operation.get("parameters", []),
            "body": operation.get("requestBody", {}),
        }
        components = dict(document["components"]["schemas"])
        for where, schema in _integer_schemas(inputs, components, f"{method} {path}"):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is None or high is None:
                unbounded.append(where)
                continue
            # FastAPI's OpenAPI model keeps bounds as floats: 2**63-1 reads 9.223372036854776e18.
            too_wide = where.endswith(".version") and high > INT32_MAX
            if low < -float(2**63) or high > float(MAX_ID) or too_wide:
                unbounded.append(where)
    assert not unbounded, unbounded


def test_every_pattern_a_request_carries_has_words_for_people(app: FastAPI) -> None:
    """Item 9: no regular expression is ever shown; every pattern says what it allows."""
    document = app.openapi()

    def patterns(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = set(patterns(document["paths"])) | set(patterns(document["components"]))
    assert found
    assert {p for p in found if pattern_hint(p) is None} == set()


# ----------------------------------------------------------- unknown query parameters --


async def test_unknown_query_parameters_are_refused_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 9 (operator experience): `?deptid=3` for `?dept_id=3` returned every user; now
    every GET refuses a parameter it does not read with 422 naming it."""
    checked = 0
    for method, path, _operation in operations(app):
        if method != "GET" or "{" in path or not path.startswith("/api/v1/"):
            continue
        response = await client.get(path, params={"deptid": "3"}, headers=admin)
        assert response.status_code == 422, (path, response.status_code, response.text[:200])
        assert _field(response) == ("query", "deptid"), (path, response.text)
        assert "is not a parameter of this endpoint" in response.json()["message"]
        checked += 1
    assert checked >= 25
    # Declared parameters still work, on lists and their dependencies alike.
    users = await client.get(
        "/api/v1/system/users", params={"page": 1, "sort": "-created_at"}, headers=admin
    )
    assert users.status_code == 200, users.text
    # The docs pages keep their own parameters (Swagger's OAuth2 redirect).
    docs = await client.get("/api/v1/docs/oauth2-redirect", params={"code": "x", "state": "y"})
    assert docs.status_code == 200


# ----------------------------------------------------------------- validation wording --


async def test_validation_messages_name_real_fields_in_words(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Item 9: no regular expression, no pydantic wording, no character offset as a field."""
    bad_username = await client.post(
        "/api/v1/system/users",
        json={"username": "a b", "name": "A", "password": "x" * 20},
        headers=admin,
    )
    assert bad_username.status_code == 422
    body = bad_username.json()
    assert body["message"].startswith("Validation failed: body.username may contain only")
    assert "^" not in bad_username.text and "should match pattern" not in bad_username.text
    assert _field(bad_username) == ("body", "username")

    broken = await client.post(
        "/api/v1/system/users",
        content=b'{"username": "abc", ',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    error = broken.json()["errors"][0]
    assert (error["location"], error["field"]) == ("body", None)
    assert error["message"] == "is not valid JSON"
    assert broken.json()["message"] == "Validation failed: body is not valid JSON"

    wrong_type = await client.get("/api/v1/system/users", params={"page": "two"}, headers=admin)
    assert wrong_type.json()["errors"][0]["message"] == "must be a whole number"
    assert "Input should" not in wrong_type.text


async def test_json_sent_to_the_sign_in_form_says_it_expects_form_fields(
    client: httpx.AsyncClient,
) -> None:
    """Item 9: JSON to the OAuth2 form answered only `Field required` twice."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": "secret-secret"}
    )
    assert response.status_code == 422
    first = response.json()["errors"][0]
    assert (first["location"], first["field"]) == ("header", "Content-Type")
    assert "application/x-www-form-urlencoded" in response.json()["message"]
    assert "not application/json" in first["message"]
    assert "secret-secret" not in response.text


# --------------------------------------------------------------- trailing-slash redirect --


async def test_trailing_slash_redirect_is_relative_whatever_the_host_header(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """13b: the redirect was built from `Host` (`Host: evil.example` sent the client there)."""
    response = await client.get(
        "/api/v1/system/users/?page=2", headers={**admin, "Host": "evil.example"}
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/api/v1/system/users?page=2"
    for path in ("//evil.example/api/v1/system/users/", "/\\evil.example/"):
        other = await client.get(path, headers={"Host": "evil.example"})
        assert "evil.example" not in other.headers.get("location", ""), other.headers
    assert (await client.get("/api/v1/nowhere/")).status_code == 404


# ------------------------------------------------------- statuses every route documents --


def test_every_operation_documents_429_with_retry_after_and_the_shared_statuses(
    app: FastAPI,
) -> None:
    """13g: every route can answer 429 (rate limits) and 422 (unknown query parameters);
    routes on the database or cache 503; both with `Retry-After`; routes with a body 413."""
    missing: list[str] = []
    for method, path, operation in operations(app):
        if not path.startswith("/api/v1/"):
            continue
        responses = operation["responses"]
        wanted = {"422"}
        if not path.startswith("/api/v1/health/"):
            wanted.add("429")
        if path != "/api/v1/health/live":
            wanted.add("503")
        if "requestBody" in operation:
            wanted.add("413")
        missing.extend(f"{method} {path}: {code}" for code in wanted - set(responses))
        for code in ("429", "503"):
            if code in responses and "Retry-After" not in responses[code].get("headers", {}):
                missing.append(f"{method} {path}: {code} without Retry-After")
    assert not missing, missing


def test_the_shared_declarations_do_not_pile_up_when_apps_are_built_again(
    app: FastAPI,
) -> None:
    """Routers are module-level: building another app must not change what one documents."""
    from app.main import create_app

    before = app.openapi()["paths"]["/api/v1/system/users"]["get"]["responses"]
    create_app(app.state.settings)
    app.openapi_schema = None
    assert app.openapi()["paths"]["/api/v1/system/users"]["get"]["responses"] == before
