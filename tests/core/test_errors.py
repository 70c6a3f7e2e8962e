"""HTTP conventions: the error envelope, real status codes, request ids, nothing leaked.

docs/security-checklist.md §0 #11 (ASVS 16.5.1, 16.5.4): an unhandled exception gives a generic JSON
500.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.probe import Widget


async def _count_widgets(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(Widget))).scalar_one()
        )


async def test_unknown_path_is_404_envelope_with_request_id(probe: httpx.AsyncClient) -> None:
    response = await probe.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    body = response.json()
    assert body == {
        "code": 404,
        "message": "Not found",
        "type": "not_found",
        "data": None,
        "errors": [],
        "request_id": response.headers["x-request-id"],
    }


async def test_wrong_method_is_405_envelope(probe: httpx.AsyncClient) -> None:
    response = await probe.delete("/api/v1/health/live")
    assert response.status_code == 405
    assert response.json()["message"] == "Method Not Allowed"


async def test_unhandled_exception_is_generic_500_without_internals(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/__test/boom", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-me-123"
    body = response.json()
    assert body["message"] == "Internal server error"
    assert body["request_id"] == "trace-me-123"
    text = response.text
    for leak in ("kaboom", "Traceback", "/srv/app", "SELECT", "RuntimeError", ".py"):
        assert leak not in text


async def test_malformed_json_body_is_422_naming_the_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/__test/widgets", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["data"] is None
    assert body["errors"], body
    assert body["errors"][0]["location"] == "body"


async def test_undecodable_body_is_422_not_an_undocumented_400(probe: httpx.AsyncClient) -> None:
    """Found by the API fuzzing (docs/security.md): bytes that are not UTF-8, sent as JSON."""
    response = await probe.post(
        "/__test/widgets", content=b"\x03\n\x1b\xff:", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["location"] == "body"
    assert body["errors"][0]["type"] == "body_invalid"


async def test_field_errors_name_the_field_and_never_echo_values(
    probe: httpx.AsyncClient, probe_app: FastAPI
) -> None:
    response = await probe.post(
        "/__test/widgets", json={"name": "", "password": "hunter2-" + "x" * 120}
    )
    assert response.status_code == 422
    body = response.json()
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"name", "password"}
    assert body["message"] == (
        "Validation failed: body.name must not be empty; "
        "body.password must be at most 100 characters long"
    )
    assert "hunter2" not in response.text


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(
    probe: httpx.AsyncClient,
) -> None:
    sane = await probe.get("/api/v1/health/live", headers={"X-Request-ID": "abc-DEF_1.2:3"})
    assert sane.headers["x-request-id"] == "abc-DEF_1.2:3"
    for bad in ("<script>", "a" * 200, "line\tbreak"):
        response = await probe.get("/api/v1/health/live", headers={"X-Request-ID": bad})
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32
    first = await probe.get("/api/v1/health/live")
    second = await probe.get("/api/v1/health/live")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_app_error_rolls_back_the_request_transaction(
    probe: httpx.AsyncClient, probe_app: FastAPI
) -> None:
    response = await probe.post("/__test/widgets/fail-after-insert", json={"name": "ghost"})
    assert response.status_code == 409
    assert response.json()["message"] == "Probe failed after insert"
    assert await _count_widgets(probe_app.state.engine) == 0


async def test_duplicate_is_409_naming_the_field_and_changes_nothing(
    probe: httpx.AsyncClient, probe_app: FastAPI
) -> None:
    first = await probe.post("/__test/widgets", json={"name": "unique-one"})
    assert first.status_code == 201
    assert first.json()["data"]["name"] == "unique-one"
    second = await probe.post("/__test/widgets", json={"name": "unique-one"})
    assert second.status_code == 409
    body = second.json()
    assert body["type"] == "duplicate"
    assert body["errors"][0]["field"] in {"name", "uq_probe_widget_name"}
    assert "unique-one" not in second.text  # the offending value is not echoed
    assert "INSERT" not in second.text
    assert await _count_widgets(probe_app.state.engine) == 1


async def test_commit_failure_is_an_error_response_not_a_false_success(
    probe: httpx.AsyncClient, probe_app: FastAPI
) -> None:
    response = await probe.post("/__test/widgets/duplicate-at-commit", json={"name": "twice"})
    assert response.status_code == 409
    assert response.json()["type"] == "duplicate"
    assert await _count_widgets(probe_app.state.engine) == 0


@pytest.mark.parametrize("path", ["/api/v1/health/live", "/__test/widgets"])
async def test_success_bodies_are_the_envelope(probe: httpx.AsyncClient, path: str) -> None:
    response = await probe.get(path)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == 200
