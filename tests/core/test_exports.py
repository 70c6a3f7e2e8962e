"""Streamed exports (app/core/exports.py): the first batch is read before the answer starts,
so a query the database refuses is an error answer, never a 200 cut short (found by API
fuzzing: a NUL byte in a filter on PostgreSQL)."""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from tests.support.identity import superuser_headers

EXPORTS = [
    "/api/v1/system/operation-logs/export",
    "/api/v1/system/login-logs/export",
    "/api/v1/system/users/export",
]


@pytest.mark.parametrize("path", EXPORTS)
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
async def test_a_filter_the_database_refuses_is_an_error_not_a_cut_off_file(
    app: FastAPI, client: httpx.AsyncClient, path: str, file_format: str
) -> None:
    headers = await superuser_headers(app)
    response = await client.get(
        path, headers=headers, params={"username": "a\x00b", "format": file_format}
    )
    if app.state.engine.dialect.name == "postgresql":  # text cannot hold NUL there
        assert response.status_code == 422, response.text
        assert response.json()["data"] is None
        return
    # SQLite and MariaDB compare the value: nothing matches, a complete file with its header.
    assert response.status_code == 200, response.text
    if file_format == "csv":
        assert response.text.startswith("\ufeff")
        assert len(response.text.strip().splitlines()) == 1
    else:
        sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
        assert sheet is not None
        assert len(list(sheet.iter_rows(values_only=True))) == 1
