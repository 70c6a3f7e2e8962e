"""Security misconfiguration (docs/security-checklist.md §2 API8, §1.6, §1.9): security headers on
every
kind of answer (2xx, 4xx, 5xx), `TRACE` refused, no version banner, and the production
configuration closed (docs, debug, test routes). CORS: tests/core/test_middleware.py; the
generic 500: tests/core/test_errors.py."""

from __future__ import annotations

import re

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core.middleware import MAX_BODY_BYTES
from app.main import create_app
from tests.conftest import make_settings
from tests.support.timing import LIFESPAN_TIMEOUT

STRONG_SECRET = "Zq8-wP2xL5nV9cB1mK7jH3gF6dS4aT0yR_uE"


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
    assert headers.get("cache-control") == "no-store", where
    assert headers.get("x-request-id"), where
    assert "server" not in headers, where  # ASVS 13.4.6: no version banner
    assert "x-powered-by" not in headers, where


async def test_security_headers_on_2xx_4xx_and_5xx(
    client: httpx.AsyncClient, probe: httpx.AsyncClient
) -> None:
    """§2 API8, ASVS 3.4.3-3.4.6: error answers, which middleware sometimes skips, too."""
    answers = [
        (await client.get("/api/v1/health/live"), 200),
        (await client.get("/api/v1/auth/me"), 401),
        (await client.get("/api/v1/no-such-route"), 404),
        (await client.delete("/api/v1/health/live"), 405),
        (await client.post("/api/v1/auth/refresh", json={}), 422),
        (
            await client.post(
                "/api/v1/auth/refresh",
                content=b"x" * (MAX_BODY_BYTES + 1),
                headers={"content-type": "application/json"},
            ),
            413,
        ),
        (await probe.get("/__test/boom"), 500),
    ]
    for response, status in answers:
        assert response.status_code == status, (status, response.text)
        assert_security_headers(response)


@pytest.mark.parametrize(
    "path", ["/api/v1/health/live", "/api/v1/auth/login", "/api/v1/system/users"]
)
async def test_trace_and_unknown_methods_are_405(client: httpx.AsyncClient, path: str) -> None:
    """§2 API8, ASVS 4.1.4 / 13.4.4: only documented methods; TRACE is refused."""
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path, response.status_code)
        assert "TRACE" not in response.headers.get("allow", ""), response.headers
        assert_security_headers(response)


async def test_production_app_is_closed(database_url: str) -> None:
    """§2 API8, ASVS 13.4.2 / 13.4.5 / 15.2.3: the production app has no debug mode, no docs
    or schema, no test-only routes, HSTS on, and no version banner."""
    settings = make_settings(database_url, secret_key=STRONG_SECRET, app_env="prod")
    assert settings.is_production
    assert settings.docs_on is False
    assert settings.enable_test_routes is False
    production = create_app(settings)
    assert production.debug is False
    assert production.openapi_url is None
    assert not [r for r in production.routes if getattr(r, "path", "").startswith("/__test")]
    async with LifespanManager(production, startup_timeout=LIFESPAN_TIMEOUT):
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for path in ("/api/v1/docs", "/api/v1/redoc", "/api/v1/openapi.json", "/docs"):
                assert (await http.get(path)).status_code == 404, path
            live = await http.get("/api/v1/health/live")
            assert live.status_code == 200
            assert_security_headers(live)
            hsts = re.search(r"max-age=(\d+)", live.headers["strict-transport-security"])
            assert hsts and int(hsts[1]) >= 31536000  # ASVS 3.4.1: at least a year
