"""Unrestricted resource consumption (docs/security-checklist.md §2 API4, §1.8): page sizes and
request
bodies are capped on every operation. Upload, import and zip-bomb limits have their own tests
(tests/modules/files/test_upload.py, tests/core/test_excel.py; see docs/security.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from app.core.middleware import MAX_BODY_BYTES
from tests.security.routes import operations
from tests.support.identity import superuser_headers


def _paged_lists(app: FastAPI) -> list[str]:
    return [
        path
        for method, path, operation in operations(app)
        if method == "GET"
        and "{" not in path
        and any(p["name"] == "page_size" for p in operation.get("parameters", []))
    ]


async def test_every_list_caps_page_size(app: FastAPI, client: httpx.AsyncClient) -> None:
    """§2 API4, §1.8 "page-size cap": page_size over 100 is a 422 naming it, on every list."""
    headers = await superuser_headers(app)
    lists = _paged_lists(app)
    assert len(lists) >= 15, lists
    for path in lists:
        accepted = await client.get(path, params={"page_size": 100}, headers=headers)
        assert accepted.status_code == 200, (path, accepted.text)
        for size in ("101", "100000", "0", "-1"):
            refused = await client.get(path, params={"page_size": size}, headers=headers)
            assert refused.status_code == 422, (path, size, refused.status_code)
            assert "page_size" in refused.text, (path, refused.text)


async def test_an_oversized_json_body_is_413_before_anything_reads_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§2 API4, §1.8 "request body cap": over MAX_BODY_BYTES is a 413, announced or streamed,
    signed in or not; just under the limit the route answers as usual."""
    headers = await superuser_headers(app)
    too_big = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    json_type = {"content-type": "application/json"}

    anonymous = await client.post("/api/v1/auth/refresh", content=too_big, headers=json_type)
    assert anonymous.status_code == 413, anonymous.text
    signed_in = await client.post(
        "/api/v1/system/dict-types", content=too_big, headers={**headers, **json_type}
    )
    assert signed_in.status_code == 413, signed_in.text
    assert signed_in.json()["message"].startswith("Request body too large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(too_big), 64 * 1024):
            yield too_big[start : start + 64 * 1024]

    streamed = await client.patch(
        "/api/v1/system/dict-types/1", content=chunks(), headers={**headers, **json_type}
    )
    assert streamed.status_code == 413, streamed.text

    # Under the limit the body reaches the route, which judges it (a name this long is a 422).
    fits = b'{"name": "' + b"x" * (MAX_BODY_BYTES - 100) + b'", "code": "fits"}'
    judged = await client.post(
        "/api/v1/system/dict-types", content=fits, headers={**headers, **json_type}
    )
    assert judged.status_code == 422, judged.text
    assert "name" in judged.text
