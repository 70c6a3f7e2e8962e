"""`GET /api/v1/files/{id}/content` answers only media types its OpenAPI declares
(SECURITY.md §1.6 4.1.1, §2 API9: schema-validating clients and the fuzzer accept it).

Before: the 200 response declared only `application/octet-stream`, while a PNG was served as
`image/png`, a CSV as `text/csv; charset=utf-8`, and so on.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.modules.files.detect import TYPES
from tests.modules.files.helpers import SAMPLES, URL, upload_ok
from tests.support.identity import superuser_headers

CONTENT_PATH = "/api/v1/files/{file_id}/content"


def documented_media_types(app: FastAPI) -> dict[str, Any]:
    operation = app.openapi()["paths"][CONTENT_PATH]["get"]
    content: dict[str, Any] = operation["responses"]["200"]["content"]
    return content


def essence(media_type: str) -> str:
    """`type/subtype` without parameters, lower case (RFC 9110 §8.3.1)."""
    return media_type.split(";")[0].strip().lower()


@pytest.mark.parametrize("extension", sorted(SAMPLES))
async def test_each_download_is_served_as_a_documented_media_type(
    app: FastAPI, client: httpx.AsyncClient, extension: str
) -> None:
    headers = await superuser_headers(app)
    data, _ = SAMPLES[extension]
    stored = await upload_ok(client, headers, f"sample.{extension}", data)
    response = await client.get(f"{URL}/{stored['id']}/content", headers=headers)
    assert response.status_code == 200
    assert response.content == data
    served = essence(response.headers["content-type"])
    assert served in documented_media_types(app), (served, sorted(documented_media_types(app)))


def test_every_detectable_type_is_declared_as_binary(app: FastAPI) -> None:
    """The declaration follows the type table: a type added to detect.py is declared too."""
    documented = documented_media_types(app)
    for file_type in TYPES.values():
        declared = documented[essence(file_type.media_type)]
        assert declared == {"schema": {"type": "string", "format": "binary"}}
    assert "application/octet-stream" in documented
