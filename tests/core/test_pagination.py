"""Pages and whitelisted sorting (SECURITY.md §0 #12, ASVS 1.2.4: sort fields come from a list)."""

from __future__ import annotations

import httpx
import pytest


async def _seed(probe: httpx.AsyncClient, names: list[str]) -> None:
    for name in names:
        assert (await probe.post("/__test/widgets", json={"name": name})).status_code == 201


async def test_page_shape_and_totals(probe: httpx.AsyncClient) -> None:
    await _seed(probe, [f"w{i:02d}" for i in range(23)])
    response = await probe.get("/__test/widgets", params={"page": 3, "page_size": 10})
    data = response.json()["data"]
    assert data["total"] == 23
    assert data["page"] == 3
    assert data["page_size"] == 10
    assert [item["name"] for item in data["items"]] == ["w20", "w21", "w22"]
    past_end = (await probe.get("/__test/widgets", params={"page": 9})).json()["data"]
    assert past_end["items"] == []
    assert past_end["total"] == 23


async def test_default_page_size_is_10(probe: httpx.AsyncClient) -> None:
    await _seed(probe, [f"d{i:02d}" for i in range(12)])
    data = (await probe.get("/__test/widgets")).json()["data"]
    assert data["page"] == 1
    assert data["page_size"] == 10
    assert len(data["items"]) == 10


async def test_sort_descending_and_multiple_keys(probe: httpx.AsyncClient) -> None:
    await _seed(probe, ["b", "a", "c"])
    data = (await probe.get("/__test/widgets", params={"sort": "-name"})).json()["data"]
    assert [item["name"] for item in data["items"]] == ["c", "b", "a"]
    data = (await probe.get("/__test/widgets", params={"sort": "name,-id"})).json()["data"]
    assert [item["name"] for item in data["items"]] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "sort",
    [
        "password",
        "name;DROP TABLE probe_widget",
        "(select 1)",
        "name desc",
        "name,name",
        "id,",
        "  ",
    ],
)
async def test_unlisted_sort_is_422_naming_sort(probe: httpx.AsyncClient, sort: str) -> None:
    response = await probe.get("/__test/widgets", params={"sort": sort})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "sort"
    assert body["errors"][0]["location"] == "query"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": 0}, "page"), ({"page_size": 101}, "page_size"), ({"page_size": 0}, "page_size")],
)
async def test_paging_bounds_are_422(
    probe: httpx.AsyncClient, params: dict[str, int], field: str
) -> None:
    response = await probe.get("/__test/widgets", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
