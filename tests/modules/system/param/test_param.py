"""Parameters (`/api/v1/system/params`): typed values, built-in protections, optimistic
locking, the change log, and typed cached reads from code (`ParamReader`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from app.core.cache import Cache
from app.core.config import Settings
from app.core.database import run_after_commit
from app.modules.system.bootstrap import load_initial_data
from app.modules.system.operation_log.models import ChangeLog
from app.modules.system.param import reader as reader_module
from app.modules.system.param import service
from app.modules.system.param.models import Param
from app.modules.system.param.reader import ParamReader, params_for
from app.modules.system.param.schemas import ParamCreate
from app.modules.system.permissions import (
    PARAM_CREATE,
    PARAM_DELETE,
    PARAM_LIST,
    PARAM_READ,
    PARAM_UPDATE,
)
from tests.support.identity import (
    holder_headers,
    superuser_headers,
)
from tests.support.instances import second_instance
from tests.support.queries import counting, settle

URL = "/api/v1/system/params"
ALL_PARAM = [PARAM_LIST, PARAM_READ, PARAM_CREATE, PARAM_UPDATE, PARAM_DELETE]
READ_FIELDS = {
    "id",
    "key",
    "value",
    "name",
    "built_in",
    "value_type",
    "remark",
    "version",
    "created_at",
    "updated_at",
}
BUILT_INS = {
    "login.max_failures": ("int", "5"),
    "login.lockout_seconds": ("int", "300"),
    "user.default_password_change": ("bool", "true"),
    "log.retention_days": ("int", "180"),
    "site.name": ("str", "FastapiAdmin"),
    "site.logo_url": ("str", ""),
    "site.login_title": ("str", ""),
    "site.footer": ("str", "FastapiAdmin"),
}


# ------------------------------------------------------------------------- helpers --


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("name", body["key"].title())
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def built_in(app: FastAPI, key: str, value: str, value_type: str = "int") -> int:
    """A built-in parameter, as `init` makes them."""
    async with app.state.sessionmaker() as db, db.begin():
        param = Param(key=key, value=value, value_type=value_type, name=key, built_in=True)
        db.add(param)
        await db.flush()
        return param.id


def fields(response: httpx.Response) -> list[str | None]:
    return [e["field"] for e in response.json()["errors"]]


async def change_logs(app: FastAPI) -> list[ChangeLog]:
    async with app.state.sessionmaker() as db:
        statement = select(ChangeLog).where(ChangeLog.entity == "param").order_by(ChangeLog.id)
        return list((await db.execute(statement)).scalars())


# ---------------------------------------------------------------------------- CRUD --


async def test_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await holder_headers(app, ALL_PARAM)
    param = await post(
        client, headers, key="mail.retries", value=" 3 ", name=" Retries ", value_type="int"
    )
    assert set(param) == READ_FIELDS
    assert (param["key"], param["value"], param["name"], param["value_type"]) == (
        "mail.retries",
        "3",
        "Retries",
        "int",
    )
    assert (param["built_in"], param["remark"], param["version"]) == (False, None, 1)

    got = await client.get(f"{URL}/{param['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == param
    by_key = await client.get(f"{URL}/key/mail.retries", headers=headers)
    assert by_key.status_code == 200
    assert by_key.json()["data"] == param

    patched = await client.patch(
        f"{URL}/{param['id']}",
        json={"value": "+07", "remark": "SMTP", "key": "mail.max-retries"},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["key"], data["value"], data["remark"], data["version"]) == (
        "mail.max-retries",
        "7",
        "SMTP",
        2,
    )

    deleted = await client.delete(f"{URL}/{param['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    for url in (f"{URL}/{param['id']}", f"{URL}/key/mail.max-retries"):
        missing = await client.get(url, headers=headers)
        assert missing.status_code == 404, url
        assert missing.json()["message"] == "Parameter not found"
    assert (
        await client.patch(f"{URL}/{param['id']}", json={"name": "x"}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{URL}/{param['id']}", headers=headers)).status_code == 404
    assert (await client.get(f"{URL}/key/Not%20A%20Key", headers=headers)).status_code == 422


async def test_list_filters_sorting_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    headers = await superuser_headers(app)
    await built_in(app, "login.max_failures", "5")
    await post(client, headers, key="login.banner", value="Hi", name="Banner text")
    await post(client, headers, key="mail.host", value="smtp", name="Mail server")

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["login.banner", "login.max_failures", "mail.host"]
    assert await listed("key=LOGIN") == ["login.banner", "login.max_failures"]
    assert await listed("key=%25") == []  # LIKE wildcards are literal
    assert await listed("name=server") == ["mail.host"]
    assert await listed("built_in=true") == ["login.max_failures"]
    assert await listed("built_in=false") == ["login.banner", "mail.host"]
    assert await listed("sort=-key") == ["mail.host", "login.max_failures", "login.banner"]
    page = (await client.get(f"{URL}?page=2&page_size=2", headers=headers)).json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    for bad in ("sort=value", "sort=key%20desc", "built_in=maybe", "page=0"):
        assert (await client.get(f"{URL}?{bad}", headers=headers)).status_code == 422, bad


async def test_duplicate_key_is_409_naming_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    await post(client, headers, key="a.key", value="1")
    other = await post(client, headers, key="b.key", value="2")
    response = await client.post(
        URL, json={"key": "a.key", "value": "x", "name": "x"}, headers=headers
    )
    assert response.status_code == 409
    assert fields(response) == ["key"]
    response = await client.patch(f"{URL}/{other['id']}", json={"key": "a.key"}, headers=headers)
    assert response.status_code == 409
    assert fields(response) == ["key"]


@pytest.mark.parametrize(
    ("value_type", "value", "stored"),
    [
        ("str", "  hello world ", "hello world"),
        ("str", "", ""),
        ("int", "42", "42"),
        ("int", "-007", "-7"),
        ("float", "1.5", "1.5"),
        ("float", "-2e3", "-2e3"),
        ("bool", "TRUE", "true"),
        ("bool", "Yes", "true"),
        ("bool", "1", "true"),
        ("bool", "no", "false"),
        ("bool", "0", "false"),
        ("bool", "False", "false"),
        ("json", '{"a": [1, 2]}', '{"a": [1, 2]}'),
        ("json", "null", "null"),
    ],
)
async def test_values_are_validated_and_normalised(
    app: FastAPI, client: httpx.AsyncClient, value_type: str, value: str, stored: str
) -> None:
    headers = await superuser_headers(app)
    param = await post(client, headers, key="typed.value", value=value, value_type=value_type)
    assert param["value"] == stored


@pytest.mark.parametrize(
    ("value_type", "value"),
    [
        ("int", "abc"),
        ("int", "1.0"),
        ("int", ""),
        ("int", "1_000"),
        ("float", "abc"),
        ("float", "nan"),
        ("float", "inf"),
        ("bool", "maybe"),
        ("bool", "2"),
        ("json", "{a: 1}"),
        ("json", ""),
    ],
)
async def test_bad_values_are_422_naming_value(
    app: FastAPI, client: httpx.AsyncClient, value_type: str, value: str
) -> None:
    headers = await superuser_headers(app)
    response = await client.post(
        URL, json={"key": "typed.value", "value": value, "name": "x", "value_type": value_type},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert fields(response) == ["value"]


async def test_update_revalidates_the_value_against_the_type(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    param = await post(client, headers, key="free.text", value="abc")
    for body in (
        {"value_type": "int"},
        {"value_type": "json"},
        {"value": "1.5", "value_type": "int"},
    ):
        response = await client.patch(f"{URL}/{param['id']}", json=body, headers=headers)
        assert response.status_code == 422, body
        assert fields(response) == ["value"]
    response = await client.patch(
        f"{URL}/{param['id']}", json={"value": "YES", "value_type": "bool"}, headers=headers
    )
    assert response.status_code == 200
    assert (response.json()["data"]["value"], response.json()["data"]["value_type"]) == (
        "true",
        "bool",
    )
    response = await client.patch(f"{URL}/{param['id']}", json={"value": "7"}, headers=headers)
    assert response.status_code == 422  # still a bool
    assert fields(response) == ["value"]


async def test_input_validation_and_mass_assignment(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #4: `built_in`, `id`, `version` on create, and unknown fields are a 422."""
    headers = await superuser_headers(app)
    base = {"key": "ok.key", "value": "v", "name": "n"}
    cases: list[tuple[dict[str, Any], str]] = [
        (base | {"built_in": True}, "built_in"),
        (base | {"id": 9}, "id"),
        (base | {"version": 3}, "version"),
        (base | {"key": "Upper.case"}, "key"),
        (base | {"key": "1starts.with.digit"}, "key"),
        (base | {"key": "x"}, "key"),  # at least two characters
        (base | {"key": "k" * 101}, "key"),
        (base | {"key": "has space"}, "key"),
        (base | {"value_type": "date"}, "value_type"),
        (base | {"name": ""}, "name"),
        ({"key": "ok.key", "name": "n"}, "value"),
    ]
    for body, field in cases:
        response = await client.post(URL, json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in fields(response), (body, response.json())
    param = await post(client, headers, **base)
    patches: list[tuple[dict[str, Any], str]] = [
        ({"built_in": True}, "built_in"),
        ({"id": 1}, "id"),
        ({"value": None}, "value"),
        ({"version": 0}, "version"),
    ]
    for body, field in patches:
        response = await client.patch(f"{URL}/{param['id']}", json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in fields(response)
    async with app.state.sessionmaker() as db:
        assert (await db.get(Param, param["id"])) is not None
        flags = list((await db.execute(select(Param.built_in))).scalars())
    assert flags == [False]


# ------------------------------------------------------------------- built-in rules --


async def test_built_in_params_keep_key_and_type_and_cannot_be_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    param_id = await built_in(app, "login.max_failures", "5")
    response = await client.delete(f"{URL}/{param_id}", headers=headers)
    assert response.status_code == 409
    assert response.json()["message"] == "Conflict: a built-in parameter cannot be deleted"
    for body, field in [
        ({"key": "login.max-failures"}, "key"),
        ({"value_type": "str"}, "value_type"),
        ({"value": "x", "value_type": "str"}, "value_type"),
    ]:
        response = await client.patch(f"{URL}/{param_id}", json=body, headers=headers)
        assert response.status_code == 409, body
        assert fields(response) == [field]
    response = await client.patch(f"{URL}/{param_id}", json={"built_in": False}, headers=headers)
    assert response.status_code == 422
    assert fields(response) == ["built_in"]

    # Value, name and remark change; repeating the current key and type is harmless.
    response = await client.patch(
        f"{URL}/{param_id}",
        json={
            "value": "8",
            "name": "Max failures",
            "remark": "r",
            "key": "login.max_failures",
            "value_type": "int",
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["value"], data["name"], data["remark"], data["built_in"]) == (
        "8",
        "Max failures",
        "r",
        True,
    )
    response = await client.patch(f"{URL}/{param_id}", json={"value": "eight"}, headers=headers)
    assert response.status_code == 422
    assert (await client.get(f"{URL}/{param_id}", headers=headers)).json()["data"]["value"] == "8"


async def test_initial_params_are_built_in_and_loaded_idempotently(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    configured = settings.model_copy(
        update={"init_admin_password": SecretStr("a long tea kettle phrase 42")}
    )
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(update(Param).where(Param.key == "site.name").values(value="Acme"))
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    async with app.state.sessionmaker() as db:
        rows = {p.key: p for p in (await db.execute(select(Param))).scalars()}
    assert set(rows) == set(BUILT_INS)
    for key, (value_type, value) in BUILT_INS.items():
        expected = "Acme" if key == "site.name" else value
        assert (rows[key].value_type, rows[key].value, rows[key].built_in) == (
            value_type,
            expected,
            True,
        ), key
    reader = params_for(app)
    assert await reader.get_int("login.max_failures", default=0) == 5
    assert await reader.get_bool("user.default_password_change", default=False) is True
    headers = await superuser_headers(app)
    deleted = await client.delete(f"{URL}/{rows['log.retention_days'].id}", headers=headers)
    assert deleted.status_code == 409


# ------------------------------------------------------ change log and version --


async def test_changes_are_recorded_with_only_the_changed_fields(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    param = await post(client, headers, key="audit.me", value="1", value_type="int")
    response = await client.patch(
        f"{URL}/{param['id']}", json={"value": "2", "name": "Audit.Me"}, headers=headers
    )
    assert response.status_code == 200
    assert [log.action for log in await change_logs(app)] == ["create", "update"]
    update_log = (await change_logs(app))[1]
    assert update_log.entity_id == str(param["id"])
    assert update_log.before == {"value": "1"}
    assert update_log.after == {"value": "2"}
    assert update_log.user_id is not None

    # A no-op update adds no row; a delete records what was there.
    noop = await client.patch(f"{URL}/{param['id']}", json={"value": "2"}, headers=headers)
    assert noop.status_code == 200
    assert (await client.delete(f"{URL}/{param['id']}", headers=headers)).status_code == 204
    logs = await change_logs(app)
    assert [log.action for log in logs] == ["create", "update", "delete"]
    assert logs[0].after == {
        "key": "audit.me",
        "value": "1",
        "name": "Audit.Me",
        "value_type": "int",
        "remark": None,
    }
    assert logs[2].before is not None and logs[2].before["value"] == "2"
    assert logs[2].after is None


async def test_two_writers_with_the_same_version_one_wins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """docs/security-checklist.md §0 #19: optimistic locking; the loser gets 409 and changes
    nothing."""
    headers = await superuser_headers(app)
    param = await post(client, headers, key="contended", value="start")
    version = param["version"]
    first = await client.patch(
        f"{URL}/{param['id']}", json={"value": "first", "version": version}, headers=headers
    )
    second = await client.patch(
        f"{URL}/{param['id']}", json={"value": "second", "version": version}, headers=headers
    )
    assert first.status_code == 200
    assert first.json()["data"]["version"] == version + 1
    assert second.status_code == 409
    assert fields(second) == ["version"]
    assert "modified by someone else" in second.json()["message"]
    now = (await client.get(f"{URL}/{param['id']}", headers=headers)).json()["data"]
    assert (now["value"], now["version"]) == ("first", version + 1)
    # Sending the current version succeeds; sending none skips the check.
    ok = await client.patch(
        f"{URL}/{param['id']}", json={"value": "third", "version": version + 1}, headers=headers
    )
    assert ok.status_code == 200
    assert (
        await client.patch(f"{URL}/{param['id']}", json={"value": "4th"}, headers=headers)
    ).status_code == 200


async def test_concurrent_flush_of_a_stale_row_is_refused(app: FastAPI) -> None:
    """The mapper's version column: a write based on a row that changed since it was read
    fails (the HTTP layer maps StaleDataError to 409)."""
    async with app.state.sessionmaker() as db, db.begin():
        param = Param(key="raced", value="a", name="n")
        db.add(param)
    async with app.state.sessionmaker() as first:
        stale = await first.get(Param, param.id)  # read at version 1, kept after close
    assert stale is not None
    async with app.state.sessionmaker() as second, second.begin():
        fresh = await second.get(Param, param.id)
        assert fresh is not None
        fresh.value = "b"  # version 2
    async with app.state.sessionmaker() as third:
        third.add(stale)
        stale.value = "c"
        with pytest.raises(StaleDataError):
            await third.flush()
        await third.rollback()
    async with app.state.sessionmaker() as db:
        assert (await db.get(Param, param.id)) is not None
        assert (await db.scalar(select(Param.value).where(Param.id == param.id))) == "b"


# ------------------------------------------------------------------------ access --


async def test_permissions_401_and_403(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await superuser_headers(app)
    param = await post(client, admin, key="perm.key", value="v")
    routes: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", URL, None, PARAM_LIST),
        ("GET", f"{URL}/{param['id']}", None, PARAM_READ),
        ("GET", f"{URL}/key/perm.key", None, PARAM_READ),
        ("POST", URL, {"key": "new.key", "value": "v", "name": "n"}, PARAM_CREATE),
        ("PATCH", f"{URL}/{param['id']}", {"name": "n"}, PARAM_UPDATE),
        ("DELETE", f"{URL}/{param['id']}", None, PARAM_DELETE),
    ]
    nobody = await holder_headers(app, [])
    for method, url, body, code in routes:
        assert (await client.request(method, url, json=body)).status_code == 401, url
        denied = await client.request(method, url, json=body, headers=nobody)
        assert denied.status_code == 403, (method, url)
        others = await holder_headers(app, [c for c in ALL_PARAM if c != code])
        response = await client.request(method, url, json=body, headers=others)
        assert response.status_code == 403, (method, url)
        allowed = await holder_headers(app, [code])
        response = await client.request(method, url, json=body, headers=allowed)
        assert response.status_code in (200, 201, 204), (method, url, response.text)


# ------------------------------------------------------------------- ParamReader --


class RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


async def test_reader_typed_values_defaults_and_bad_values(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await superuser_headers(app)
    for key, value, value_type in [
        ("n.int", "42", "int"),
        ("n.float", "2.5", "float"),
        ("n.bool", "no", "bool"),
        ("n.json", '{"a": [1, 2]}', "json"),
        ("n.text", "hello", "str"),
        ("n.number.text", "7", "str"),
    ]:
        await post(client, headers, key=key, value=value, value_type=value_type)
    log = RecordingLog()
    monkeypatch.setattr(reader_module, "log", log)
    params = params_for(app)

    assert await params.get_int("n.int", default=5) == 42
    assert await params.get_int("n.number.text") == 7  # parsed as asked, whatever the type
    assert await params.get_float("n.float", default=0.0) == 2.5
    assert await params.get_float("n.int") == 42.0
    assert await params.get_bool("n.bool", default=True) is False
    assert await params.get_json("n.json") == {"a": [1, 2]}
    assert await params.get_str("n.text") == "hello"
    assert await params.get_str("n.int") == "42"
    assert await params.get_str("n.text", default="x") == "hello"
    assert log.warnings == []

    # Missing keys give the default, silently.
    assert await params.get_int("login.max_failures", default=5) == 5
    assert await params.get_int("missing") is None
    assert await params.get_str("missing", default="d") == "d"
    assert await params.get_bool("missing", default=True) is True
    assert await params.get_json("missing", default=[]) == []
    assert log.warnings == []

    # Values that do not parse as the type asked for give the default, with one warning.
    assert await params.get_int("n.text", default=3) == 3
    assert await params.get_int("n.text", default=3) == 3
    assert await params.get_float("n.text", default=1.5) == 1.5
    assert await params.get_bool("n.text") is None
    assert await params.get_json("n.text", default={}) == {}
    assert await params.get_int("n.float", default=-1) == -1
    assert [(event, f["key"], f["expected"]) for event, f in log.warnings] == [
        ("param_bad_value", "n.text", "int"),
        ("param_bad_value", "n.text", "float"),
        ("param_bad_value", "n.text", "bool"),
        ("param_bad_value", "n.text", "json"),
        ("param_bad_value", "n.float", "int"),
    ]
    assert all("value" not in f for _, f in log.warnings), "values are not logged"


async def test_reader_warm_read_is_one_cache_round_trip_and_no_query(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await superuser_headers(app)
    await post(client, headers, key="warm.limit", value="10", value_type="int")
    params = params_for(app)
    assert await params.get_int("warm.limit") == 10  # warms this process and the cache

    cache: Cache = app.state.cache
    calls: list[str] = []
    for name in ("get", "get_many", "get_json", "set", "set_nx", "set_json"):
        real = getattr(cache, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    await settle(app)
    with counting(app) as statements:
        for _ in range(3):
            assert await params.get_int("warm.limit") == 10
    assert statements == []
    assert calls == ["get"] * 3

    # Another process (empty memo) finds the map in the shared cache: still no query.
    calls.clear()
    fresh = ParamReader(cache, app.state.sessionmaker)
    await settle(app)
    with counting(app) as statements:
        assert await fresh.get_int("warm.limit") == 10
    assert statements == []
    assert calls == ["get", "get_json", "get"]  # the version, then the map (get_json -> get)


async def test_reader_sees_api_changes_on_the_next_read(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    params = params_for(app)
    assert await params.get_int("live.limit", default=1) == 1
    param = await post(client, headers, key="live.limit", value="10", value_type="int")
    assert await params.get_int("live.limit", default=1) == 10
    response = await client.patch(f"{URL}/{param['id']}", json={"value": "20"}, headers=headers)
    assert response.status_code == 200
    assert await params.get_int("live.limit", default=1) == 20
    response = await client.patch(f"{URL}/{param['id']}", json={"key": "live.max"}, headers=headers)
    assert response.status_code == 200
    assert await params.get_int("live.limit", default=1) == 1
    assert await params.get_int("live.max") == 20
    assert (await client.delete(f"{URL}/{param['id']}", headers=headers)).status_code == 204
    assert await params.get_int("live.max") is None


async def test_version_is_bumped_before_and_after_commit(app: FastAPI) -> None:
    cache: Cache = app.state.cache
    await reader_module.invalidate(cache)
    start = await cache.get(reader_module.VERSION_KEY)
    async with app.state.sessionmaker() as db:
        await service.create_param(db, cache, ParamCreate(key="bumped", value="1", name="n"))
        during = await cache.get(reader_module.VERSION_KEY)
        await db.commit()
        await run_after_commit(db)
    after = await cache.get(reader_module.VERSION_KEY)
    assert len({start, during, after}) == 3


async def test_a_second_instance_sees_changes_on_its_next_read(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """docs/security-checklist.md §6 (config cache): a change made on A is read by B at once."""
    if not settings.redis_url:
        pytest.skip("instances share a cache only through Redis (set TEST_REDIS_URL)")
    headers = await superuser_headers(app)
    param = await post(client, headers, key="shared.limit", value="1", value_type="int")
    async with second_instance(
        settings, redis_url=settings.redis_url, cache_prefix=settings.cache_prefix
    ) as other:
        theirs = params_for(other)
        assert theirs is not params_for(app)
        assert await theirs.get_int("shared.limit") == 1
        await settle(other)
        with counting(other) as statements:
            assert await theirs.get_int("shared.limit") == 1
        assert statements == []
        response = await client.patch(f"{URL}/{param['id']}", json={"value": "2"}, headers=headers)
        assert response.status_code == 200
        assert await theirs.get_int("shared.limit") == 2


async def test_reader_falls_back_to_the_database_when_the_cache_is_down(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await superuser_headers(app)
    await post(client, headers, key="down.limit", value="3", value_type="int")
    async with second_instance(settings, redis_url="redis://127.0.0.1:1") as other:
        params = params_for(other)
        assert await params.get_int("down.limit", default=0) == 3
        assert await params.get_str("missing", default="d") == "d"


async def test_the_dependency_gives_one_reader_per_app(app: FastAPI) -> None:
    from starlette.requests import Request

    from app.modules.system.param.reader import get_params

    request = Request({"type": "http", "app": app})
    assert get_params(request) is params_for(app)
    assert params_for(app) is app.state.param_reader
