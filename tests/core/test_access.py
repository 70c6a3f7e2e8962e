"""Deny by default: every route declares a permission or is explicitly public, and the
permission each route declares is really enforced.

docs/security-checklist.md §0 #1 and #2 (ASVS 8.2.1, API5), ASVS 8.3.2 (zero-query warm path is
still fresh).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from app.core.access import covers, grant_matches, public, registry
from tests.support.identity import auth_headers, create_role, create_user

PARAM = re.compile(r"{[^}]+}")


def _dependencies(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependencies(sub)


def declared(route: RouteContext) -> tuple[bool, tuple[str, ...] | None]:
    """(is public, required permission codes or None if no require() at all)."""
    calls = list(_dependencies(route.dependant))
    codes = [c for c in calls if hasattr(c, "required_permissions")]
    return public in calls, (tuple(codes[0].required_permissions) if codes else None)


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every API operation of the app (FastAPI >= 0.160 keeps included routers nested)."""
    return [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
    ]


def method_of(route: RouteContext) -> str:
    return sorted(route.methods or {"GET"})[0]


def test_every_route_declares_access(app: FastAPI) -> None:
    missing = []
    for route in api_routes(app):
        is_public, codes = declared(route)
        if is_public == (codes is not None):  # neither, or both
            missing.append(f"{method_of(route)} {route.path}")
    assert not missing, f"routes without exactly one of require()/public: {missing}"


def test_public_routes_are_exactly_the_expected_ones(app: FastAPI) -> None:
    public_routes = {f"{method_of(r)} {r.path}" for r in api_routes(app) if declared(r)[0]}
    assert public_routes == {
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "GET /api/v1/auth/captcha",
        # The console's sign-in page shows the site's name, logo and footer before sign-in.
        "GET /api/v1/system/branding",
        "GET /api/v1/health/live",
        "GET /api/v1/health/ready",
        # Public to JWTs only: Prometheus scrapers hold no user account. Access is decided by
        # network policy instead (METRICS_ALLOWED_IPS, judged on the proxy-resolved client
        # address) or a scraper token (METRICS_TOKEN); anyone else gets 403
        # (tests/core/test_metrics.py).
        "GET /metrics",
    }


def test_declared_codes_are_in_the_registry(app: FastAPI) -> None:
    for route in api_routes(app):
        for code in declared(route)[1] or ():
            assert code in registry, code


@pytest.mark.parametrize(
    ("grant", "code", "expected"),
    [
        ("system:user:list", "system:user:list", True),
        ("system:user:*", "system:user:delete", True),
        ("system:*", "system:role:create", True),
        ("*", "monitor:session:list", True),
        ("system:user:*", "system:users:list", False),
        ("system:user:list", "system:user:list-all", False),
        ("system:*", "systemx:user:list", False),
    ],
)
def test_wildcard_grants(grant: str, code: str, expected: bool) -> None:
    assert grant_matches(grant, code) is expected
    assert covers([grant], code) is expected


def _url(route: RouteContext) -> str:
    return PARAM.sub("999999", route.path or "")


async def test_role_by_route_matrix(app: FastAPI, client: httpx.AsyncClient) -> None:
    """For every permission-protected route: without its code 403, with exactly it not 403."""
    async with app.state.sessionmaker() as db, db.begin():
        nobody = await create_user(db, username="nobody")
    none_headers = await auth_headers(app, nobody)
    checked = 0
    for route in api_routes(app):
        _public, codes = declared(route)
        if not codes:
            continue
        method = method_of(route)
        async with app.state.sessionmaker() as db, db.begin():
            role = await create_role(db, permissions=list(codes))
            holder = await create_user(db, roles=[role])
        holder_headers = await auth_headers(app, holder)
        denied = await client.request(method, _url(route), headers=none_headers, json={})
        assert denied.status_code == 403, f"{method} {route.path}: {denied.status_code}"
        allowed = await client.request(method, _url(route), headers=holder_headers, json={})
        assert allowed.status_code not in (401, 403, 500), (
            f"{method} {route.path}: {allowed.status_code} {allowed.text[:200]}"
        )
        anonymous = await client.request(method, _url(route), json={})
        assert anonymous.status_code == 401, f"{method} {route.path}"
        checked += 1
    assert checked >= 10
