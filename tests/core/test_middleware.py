"""Security headers, CORS (docs/security-checklist.md §0 #15, ASVS 3.4.2), GZip and trusted
proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT


async def test_api_responses_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health/live")
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in headers  # off outside production by default
    assert "server" not in headers


@shared_fixture("the CORS app", scope="module")
async def cors_app(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(
        make_settings(
            database_url,
            cors_origins="https://admin.example.com",
            trusted_proxies="10.0.0.0/8",
        )
    )

    @app.get("/__test/client-ip")
    async def client_ip(request: Request) -> dict[str, object]:
        client = request.client.host if request.client else None
        return {"code": 200, "message": "OK", "data": {"ip": client, "scheme": request.url.scheme}}

    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield app


def _client(app: FastAPI, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_cors_preflight_from_unlisted_origin_gets_no_allow_origin(cors_app: FastAPI) -> None:
    async with _client(cors_app) as http:
        preflight = {"Access-Control-Request-Method": "POST"}
        evil = await http.options(
            "/api/v1/health/live", headers={"Origin": "https://evil.example.net", **preflight}
        )
        assert "access-control-allow-origin" not in evil.headers
        good = await http.options(
            "/api/v1/health/live", headers={"Origin": "https://admin.example.com", **preflight}
        )
        assert good.headers["access-control-allow-origin"] == "https://admin.example.com"
        assert good.headers["access-control-allow-credentials"] == "true"
        assert good.headers["x-request-id"]


async def test_forwarded_headers_are_honoured_only_from_trusted_proxies(cors_app: FastAPI) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    async with _client(cors_app, peer="10.1.2.3") as trusted:
        data = (await trusted.get("/__test/client-ip", headers=forwarded)).json()["data"]
        assert data == {"ip": "203.0.113.7", "scheme": "https"}
    async with _client(cors_app, peer="198.51.100.9") as untrusted:
        data = (await untrusted.get("/__test/client-ip", headers=forwarded)).json()["data"]
        assert data == {"ip": "198.51.100.9", "scheme": "http"}


async def test_large_responses_are_gzipped(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(response.content) > settings.gzip_minimum_size
    assert response.headers["content-encoding"] == "gzip"
