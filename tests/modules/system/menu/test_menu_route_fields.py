"""What a front-end router needs from a menu: route name, hidden (`visible`), `keep_alive`,
external `link` and `redirect` -- stored, validated, and served by /auth/me/menus."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from app.core.config import Settings
from app.modules.system.bootstrap import load_initial_data
from tests.support.identity import superuser_headers

URL = "/api/v1/system/menus"


async def test_router_fields_round_trip_and_reach_my_menus(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    directory = await client.post(
        URL,
        json={
            "type": "directory",
            "title": "Reports",
            "name": "Reports",
            "path": "/reports",
            "redirect": "/reports/daily",
        },
        headers=headers,
    )
    assert directory.status_code == 201, directory.text
    parent = directory.json()["data"]
    assert (parent["keep_alive"], parent["link"], parent["redirect"]) == (
        False,
        None,
        "/reports/daily",
    )
    page = await client.post(
        URL,
        json={
            "type": "menu",
            "title": "Daily",
            "name": "ReportsDaily",
            "path": "/reports/daily",
            "component": "reports/daily/index",
            "keep_alive": True,
            "visible": False,
            "parent_id": parent["id"],
        },
        headers=headers,
    )
    assert page.status_code == 201, page.text
    link = await client.post(
        URL,
        json={
            "type": "menu",
            "title": "Docs",
            "name": "Docs",
            "link": "https://example.com/docs?x=1",
            "parent_id": parent["id"],
        },
        headers=headers,
    )
    assert link.status_code == 201, link.text
    changed = await client.patch(
        f"{URL}/{page.json()['data']['id']}", json={"keep_alive": False}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["data"]["keep_alive"] is False

    tree = (await client.get("/api/v1/auth/me/menus", headers=headers)).json()["data"]
    reports = next(node for node in tree if node["name"] == "Reports")
    children = {node["name"]: node for node in reports["children"]}
    assert reports["redirect"] == "/reports/daily"
    assert (children["ReportsDaily"]["visible"], children["ReportsDaily"]["keep_alive"]) == (
        False,
        False,
    )
    assert children["Docs"]["link"] == "https://example.com/docs?x=1"


async def test_bad_router_fields_are_422_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await superuser_headers(app)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"link": "javascript:alert(1)"}, "link"),
        ({"link": "//evil.example/x"}, "link"),
        ({"link": "https://"}, "link"),
        ({"link": "https://a.example/" + "x" * 600}, "link"),
        ({"redirect": "https://evil.example/"}, "redirect"),
        ({"redirect": "/a/../b"}, "redirect"),
        ({"keep_alive": "sometimes"}, "keep_alive"),
    ]
    for extra, field in cases:
        response = await client.post(
            URL, json={"type": "menu", "title": "X", **extra}, headers=headers
        )
        assert response.status_code == 422, (extra, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}, (extra, response.text)
    button = await client.post(
        URL,
        json={"type": "button", "permission": "system:user:list", "link": "https://a.example/"},
        headers=headers,
    )
    assert button.status_code == 422
    assert button.json()["errors"][0]["field"] == "link"
    plain = await client.post(URL, json={"type": "menu", "title": "Y"}, headers=headers)
    nulled = await client.patch(
        f"{URL}/{plain.json()['data']['id']}", json={"keep_alive": None}, headers=headers
    )
    assert nulled.status_code == 422


async def test_initial_menus_map_to_views(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Every page of the initial data names a view path (`system/user/index`) and a route
    name; directories carry none."""
    configured = settings.model_copy(
        update={"init_admin_password": SecretStr("a long tea kettle phrase 42")}
    )
    async with app.state.sessionmaker() as db, db.begin():
        await load_initial_data(db, configured)
    headers = await superuser_headers(app)
    tree = (await client.get("/api/v1/auth/me/menus", headers=headers)).json()["data"]
    pages: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node["type"] == "menu":
                pages.append(node)
            else:
                assert node["component"] is None, node
            walk(node["children"])

    walk(tree)
    assert len(pages) >= 10
    names = [page["name"] for page in pages]
    assert len(set(names)) == len(names) and all(names)
    for page in pages:
        assert page["component"].endswith("/index"), page
        assert not page["component"].startswith(("/", "@", "views/")), page
        assert page["path"].startswith("/"), page
