"""Route matching that skips a module's router by its prefix.

FastAPI keeps each included router as one candidate of the app's router and, for every
request, asks each candidate in turn whether it matches, which runs the path regex of every
route of every router before the right one: 70 regex matches for `/api/v1/auth/me` with the
built-in modules, about a millisecond of CPU per request. A router whose prefix the path does
not start with cannot match any of its routes, so `PrefixMatchingRouter` answers "no" after
one string comparison. The app factory applies it to every module router (`fast_matching`);
module code keeps using `fastapi.APIRouter`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send

from app.core.database import get_session
from app.core.deps import get_cache, get_engine
from app.core.errors import ValidationFailed, validation_message
from app.core.ratelimit import UNLIMITED_PREFIXES
from app.core.responses import ErrorDetail, ErrorEnvelope


class PrefixMatchingRouter(APIRouter):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefix = self.prefix
        if (
            prefix
            and scope.get("type") in ("http", "websocket")
            and not get_route_path(scope).startswith(prefix)
        ):
            return Match.NONE, {}
        return super().matches(scope)


def fast_matching(router: APIRouter) -> APIRouter:
    """Give `router` the prefix short-cut (in place; its routes and settings are unchanged)."""
    if type(router) is APIRouter:
        router.__class__ = PrefixMatchingRouter
    return router


# ----------------------------------------------------------- what every route shares --

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_OUTAGE_DEPENDENCIES = frozenset({get_session, get_cache, get_engine})


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters `route` reads, through every dependency, by their wire names."""
    names: set[str] = set()
    for dependant in _dependants(route.dependant):
        for param in dependant.query_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names.update(f.alias or n for n, f in annotation.model_fields.items())
            names.add(param.alias)
    return frozenset(names)


def _uses_outage_prone_dependency(route: APIRoute) -> bool:
    return any(d.call in _OUTAGE_DEPENDENCIES for d in _dependants(route.dependant))


def outage_response() -> dict[str, Any]:
    """The 503 a route documents by hand when it reaches the database or cache other than
    through a dependency (`declare_shared_responses` finds the dependencies by itself)."""
    return {
        "model": ErrorEnvelope,
        "description": "Service temporarily unavailable: database or cache",
        "headers": dict(_RETRY_AFTER),
    }


def _add_response(
    route: APIRoute, status: int, description: str, *, retry_after: bool = False
) -> None:
    entry = route.responses.setdefault(status, {})
    entry.setdefault("model", ErrorEnvelope)
    entry.setdefault("description", description)
    if retry_after:
        entry.setdefault("headers", {}).update(_RETRY_AFTER)


def declare_shared_responses(router: APIRouter) -> None:
    """Document on each route of `router` the answers any route can give (docs/http.md):
    422 (every route refuses unknown query parameters), 429 with `Retry-After` (the rate
    limits, on every route but the health probes), 503 with `Retry-After` (routes that use
    the database or the cache) and 413 (routes that take a body). Idempotent: routers are
    module-level objects that every app built in one process shares."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        _add_response(route, 422, "Validation failed: the errors name each field")
        if not route.path.startswith(UNLIMITED_PREFIXES):
            _add_response(route, 429, "Too many requests: rate limited", retry_after=True)
        if _uses_outage_prone_dependency(route):
            _add_response(
                route, 503, "Service temporarily unavailable: database or cache", retry_after=True
            )
        if route.body_field is not None:
            _add_response(route, 413, "Request body too large")


async def any_query() -> None:
    """Marks a route whose query string is not the API's to judge: the console's pages are
    served for any deep link, and the single-page app reads its own parameters
    (`/console/login?redirect=...`) in the browser. Use as `dependencies=[Depends(any_query)]`."""


def _reads_any_query(route: APIRoute) -> bool:
    return any(d.call is any_query for d in _dependants(route.dependant))


async def refuse_unknown_query(request: Request) -> None:
    """A query parameter the route does not read is a 422 naming it, as an unknown body field
    is: a mistyped filter (`?dept=3` for `?dept_id=3`) would otherwise return everything."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known: frozenset[str] | None = getattr(route, "_declared_query_names", None)
    if known is None:
        reads_any = _reads_any_query(route)
        known = frozenset() if reads_any else declared_query_names(route)
        route._reads_any_query = reads_any  # type: ignore[attr-defined]
        route._declared_query_names = known  # type: ignore[attr-defined]
    if getattr(route, "_reads_any_query", False):
        return
    unknown = sorted({key for key in request.query_params if key not in known})
    if unknown:
        details = [
            ErrorDetail(
                field=name,
                location="query",
                message=_unknown_message(known),
                type="query_unknown",
            )
            for name in unknown[:20]
        ]
        raise ValidationFailed(validation_message(details), errors=details)


def _unknown_message(known: frozenset[str]) -> str:
    if not known:
        return "is not a parameter of this endpoint, which takes none"
    return f"is not a parameter of this endpoint; it takes {', '.join(sorted(known))}"


class RelativeSlashRedirect:
    """The router's answer for a path no route matches: a redirect to the same path with (or
    without) its trailing slash when that one matches, else the router's 404.

    Starlette builds that redirect as an absolute URL from the `Host` header, which a client
    chooses: `Host: evil.example` sent the caller to `http://evil.example/...` (and behind a
    TLS proxy, to `http://`). The `Location` here is relative (RFC 9110 §10.2.2): the path and
    query only, so the client stays on the host and scheme it used.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.not_found = router.default
        router.redirect_slashes = False  # Starlette's own, absolute, redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route_path = get_route_path(scope)
        if scope["type"] == "http" and route_path != "/":
            other = dict(scope)
            other["path"] = (
                scope["path"].rstrip("/") if route_path.endswith("/") else scope["path"] + "/"
            )
            if any(route.matches(other)[0] is not Match.NONE for route in self.router.routes):
                location = "/" + f"{scope.get('root_path', '')}{other['path']}".lstrip("/\\")
                if scope.get("query_string"):
                    location += "?" + scope["query_string"].decode("latin-1")
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await self.not_found(scope, receive, send)


def relative_slash_redirects(app: FastAPI) -> None:
    """Replace Starlette's absolute trailing-slash redirect by `RelativeSlashRedirect`."""
    if not isinstance(app.router.default, RelativeSlashRedirect):
        app.router.default = RelativeSlashRedirect(app.router)
