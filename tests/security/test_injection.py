"""Sort and filter input never reaches SQL as text (docs/security-checklist.md §0 #12, ASVS 1.2.4,
§3.6
"ORDER BY injection"): on every list and export that takes `sort`, injection payloads are a
422 naming `sort`; RuoYi-style `params[dataScope]` keys are ignored, never applied."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.security.routes import operations
from tests.support.identity import holder_headers, superuser_headers

PAYLOADS = (
    "id;DROP TABLE sys_user",
    "(select 1)",
    "CASE WHEN 1=1 THEN id ELSE name END",
    "0x6964",
    "id desc",
    "id,(select sleep(1))",
    "-id--",
    "name' OR '1'='1",
    "id/**/",
    "sys_user.id",
)


def _sorted_operations(app: FastAPI) -> list[str]:
    return [
        path
        for method, path, operation in operations(app)
        if method == "GET"
        and "{" not in path
        and any(p["name"] == "sort" for p in operation.get("parameters", []))
    ]


async def test_sort_injection_is_422_on_every_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§0 #12, ASVS 1.2.4: a whitelist, not a regex: every payload is refused, none sorts."""
    headers = await superuser_headers(app)
    paths = _sorted_operations(app)
    assert len(paths) >= 15, paths
    for path in paths:
        for payload in PAYLOADS:
            response = await client.get(path, params={"sort": payload}, headers=headers)
            assert response.status_code == 422, (path, payload, response.status_code)
            assert {e["field"] for e in response.json()["errors"]} == {"sort"}, response.text


async def test_data_scope_params_from_the_request_are_ignored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§1.4 "data-scope SQL", §3.6: `params[dataScope]=OR 1=1` (and friends) change nothing:
    a self-scoped caller still sees only themselves."""
    headers = await holder_headers(app, ["system:user:list"], data_scope="self")
    await superuser_headers(app)  # another user the caller must not see
    plain = await client.get("/api/v1/system/users", headers=headers)
    assert plain.status_code == 200
    assert plain.json()["data"]["total"] == 1
    for key in ("params[dataScope]", "dataScope", "params.dataScope", "data_scope", "scope"):
        for value in ("OR 1=1", " or 1=1 --", "all"):
            response = await client.get(
                "/api/v1/system/users", params={key: value}, headers=headers
            )
            assert response.status_code in (200, 422), response.text
            if response.status_code == 200:
                assert response.json()["data"] == plain.json()["data"], (key, value)
