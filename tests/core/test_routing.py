"""Request dispatch costs that the benchmarks showed matter (docs/performance.md), held by
structure rather than by timings: how many routes a request is matched against, and that no
dependency is a plain function (FastAPI runs those in the thread pool: a thread hop per call
on every request)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from app.core.routing import PrefixMatchingRouter, fast_matching


def _api_routes(router: Any) -> Iterator[routing.APIRoute]:
    for route in router.routes:
        if isinstance(route, routing.APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router)


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and not (
            inspect.iscoroutinefunction(call)
            or inspect.isasyncgenfunction(call)
            or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
        ):
            yield f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}"
        yield from _sync_dependencies(dependency)


def test_no_route_depends_on_a_plain_function(app: FastAPI) -> None:
    """Plain `def` dependencies (and classes used as dependencies) run in the thread pool;
    every one costs a thread hop on each request. Declare them `async def`."""
    offenders = {
        f"{route.path}: {name}"
        for route in _api_routes(app.router)
        for name in _sync_dependencies(route.dependant)
    }
    assert not offenders, "\n".join(sorted(offenders))


async def test_a_request_is_matched_only_against_the_routes_of_its_prefix(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routers whose prefix the path does not start with are skipped after one comparison,
    whatever their position: `/api/v1/auth/me` is not matched against every route of the
    system module registered before it."""
    calls: list[str] = []
    original = routing.APIRoute.matches

    def counting(self: routing.APIRoute, scope: Any) -> Any:
        calls.append(self.path)
        return original(self, scope)

    monkeypatch.setattr(routing.APIRoute, "matches", counting)
    await client.get("/api/v1/auth/me")
    assert calls, "the request matched no route"
    routers = [r for r in app.router.routes if hasattr(r, "original_router")]
    elsewhere = {
        route.path
        for r in routers
        if r.original_router.prefix and not r.original_router.prefix.startswith("/api/v1/auth")
        for route in _api_routes(r.original_router)
    }
    assert elsewhere, "no module router besides auth: the test proves nothing"
    assert not elsewhere & set(calls), sorted(elsewhere & set(calls))
    assert routers and all(
        isinstance(r.original_router, PrefixMatchingRouter)
        for r in routers
        if r.original_router.prefix
    )


def test_fast_matching_leaves_subclasses_alone() -> None:
    class Custom(routing.APIRouter):
        pass

    custom = Custom(prefix="/x")
    assert type(fast_matching(custom)) is Custom
    plain = routing.APIRouter(prefix="/y")
    assert type(fast_matching(plain)) is PrefixMatchingRouter
