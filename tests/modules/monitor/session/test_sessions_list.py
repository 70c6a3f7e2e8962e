"""The live-sessions list pages like every list: a bounded count, `next_cursor`, deep pages
read after the cursor, nothing skipped or repeated; the filters and the data scope apply."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.identity import superuser_headers

URL = "/api/v1/monitor/sessions"


async def test_the_list_pages_by_cursor_through_every_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = [await superuser_headers(app) for _ in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"page_size": 2, "sort": "-created_at"}
    pages = 0
    while True:
        response = await client.get(URL, params=params, headers=headers[0])
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        assert (page["total"], page["total_exact"]) == (5, True)
        seen += [row["session_id"] for row in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        params = {"page_size": 2, "sort": "-created_at", "cursor": page["next_cursor"]}
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    rows = (await client.get(URL, headers=headers[0])).json()["data"]["items"]
    assert sum(row["current"] for row in rows) == 1


async def test_a_bad_cursor_is_a_422_naming_it(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    response = await client.get(URL, params={"cursor": "not-a-cursor"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_the_username_filter_applies(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = await superuser_headers(app)
    await superuser_headers(app)
    everyone = (await client.get(URL, headers=headers)).json()["data"]
    mine = next(row for row in everyone["items"] if row["current"])
    only = await client.get(URL, params={"username": mine["username"]}, headers=headers)
    assert [row["session_id"] for row in only.json()["data"]["items"]] == [mine["session_id"]]
