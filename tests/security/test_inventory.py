"""Improper inventory management (SECURITY.md §2 API9): every route the app serves is in the
OpenAPI document or on a short, reviewed list of hidden routes; everything lives under the one
API version; there is no other version and no deprecated operation nobody listed."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from tests.security.routes import operations

# Served but not in the document, with the reason. Adding one is a reviewed change.
HIDDEN = {
    "GET /api/v1/openapi.json": "the document itself",
    "GET /api/v1/docs": "Swagger UI page (off in production)",
    "GET /api/v1/docs/oauth2-redirect": "Swagger UI OAuth2 helper (off in production)",
    "GET /api/v1/redoc": "ReDoc page (off in production)",
    "MOUNT /api/v1/docs/static": "the docs' bundled assets (off in production)",
    # The web console (app/modules/console, docs/console.md): static files of its build.
    "GET /": "redirect to the console",
    "GET /console": "redirect to /console/",
    "GET /console/{path:path}": "the console's index.html for every deep link (history routing)",
    "GET /console/assets/{name:path}": "the console's hashed assets",
}
# Operations outside /api/v1, with the reason.
UNVERSIONED = {"GET /metrics": "Prometheus scrape endpoint, by network policy (test_metrics.py)"}
# Deprecated operations still served, with the date they go. None today.
DEPRECATED: dict[str, str] = {}


def _served(app: FastAPI) -> set[str]:
    served: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            served.add(f"MOUNT {context.path}")
        elif isinstance(route, APIRoute | Route):
            served.update(f"{m} {context.path}" for m in (route.methods or ()) if m != "HEAD")
    return served


def test_every_served_route_is_documented_or_listed_hidden(app: FastAPI) -> None:
    """§2 API9: no undocumented route (a debug or demo endpoint cannot slip in unseen)."""
    documented = {f"{method} {path}" for method, path, _ in operations(app)}
    served = _served(app)
    assert served - documented == set(HIDDEN), sorted(served - documented - set(HIDDEN))
    assert documented <= served, sorted(documented - served)
    assert len(documented) >= 100


def test_one_api_version_and_no_unlisted_deprecated_operation(app: FastAPI) -> None:
    """§2 API9: everything is under /api/v1; deprecated operations are listed with a date."""
    outside = {f"{m} {p}" for m, p, _ in operations(app) if not p.startswith("/api/v1/")}
    assert outside == set(UNVERSIONED)
    deprecated = {f"{m} {p}" for m, p, op in operations(app) if op.get("deprecated")}
    assert deprecated == set(DEPRECATED)


async def test_other_versions_are_not_served(client: httpx.AsyncClient) -> None:
    """§2 API9: no old or shadow version answers (an unmaintained v0 is the classic leak)."""
    for prefix in ("/api/v0", "/api/v2", "/api", "/v1", "/api/v1.0", "/api/V1"):
        for path in ("/system/users", "/auth/login", "/health/live"):
            response = await client.get(f"{prefix}{path}")
            assert response.status_code == 404, (prefix + path, response.status_code)
            post = await client.post(f"{prefix}{path}", json={})
            assert post.status_code in (404, 405), (prefix + path, post.status_code)
