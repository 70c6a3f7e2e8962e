"""Function-level authorization beyond the route matrix of tests/core/test_access.py
(docs/security-checklist.md §0 #1 and #2, §2 API5, ASVS 8.2.1, 8.3.1): routes open to any signed-in
user are
an explicit, reviewed list; anonymous callers get 401 on every non-public route; a sibling
permission of the same resource (e.g. `system:user:list` for `system:user:delete`) and a
method switch on the same path are 403."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.core.access import registry
from tests.security.routes import api_routes, declared, fill, method_of, protected_routes
from tests.support.identity import auth_headers, create_role, create_user

# Routes for any signed-in user, whatever their permissions: each acts on the caller's own
# account or serves data meant for every user. A new one is a reviewed change.
SIGNED_IN_ONLY = {
    "POST /api/v1/auth/logout",
    "GET /api/v1/auth/me",
    "PATCH /api/v1/auth/me",
    "GET /api/v1/auth/me/menus",
    "PUT /api/v1/auth/me/password",
    "GET /api/v1/auth/me/sessions",
    "DELETE /api/v1/auth/me/sessions/{session_id}",
    "POST /api/v1/auth/mfa/setup",
    "POST /api/v1/auth/mfa/confirm",
    "POST /api/v1/auth/mfa/disable",
    "POST /api/v1/auth/mfa/recovery-codes",
    "GET /api/v1/system/dicts/{type_code}",
    "GET /api/v1/system/notices/published",
    # Owner rules inside the route: an author edits their own articles, anyone reads the
    # published ones; moderation of others' articles needs `blog:article:*` codes
    # (tests/modules/blog/test_articles.py, test_moderation.py).
    "GET /api/v1/articles",
    "POST /api/v1/articles",
    "GET /api/v1/articles/{article_id}",
    "PATCH /api/v1/articles/{article_id}",
    "DELETE /api/v1/articles/{article_id}",
    # The owner reaches their own file; others need `files:file:*` codes within their data
    # scope, and get 404 otherwise (tests/modules/files/test_access.py).
    "GET /api/v1/files/{file_id}",
    "GET /api/v1/files/{file_id}/content",
    "DELETE /api/v1/files/{file_id}",
}


def test_routes_for_any_signed_in_user_are_exactly_the_listed_ones(app: FastAPI) -> None:
    """§0 #2: a route needing no permission code is either public or on SIGNED_IN_ONLY."""
    found = {
        f"{method_of(r)} {r.path}"
        for r in api_routes(app)
        if not declared(r)[0] and not declared(r)[1]
    }
    assert found == SIGNED_IN_ONLY


async def test_anonymous_callers_get_401_on_every_non_public_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§0 #2, ASVS 8.2.1: no token (and a garbage one) is 401 everywhere but the public list."""
    checked = 0
    for route in api_routes(app):
        if declared(route)[0]:
            continue
        method, url = method_of(route), fill(route.path or "")
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = await client.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, route.path, response.status_code)
        checked += 1
    assert checked >= 90


async def test_a_sibling_permission_does_not_open_a_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """§2 API5 (4) and method switching: holding every other code of the same resource
    (`module:resource:*` minus the route's code) is still 403."""
    checked = 0
    holders: dict[tuple[str, ...], dict[str, str]] = {}  # sibling codes -> their holder
    for route, codes in protected_routes(app):
        prefix = codes[0].rsplit(":", 1)[0] + ":"
        siblings = tuple(
            p.code for p in registry.all() if p.code.startswith(prefix) and p.code not in codes
        )
        if not siblings:
            continue
        if siblings not in holders:
            async with app.state.sessionmaker() as db, db.begin():
                role = await create_role(db, permissions=siblings)
                user = await create_user(db, roles=[role])
            holders[siblings] = await auth_headers(app, user)
        headers = holders[siblings]
        method = method_of(route)
        response = await client.request(method, fill(route.path or ""), headers=headers, json={})
        assert response.status_code == 403, (method, route.path, siblings, response.status_code)
        checked += 1
    assert checked >= 60, checked
