"""Examples over HTTP: create, read, update, delete, the list, validation,
permissions, not found and stale versions.

Written by `python main.py generate example` with the module;
add tests for the rules you add.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.modules.example.permissions import (
    EXAMPLE_CREATE,
    EXAMPLE_DELETE,
    EXAMPLE_LIST,
    EXAMPLE_READ,
    EXAMPLE_UPDATE,
)
from tests.support.identity import holder_headers, superuser_headers

URL = "/api/v1/examples"
NOT_FOUND = "Example not found"
SAMPLES: dict[int, dict[str, Any]] = {
    1: {"name": "Alpha", "description": "Alpha"},
    2: {"name": "Bravo", "description": "Bravo"},
    3: {"name": "Charlie", "description": "Charlie"},
}


def sample(n: int = 1) -> dict[str, Any]:
    """A valid create body: sample 1, 2 or 3 (they differ in every field)."""
    return dict(SAMPLES[n])


def field_of(response: httpx.Response) -> str:
    errors: list[dict[str, Any]] = response.json()["errors"]
    return str(errors[0]["field"])


@pytest.fixture
async def admin(app: FastAPI) -> dict[str, str]:
    return await superuser_headers(app)


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_create_read_update_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sent = sample(1)
    item = await create(client, admin, sent)
    assert {key: item[key] for key in sent} == sent
    assert item["id"] >= 1
    assert item["version"] == 1
    assert item["created_at"] and item["updated_at"]

    got = await client.get(f"{URL}/{item['id']}", headers=admin)
    assert got.status_code == 200
    assert got.json()["data"] == item

    change = "name"
    patched = await client.patch(
        f"{URL}/{item['id']}", json={change: sample(2)[change]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    updated = patched.json()["data"]
    assert updated[change] == sample(2)[change]
    assert updated["version"] == 2
    assert {key: updated[key] for key in sent if key != change} == {
        key: value for key, value in sent.items() if key != change
    }, "a partial update changes only the fields sent"

    deleted = await client.delete(f"{URL}/{item['id']}", headers=admin)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await client.get(f"{URL}/{item['id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["message"] == NOT_FOUND


async def test_put_replaces_the_whole_example(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin, sample(1))
    url = f"{URL}/{item['id']}"
    put = await client.put(url, json=sample(2), headers=admin)
    assert put.status_code == 200, put.text
    replaced = put.json()["data"]
    assert {key: replaced[key] for key in sample(2)} == sample(2)
    assert (replaced["id"], replaced["version"]) == (item["id"], 2)
    assert (await client.get(url, headers=admin)).json()["data"] == replaced

    stale = await client.put(url, json=sample(3) | {"version": 1}, headers=admin)
    assert stale.status_code == 409
    assert field_of(stale) == "version"
    for extra in ({"id": 5}, {"unknown_field": 1}):
        refused = await client.put(url, json=sample(3) | extra, headers=admin)
        assert refused.status_code == 422
        assert field_of(refused) == next(iter(extra))
    assert (await client.get(url, headers=admin)).json()["data"] == replaced, "nothing changed"

    current = await client.put(url, json=sample(3) | {"version": 2}, headers=admin)
    assert current.status_code == 200, current.text
    assert current.json()["data"]["version"] == 3


async def test_list_pages_and_sorts(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = [(await create(client, admin, sample(n)))["id"] for n in (1, 2, 3)]
    first = await client.get(URL, params={"page_size": 2, "sort": "-id"}, headers=admin)
    assert first.status_code == 200, first.text
    page = first.json()["data"]
    assert (page["total"], page["page"], page["page_size"]) == (3, 1, 2)
    assert [row["id"] for row in page["items"]] == sorted(ids, reverse=True)[:2]
    second = await client.get(URL, params={"page": 2, "page_size": 2, "sort": "-id"}, headers=admin)
    assert [row["id"] for row in second.json()["data"]["items"]] == [min(ids)]
    beyond = await client.get(URL, params={"page": 3, "page_size": 2}, headers=admin)
    assert beyond.json()["data"]["items"] == []
    assert beyond.json()["data"]["total"] == 3


async def test_list_filters_on_name(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for n in (1, 2, 3):
        await create(client, admin, sample(n))
    found = await client.get(URL, params={"name": "RAV"}, headers=admin)
    assert found.status_code == 200, found.text
    rows = found.json()["data"]["items"]
    assert [row["name"] for row in rows] == [sample(2)["name"]]
    assert found.json()["data"]["total"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"sort": "nope"}, "sort"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get(URL, params=params, headers=admin)
    assert response.status_code == 422
    assert field_of(response) == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "x" * 101}, "name"),
        ({"name": "\u202e"}, "name"),
        ({"description": "x" * 501}, "description"),
        ({"description": "\u202e"}, "description"),
        ({"id": 5}, "id"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
async def test_invalid_values_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], overrides: dict[str, Any], field: str
) -> None:
    response = await client.post(URL, json=sample() | overrides, headers=admin)
    assert response.status_code == 422, response.text
    assert field_of(response) == field
    assert (await client.get(URL, headers=admin)).json()["data"]["total"] == 0


@pytest.mark.parametrize("field", ["name"])
async def test_required_fields_are_422_when_missing_or_null(
    client: httpx.AsyncClient, admin: dict[str, str], field: str
) -> None:
    body = sample()
    del body[field]
    missing = await client.post(URL, json=body, headers=admin)
    assert missing.status_code == 422
    assert field_of(missing) == field
    item = await create(client, admin, sample())
    null = await client.patch(f"{URL}/{item['id']}", json={field: None}, headers=admin)
    assert null.status_code == 422
    assert field_of(null) == field
    put = await client.put(f"{URL}/{item['id']}", json=body, headers=admin)
    assert put.status_code == 422
    assert field_of(put) == field


async def test_optional_fields_may_be_null(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    optional = ["description"]
    item = await create(client, admin, sample() | dict.fromkeys(optional))
    assert {key: item[key] for key in optional} == dict.fromkeys(optional)
    changed = await client.patch(
        f"{URL}/{item['id']}", json={key: sample(2)[key] for key in optional}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert {key: data[key] for key in optional} == {key: sample(2)[key] for key in optional}


async def test_stale_version_is_409(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    item = await create(client, admin, sample(1))
    change = "name"
    url = f"{URL}/{item['id']}"
    fresh = await client.patch(url, json={change: sample(2)[change], "version": 1}, headers=admin)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["data"]["version"] == 2
    stale = await client.patch(url, json={change: sample(3)[change], "version": 1}, headers=admin)
    assert stale.status_code == 409
    assert field_of(stale) == "version"
    current = (await client.get(url, headers=admin)).json()["data"]
    assert (current[change], current["version"]) == (sample(2)[change], 2)


async def test_racing_writers_of_one_version_leave_one_winner(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Writers that all read version 1, released together: one wins, every other is the
    same 409 naming `version` (refused by the version check or at the flush)."""
    item = await create(client, admin, sample(1))
    change = next(iter(sample(2)))
    url = f"{URL}/{item['id']}"
    body = {change: sample(2)[change], "version": 1}
    answers = await asyncio.gather(*(client.patch(url, json=body, headers=admin) for _ in range(6)))
    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 5
    assert {field_of(answer) for answer in answers if answer.status_code == 409} == {"version"}
    assert (await client.get(url, headers=admin)).json()["data"]["version"] == 2


