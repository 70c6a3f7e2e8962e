"""Dictionaries: types (`/api/v1/system/dict-types`), items (`/api/v1/system/dict-data`) and
the cached public read (`/api/v1/system/dicts/{type_code}`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select, update

from app.core.access import DataScope, Principal
from app.core.cache import Cache
from app.core.config import Settings
from app.core.database import run_after_commit
from app.core.guard import get_principal
from app.modules.system.bootstrap import load_initial_data
from app.modules.system.dict import cache as dict_cache
from app.modules.system.dict import service
from app.modules.system.dict.models import DictData, DictType
from app.modules.system.dict.schemas import DictTypeCreate
from app.modules.system.permissions import (
    DICT_CREATE,
    DICT_DELETE,
    DICT_LIST,
    DICT_READ,
    DICT_UPDATE,
)
from tests.support.identity import (
    holder_headers,
    superuser_headers,
)
from tests.support.instances import second_instance
from tests.support.queries import beyond_session_check, counting, settle

TYPES = "/api/v1/system/dict-types"
DATA = "/api/v1/system/dict-data"
DICTS = "/api/v1/system/dicts"
ALL_DICT = [DICT_LIST, DICT_READ, DICT_CREATE, DICT_UPDATE, DICT_DELETE]
TYPE_FIELDS = {"id", "name", "code", "status", "remark", "created_at", "updated_at"}
DATA_FIELDS = {
    "id",
    "type_code",
    "label",
    "value",
    "sort",
    "status",
    "tag",
    "remark",
    "created_at",
    "updated_at",
}
ITEM_FIELDS = {"label", "value", "tag", "sort"}


# ------------------------------------------------------------------------- helpers --


async def post(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def make_dict(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, *items: tuple[str, str, int]
) -> dict[str, Any]:
    """A type with items given as (label, value, sort)."""
    created = await post(client, TYPES, headers, name=code.title(), code=code)
    for label, value, sort in items:
        await post(
            client, DATA, headers, type_code=code, label=label, value=value, sort=sort, tag="info"
        )
    return created


async def read_dict(
    client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{DICTS}/{code}", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


def fields(response: httpx.Response) -> list[str | None]:
    return [e["field"] for e in response.json()["errors"]]


# ------------------------------------------------------------------------ dict types --


async def test_type_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await holder_headers(app, ALL_DICT)
    created = await post(client, TYPES, headers, name=" Gender ", code="gender", remark="people")
    assert set(created) == TYPE_FIELDS
    assert (created["name"], created["code"], created["status"], created["remark"]) == (
        "Gender",
        "gender",
        "active",
        "people",
    )

    got = await client.get(f"{TYPES}/{created['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == created

    patched = await client.patch(
        f"{TYPES}/{created['id']}",
        json={"name": "Sex", "status": "disabled", "remark": ""},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["name"], data["status"], data["remark"], data["code"]) == (
        "Sex",
        "disabled",
        None,
        "gender",
    )

    deleted = await client.delete(f"{TYPES}/{created['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get(f"{TYPES}/{created['id']}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["message"] == "Dictionary type not found"
    assert (
        await client.patch(f"{TYPES}/{created['id']}", json={"name": "x"}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{TYPES}/{created['id']}", headers=headers)).status_code == 404


async def test_type_list_filters_sorting_and_paging(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #12: only whitelisted sort fields reach SQL."""
    headers = await superuser_headers(app)
    await post(client, TYPES, headers, name="Order status", code="order_status")
    await post(client, TYPES, headers, name="User status", code="user_status")
    await post(client, TYPES, headers, name="Color", code="color", status="disabled")

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{TYPES}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["code"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["color", "order_status", "user_status"]
    assert await listed("name=STATUS") == ["order_status", "user_status"]
    assert await listed("name=%25") == []  # LIKE wildcards are literal
    assert await listed("code=user_status") == ["user_status"]
    assert await listed("code=user") == []  # exact, not contains
    assert await listed("status=disabled") == ["color"]
    assert await listed("sort=-code") == ["user_status", "order_status", "color"]
    assert await listed("sort=-created_at") == ["color", "user_status", "order_status"]
    page = (await client.get(f"{TYPES}?page=2&page_size=2", headers=headers)).json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    assert [item["code"] for item in page["items"]] == ["user_status"]
    for bad in ("sort=remark", "sort=code;drop", "status=x", "page=0", "page_size=101"):
        assert (await client.get(f"{TYPES}?{bad}", headers=headers)).status_code == 422, bad


async def test_type_duplicate_code_is_409_naming_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    await post(client, TYPES, headers, name="A", code="alpha")
    other = await post(client, TYPES, headers, name="B", code="beta")
    response = await client.post(TYPES, json={"name": "Again", "code": "alpha"}, headers=headers)
    assert response.status_code == 409
    assert fields(response) == ["code"]
    response = await client.patch(f"{TYPES}/{other['id']}", json={"code": "alpha"}, headers=headers)
    assert response.status_code == 409
    assert fields(response) == ["code"]
    # Keeping one's own code is no conflict.
    same = await client.patch(f"{TYPES}/{other['id']}", json={"code": "beta"}, headers=headers)
    assert same.status_code == 200


async def test_type_validation_and_mass_assignment(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #4: unknown fields (`id`, timestamps) are a 422, never applied."""
    headers = await superuser_headers(app)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "code": "Upper"}, "code"),
        ({"name": "x", "code": "has space"}, "code"),
        ({"name": "x", "code": "c" * 101}, "code"),
        ({"name": "", "code": "ok"}, "name"),
        ({"name": "x", "code": "ok", "status": "on"}, "status"),
        ({"name": "x", "code": "ok", "id": 7}, "id"),
        ({"name": "x", "code": "ok", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ]
    for body, field in cases:
        response = await client.post(TYPES, json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in fields(response), (body, response.json())
    created = await post(client, TYPES, headers, name="x", code="ok")
    patches: list[tuple[dict[str, Any], str]] = [
        ({"id": 99}, "id"),
        ({"name": None}, "name"),
        ({"code": "A"}, "code"),
    ]
    for body, field in patches:
        response = await client.patch(f"{TYPES}/{created['id']}", json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in fields(response)
    assert (await client.get(f"{TYPES}/{created['id']}", headers=headers)).json()["data"][
        "name"
    ] == "x"


async def test_type_code_change_cascades_to_items(app: FastAPI, client: httpx.AsyncClient) -> None:
    """ON UPDATE CASCADE: the items follow their type's new code, on every database."""
    headers = await superuser_headers(app)
    created = await make_dict(client, headers, "colour", ("Red", "r", 1), ("Blue", "b", 2))
    assert [i["value"] for i in await read_dict(client, headers, "colour")] == ["r", "b"]

    response = await client.patch(
        f"{TYPES}/{created['id']}", json={"code": "color"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["code"] == "color"

    async with app.state.sessionmaker() as db:
        codes = set((await db.execute(select(DictData.type_code))).scalars())
    assert codes == {"color"}
    listed = (await client.get(f"{DATA}?type_code=color", headers=headers)).json()["data"]
    assert listed["total"] == 2
    assert (await client.get(f"{DATA}?type_code=colour", headers=headers)).json()["data"][
        "total"
    ] == 0
    # The public read follows at once: the new code serves the items, the old one is gone.
    assert [i["value"] for i in await read_dict(client, headers, "color")] == ["r", "b"]
    assert (await client.get(f"{DICTS}/colour", headers=headers)).status_code == 404


async def test_deleting_a_type_deletes_its_items(app: FastAPI, client: httpx.AsyncClient) -> None:
    """ON DELETE CASCADE."""
    headers = await superuser_headers(app)
    gone = await make_dict(client, headers, "gone", ("A", "a", 1), ("B", "b", 2))
    await make_dict(client, headers, "kept", ("C", "c", 1))
    assert (await client.delete(f"{TYPES}/{gone['id']}", headers=headers)).status_code == 204
    async with app.state.sessionmaker() as db:
        left = [tuple(row) for row in await db.execute(select(DictData.type_code, DictData.value))]
    assert left == [("kept", "c")]
    assert (await client.get(f"{DICTS}/gone", headers=headers)).status_code == 404


# ------------------------------------------------------------------------- dict data --


async def test_data_crud_happy_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await holder_headers(app, ALL_DICT)
    await post(client, TYPES, headers, name="Level", code="level")
    await post(client, TYPES, headers, name="Other", code="other")
    item = await post(
        client,
        DATA,
        headers,
        type_code="level",
        label=" High ",
        value="h",
        sort=3,
        tag="danger",
        remark="",
    )
    assert set(item) == DATA_FIELDS
    assert (item["type_code"], item["label"], item["value"], item["sort"]) == (
        "level",
        "High",
        "h",
        3,
    )
    assert (item["status"], item["tag"], item["remark"]) == ("active", "danger", None)

    got = await client.get(f"{DATA}/{item['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == item

    patched = await client.patch(
        f"{DATA}/{item['id']}",
        json={"label": "Highest", "value": "hh", "tag": None, "type_code": "other"},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["label"], data["value"], data["tag"], data["type_code"]) == (
        "Highest",
        "hh",
        None,
        "other",
    )

    assert (await client.delete(f"{DATA}/{item['id']}", headers=headers)).status_code == 204
    missing = await client.get(f"{DATA}/{item['id']}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["message"] == "Dictionary item not found"
    assert (
        await client.patch(f"{DATA}/{item['id']}", json={"sort": 1}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{DATA}/{item['id']}", headers=headers)).status_code == 404


async def test_data_unknown_type_is_422_naming_type_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    await make_dict(client, headers, "known", ("A", "a", 1))
    response = await client.post(
        DATA, json={"type_code": "unknown", "label": "x", "value": "x"}, headers=headers
    )
    assert response.status_code == 422
    assert fields(response) == ["type_code"]
    item_id = (await client.get(f"{DATA}?type_code=known", headers=headers)).json()["data"][
        "items"
    ][0]["id"]
    response = await client.patch(
        f"{DATA}/{item_id}", json={"type_code": "unknown"}, headers=headers
    )
    assert response.status_code == 422
    assert fields(response) == ["type_code"]


async def test_data_duplicate_value_is_409_naming_value(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    await make_dict(client, headers, "first", ("A", "a", 1), ("B", "b", 2))
    await make_dict(client, headers, "second", ("A", "a", 1))  # same value, other type: fine
    for value in ("a", "A"):  # case-insensitively, so every database agrees
        response = await client.post(
            DATA, json={"type_code": "first", "label": "Again", "value": value}, headers=headers
        )
        assert response.status_code == 409, value
        assert fields(response) == ["value"]
    items = (await client.get(f"{DATA}?type_code=first&sort=value", headers=headers)).json()[
        "data"
    ]["items"]
    b_id = items[1]["id"]
    response = await client.patch(f"{DATA}/{b_id}", json={"value": "a"}, headers=headers)
    assert response.status_code == 409
    assert fields(response) == ["value"]
    # Moving into a type that already has the value is also a conflict.
    second_a = (await client.get(f"{DATA}?type_code=second", headers=headers)).json()["data"][
        "items"
    ][0]["id"]
    response = await client.patch(
        f"{DATA}/{second_a}", json={"type_code": "first"}, headers=headers
    )
    assert response.status_code == 409
    assert fields(response) == ["value"]
    # Changing only the case of one's own value is not.
    response = await client.patch(f"{DATA}/{b_id}", json={"value": "B"}, headers=headers)
    assert response.status_code == 200


async def test_data_list_filters_and_validation(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #4 and #12: unknown body fields and sort names are 422."""
    headers = await superuser_headers(app)
    await make_dict(client, headers, "one", ("Apple", "a", 2), ("Banana", "b", 1))
    await make_dict(client, headers, "two", ("Apricot", "ap", 1))
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(update(DictData).where(DictData.value == "b").values(status="disabled"))

    async def listed(query: str) -> list[str]:
        response = await client.get(f"{DATA}?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["value"] for item in response.json()["data"]["items"]]

    assert await listed("") == ["b", "a", "ap"]  # type_code, sort
    assert await listed("type_code=one") == ["b", "a"]
    assert await listed("label=AP") == ["a", "ap"]
    assert await listed("status=disabled") == ["b"]
    assert await listed("type_code=two&label=ap") == ["ap"]
    assert await listed("sort=-label") == ["b", "ap", "a"]
    for bad in ("sort=tag", "status=gone", "page_size=0"):
        assert (await client.get(f"{DATA}?{bad}", headers=headers)).status_code == 422, bad

    base = {"type_code": "one", "label": "x", "value": "x"}
    cases: list[tuple[dict[str, Any], str]] = [
        (base | {"id": 5}, "id"),
        (base | {"value": ""}, "value"),
        (base | {"label": "l" * 101}, "label"),
        (base | {"sort": -1}, "sort"),
        (base | {"tag": "<b>"}, "tag"),
        ({"label": "x", "value": "x"}, "type_code"),
    ]
    for body, field in cases:
        response = await client.post(DATA, json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in fields(response), (body, response.json())


# ------------------------------------------------------------------------- access --


async def test_permissions_401_and_403(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await superuser_headers(app)
    created = await make_dict(client, admin, "perm", ("A", "a", 1))
    item_id = (await client.get(f"{DATA}?type_code=perm", headers=admin)).json()["data"]["items"][
        0
    ]["id"]
    routes: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", TYPES, None, DICT_LIST),
        ("GET", f"{TYPES}/{created['id']}", None, DICT_READ),
        ("POST", TYPES, {"name": "n", "code": "new"}, DICT_CREATE),
        ("PATCH", f"{TYPES}/{created['id']}", {"name": "n"}, DICT_UPDATE),
        ("DELETE", f"{TYPES}/{created['id']}", None, DICT_DELETE),
        ("GET", DATA, None, DICT_LIST),
        ("GET", f"{DATA}/{item_id}", None, DICT_READ),
        ("POST", DATA, {"type_code": "perm", "label": "n", "value": "n"}, DICT_CREATE),
        ("PATCH", f"{DATA}/{item_id}", {"label": "n"}, DICT_UPDATE),
        ("DELETE", f"{DATA}/{item_id}", None, DICT_DELETE),
    ]
    nobody = await holder_headers(app, [])
    for method, url, body, code in routes:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        denied = await client.request(method, url, json=body, headers=nobody)
        assert denied.status_code == 403, (method, url)
        # Holding every other dictionary permission is not enough.
        others = await holder_headers(app, [c for c in ALL_DICT if c != code])
        response = await client.request(method, url, json=body, headers=others)
        assert response.status_code == 403, (method, url)
    # The public read needs a signed-in caller and nothing more.
    assert (await client.get(f"{DICTS}/perm")).status_code == 401
    assert [i["value"] for i in await read_dict(client, nobody, "perm")] == ["a"]


# -------------------------------------------------------------------- public read --


async def test_public_read_shape_order_and_404s(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await superuser_headers(app)
    user = await holder_headers(app, [])
    created = await make_dict(
        client, admin, "priority", ("Low", "low", 3), ("High", "high", 1), ("Mid", "mid", 3)
    )
    await make_dict(client, admin, "empty")
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(update(DictData).where(DictData.value == "mid").values(status="disabled"))
    await dict_cache.invalidate(app.state.cache)  # a change made behind the API's back

    items = await read_dict(client, user, "priority")
    assert all(set(item) == ITEM_FIELDS for item in items)
    assert items == [
        {"label": "High", "value": "high", "tag": "info", "sort": 1},
        {"label": "Low", "value": "low", "tag": "info", "sort": 3},
    ]
    assert await read_dict(client, user, "empty") == []

    for code in ("nope", "UPPER", "a" * 150, "sp%20ace"):
        response = await client.get(f"{DICTS}/{code}", headers=user)
        assert response.status_code == 404, code
        assert response.json()["message"] == "Dictionary not found"
    disabled = await client.patch(
        f"{TYPES}/{created['id']}", json={"status": "disabled"}, headers=admin
    )
    assert disabled.status_code == 200
    assert (await client.get(f"{DICTS}/priority", headers=user)).status_code == 404
    enabled = await client.patch(
        f"{TYPES}/{created['id']}", json={"status": "active"}, headers=admin
    )
    assert enabled.status_code == 200
    assert len(await read_dict(client, user, "priority")) == 2


async def test_warm_read_is_one_cache_read_and_no_query(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await superuser_headers(app)
    user = await holder_headers(app, [])
    await make_dict(client, admin, "warm", ("A", "a", 1), ("B", "b", 2))
    await read_dict(client, user, "warm")  # fills the cache
    await client.get(f"{DICTS}/missing", headers=user)  # remembers the absence too

    cache: Cache = app.state.cache
    dict_reads: list[list[str]] = []
    real_get_many = cache.get_many
    real_get = cache.get

    async def get_many(keys: list[str]) -> list[bytes | None]:
        if any(key.startswith("dict:") for key in keys):
            dict_reads.append(list(keys))
        return await real_get_many(keys)

    async def get(key: str) -> bytes | None:
        if key.startswith("dict:"):
            dict_reads.append([key])
        return await real_get(key)

    monkeypatch.setattr(cache, "get_many", get_many)
    monkeypatch.setattr(cache, "get", get)
    await settle(app)
    with counting(app) as statements:
        for _ in range(3):
            assert [i["value"] for i in await read_dict(client, user, "warm")] == ["a", "b"]
        assert (await client.get(f"{DICTS}/missing", headers=user)).status_code == 404
    assert beyond_session_check(statements) == []
    assert dict_reads == [[dict_cache.VERSION_KEY, dict_cache.items_key("warm")]] * 3 + [
        [dict_cache.VERSION_KEY, dict_cache.items_key("missing")]
    ]


async def test_changes_through_the_api_show_on_the_next_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await superuser_headers(app)
    user = await holder_headers(app, [])
    await make_dict(client, admin, "live", ("A", "a", 1))
    assert [i["label"] for i in await read_dict(client, user, "live")] == ["A"]
    assert (await client.get(f"{DICTS}/later", headers=user)).status_code == 404

    b = await post(client, DATA, admin, type_code="live", label="B", value="b", sort=0)
    assert [i["label"] for i in await read_dict(client, user, "live")] == ["B", "A"]

    patched = await client.patch(
        f"{DATA}/{b['id']}", json={"label": "Bee", "sort": 5}, headers=admin
    )
    assert patched.status_code == 200
    assert [i["label"] for i in await read_dict(client, user, "live")] == ["A", "Bee"]

    disabled = await client.patch(f"{DATA}/{b['id']}", json={"status": "disabled"}, headers=admin)
    assert disabled.status_code == 200
    assert [i["label"] for i in await read_dict(client, user, "live")] == ["A"]

    assert (await client.delete(f"{DATA}/{b['id']}", headers=admin)).status_code == 204
    await post(client, TYPES, admin, name="Later", code="later")
    assert await read_dict(client, user, "later") == []  # the remembered 404 is gone too


async def test_version_is_bumped_before_and_after_commit(app: FastAPI) -> None:
    """A reader between the first bump and the commit caches old rows under the new version;
    the bump after the commit makes that entry unreachable."""
    cache: Cache = app.state.cache
    await dict_cache.invalidate(cache)
    start = await cache.get(dict_cache.VERSION_KEY)
    async with app.state.sessionmaker() as db:
        await service.create_type(db, cache, DictTypeCreate(name="T", code="t"))
        during = await cache.get(dict_cache.VERSION_KEY)
        await db.commit()
        await run_after_commit(db)
    after = await cache.get(dict_cache.VERSION_KEY)
    assert len({start, during, after}) == 3


async def test_second_instance_sees_changes_on_its_next_request(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """docs/security-checklist.md §6 (dictionary cache): a change made on A is served by B next
    request."""
    if not settings.redis_url:
        pytest.skip("instances share a cache only through Redis (set TEST_REDIS_URL)")
    admin = await superuser_headers(app)
    user = await holder_headers(app, [])
    created = await make_dict(client, admin, "shared", ("A", "a", 1))
    async with second_instance(
        settings, redis_url=settings.redis_url, cache_prefix=settings.cache_prefix
    ) as other:
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as b:
            assert [i["value"] for i in await read_dict(b, user, "shared")] == ["a"]
            await settle(other)
            with counting(other) as statements:
                assert [i["value"] for i in await read_dict(b, user, "shared")] == ["a"]
            assert beyond_session_check(statements) == []  # B is warm

            await post(client, DATA, admin, type_code="shared", label="B", value="b", sort=2)
            assert [i["value"] for i in await read_dict(b, user, "shared")] == ["a", "b"]

            response = await client.patch(
                f"{TYPES}/{created['id']}", json={"status": "disabled"}, headers=admin
            )
            assert response.status_code == 200
            assert (await b.get(f"{DICTS}/shared", headers=user)).status_code == 404


async def test_cache_down_falls_back_to_the_database(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """The public read is a pure cache: with Redis unreachable it is served from the database
    (authentication, which needs the cache, is stubbed on that instance)."""
    admin = await superuser_headers(app)
    await make_dict(client, admin, "fallback", ("B", "b", 2), ("A", "a", 1))
    async with second_instance(settings, redis_url="redis://127.0.0.1:1") as other:

        async def signed_in() -> Principal:
            return Principal(
                user_id=1,
                username="root",
                session_id="s",
                is_superuser=True,
                dept_id=None,
                scope=DataScope(all=True),
            )

        other.dependency_overrides[get_principal] = signed_in
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as b:
            response = await b.get(f"{DICTS}/fallback")
            assert response.status_code == 200, response.text
            assert [i["value"] for i in response.json()["data"]] == ["a", "b"]
            assert (await b.get(f"{DICTS}/nothing")).status_code == 404
            # Writes need the cache (to invalidate it), so they refuse rather than go stale.
            write = await b.post(TYPES, json={"name": "n", "code": "n"})
            assert write.status_code == 503
    async with app.state.sessionmaker() as db:
        codes = set((await db.execute(select(DictType.code))).scalars())
    assert codes == {"fallback"}, "the refused write was rolled back"


# ---------------------------------------------------------------------- initial data --


async def test_initial_dictionaries_are_loaded_idempotently(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    configured = settings.model_copy(
        update={"init_admin_password": SecretStr("a long tea kettle phrase 42")}
    )

    async def counts() -> tuple[int, int]:
        async with app.state.sessionmaker() as db:
            types = await db.scalar(select(func.count()).select_from(DictType))
            items = await db.scalar(select(func.count()).select_from(DictData))
        return int(types or 0), int(items or 0)

    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    first = await counts()
    assert first[0] >= 1 and first[1] >= 2
    # An operator's edit survives a second init.
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(
            update(DictData)
            .where(DictData.type_code == "sys_status", DictData.value == "active")
            .values(label="Enabled")
        )
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    assert await counts() == first
    user = await holder_headers(app, [])
    items = await read_dict(client, user, "sys_status")
    assert [(i["label"], i["value"]) for i in items] == [
        ("Enabled", "active"),
        ("Disabled", "disabled"),
    ]


async def test_an_unreadable_cache_entry_is_rebuilt(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await superuser_headers(app)
    await make_dict(client, admin, "garbled", ("A", "a", 1))
    await app.state.cache.set(dict_cache.items_key("garbled"), b"\xff not json")
    assert [i["value"] for i in await read_dict(client, admin, "garbled")] == ["a"]
    await settle(app)
    with counting(app) as statements:
        assert [i["value"] for i in await read_dict(client, admin, "garbled")] == ["a"]
    assert beyond_session_check(statements) == []
