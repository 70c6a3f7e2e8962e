"""Swagger UI and ReDoc work offline: every asset they load is served by the app."""

from __future__ import annotations

import re

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from tests.conftest import make_settings
from tests.support.timing import LIFESPAN_TIMEOUT

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


async def test_swagger_ui_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "http://" not in page.text
    assert "https://" not in page.text
    assets = ASSET.findall(page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
    assert "/api/v1/openapi.json" in page.text


async def test_redoc_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/v1/redoc")
    assert page.status_code == 200
    assert "fonts.googleapis" not in page.text
    scripts = [a for a in ASSET.findall(page.text) if a.endswith(".js")]
    assert scripts == ["/api/v1/docs/static/redoc.standalone.js"]
    assert (await client.get(scripts[0])).status_code == 200


async def test_openapi_schema_lists_the_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/v1/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/health/ready" in schema["paths"]
    ready = schema["paths"]["/api/v1/health/ready"]["get"]
    assert "503" in ready["responses"]


async def test_docs_are_hidden_in_production_unless_enabled(database_url: str) -> None:
    strong = "Zq8-wP2xL5nV9cB1mK7jH3gF6dS4aT0yR_uE"
    hidden = create_app(make_settings(database_url, secret_key=strong, app_env="prod"))
    async with LifespanManager(hidden, startup_timeout=LIFESPAN_TIMEOUT):
        transport = httpx.ASGITransport(app=hidden)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for path in ("/api/v1/docs", "/api/v1/redoc", "/api/v1/openapi.json"):
                assert (await http.get(path)).status_code == 404, path
            live = await http.get("/api/v1/health/live")
            assert live.status_code == 200
            assert "max-age" in live.headers["strict-transport-security"]