async def test_unknown_id_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    url = f"{URL}/999999"
    for response in (
        await client.get(url, headers=admin),
        await client.patch(url, json={}, headers=admin),
        await client.put(url, json=sample(1), headers=admin),
        await client.delete(url, headers=admin),
    ):
        assert response.status_code == 404
        assert response.json()["message"] == NOT_FOUND


async def test_anonymous_is_401_and_each_action_needs_its_permission(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin, sample(1))
    url = f"{URL}/{item['id']}"
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(url)).status_code == 401

    nobody = await holder_headers(app, [])
    assert (await client.get(URL, headers=nobody)).status_code == 403
    assert (await client.get(url, headers=nobody)).status_code == 403

    reader = await holder_headers(app, [EXAMPLE_LIST, EXAMPLE_READ])
    assert (await client.get(URL, headers=reader)).status_code == 200
    assert (await client.get(url, headers=reader)).status_code == 200
    assert (await client.post(URL, json=sample(2), headers=reader)).status_code == 403
    assert (await client.patch(url, json={}, headers=reader)).status_code == 403
    assert (await client.put(url, json=sample(3), headers=reader)).status_code == 403
    assert (await client.delete(url, headers=reader)).status_code == 403

    writer = await holder_headers(app, [EXAMPLE_CREATE, EXAMPLE_UPDATE, EXAMPLE_DELETE])
    assert (await client.get(URL, headers=writer)).status_code == 403
    made = await client.post(URL, json=sample(2), headers=writer)
    assert made.status_code == 201
    assert (await client.patch(url, json={}, headers=writer)).status_code == 200
    assert (await client.put(url, json=sample(3), headers=writer)).status_code == 200
    assert (await client.delete(url, headers=writer)).status_code == 204
