"""The console's build served by the app: history fallback, caching, its own CSP, the root
redirect, and a clear 503 when the build is missing while the API keeps working."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.console import DIST_DIR
from app.main import create_app
from app.modules.console.router import BUILD_HINT, CSP
from tests.conftest import make_settings
from tests.support.timing import LIFESPAN_TIMEOUT

INDEX = (DIST_DIR / "index.html").read_text(encoding="utf-8")
ASSETS = re.findall(r'(?:src|href)="/console/(assets/[^"]+)"', INDEX)


def assert_console_csp(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert policy == CSP
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    # No inline script and no external origin, anywhere.
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert "http" not in policy and "*" not in policy


@pytest.mark.parametrize(
    "path", ["/console/", "/console/system/positions", "/console/login?redirect=/home"]
)
async def test_the_page_and_every_deep_link_are_index_html(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert_console_csp(response)


async def test_hashed_assets_are_cached_for_a_year(client: httpx.AsyncClient) -> None:
    assert ASSETS, "index.html names its script and stylesheet"
    for asset in ASSETS:
        response = await client.get(f"/console/{asset}")
        assert response.status_code == 200, asset
        assert response.content == (DIST_DIR / asset).read_bytes()
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert_console_csp(response)
    script = next(a for a in ASSETS if a.endswith(".js"))
    response = await client.get(f"/console/{script}")
    assert response.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )


async def test_a_missing_asset_is_404_not_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/assets/nope-12345678.js")
    assert response.status_code == 404
    assert "<html" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/..%2F..%2F..%2Fpyproject.toml",
        "/console/assets/%2e%2e/%2e%2e/__init__.py",
        "/console/..%2F__init__.py",
    ],
)
async def test_nothing_outside_the_build_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert "[project]" not in response.text
    assert "DIST_DIR" not in response.text
    assert response.status_code in (200, 404)
    if response.status_code == 200:  # the history fallback, nothing else
        assert response.text == INDEX


async def test_top_level_files_of_the_build_are_served_revalidated(app: FastAPI) -> None:
    # A static JSON file, not an API envelope: a plain client, not the envelope-checking one.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/console/build-info.json")
    assert response.status_code == 200
    assert "source_hash" in response.json()
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/", "/console"])
async def test_the_root_opens_the_console(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["location"] == "/console/"


async def test_the_api_keeps_its_own_strict_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health/live")
    policy = response.headers["content-security-policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
async def unbuilt_app(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FastAPI]:
    monkeypatch.setenv("CONSOLE_DIST_DIR", str(tmp_path / "no-build"))
    application = create_app(make_settings(database_url))
    async with LifespanManager(
        application, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield application


async def test_without_a_build_the_console_says_how_to_build_it(unbuilt_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=unbuilt_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for path in ("/console/", "/console/system/users"):
            response = await http.get(path)
            assert response.status_code == 503
            assert response.text == BUILD_HINT
            assert response.text.count("\n") == 1
            assert "cd console && npm ci && npm run build" in response.text
        live = await http.get("/api/v1/health/live")
        assert live.status_code == 200
        branding = await http.get("/api/v1/system/branding")
        assert branding.status_code == 200
