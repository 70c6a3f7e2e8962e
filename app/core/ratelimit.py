"""API rate limits shared by every process: fixed windows counted in the shared cache.

- per client IP, on every request (`RateLimitMiddleware`, before routing and auth);
- per signed-in user (`check_user_limit`, called by the auth dependency);
- per route, tighter, declared on the route: `dependencies=[Depends(limit("10/minute"))]`.

Exceeding a limit answers 429 with `Retry-After`. A limit is a guard for availability, so if
the cache is unreachable the check is skipped (logged); login throttling, which is security
state, fails closed instead (see `app/modules/system/auth/throttle.py`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.cache import Cache, CacheUnavailableError
from app.core.config import Settings
from app.core.errors import TooManyRequests
from app.core.responses import error_response
from app.core.retry import is_rerun

log = structlog.get_logger("app.ratelimit")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"^(\d+)/(second|minute|hour)$")
# Paths the per-IP limit leaves alone: the health probes (OpenAPI documents 429 on the rest).
UNLIMITED_PREFIXES = ("/api/v1/health/",)


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a rate like 10/minute")
        return cls(int(match.group(1)), _PERIODS[match.group(2)])


async def hit(cache: Cache, key: str, rate: Rate) -> int | None:
    """Count one request against `key`; the seconds to wait if over the limit, else None."""
    window = int(time.time()) // rate.seconds
    try:
        used = await cache.incr(f"rl:{key}:{window}", ttl=rate.seconds + 1)
    except CacheUnavailableError:
        log.warning("rate_limit_skipped", reason="cache unavailable")
        return None
    if used <= rate.count:
        return None
    return rate.seconds - int(time.time()) % rate.seconds or 1


class RateLimitMiddleware:
    """The per-IP limit, checked before any routing or authentication work."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.rate = Rate.parse(settings.rate_limit_per_ip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        cache: Cache = scope["app"].state.cache
        ip = (scope.get("client") or ("unknown",))[0]
        wait = await hit(cache, f"ip:{ip}", self.rate)
        if wait is None:
            await self.app(scope, receive, send)
            return
        response = error_response(
            429, "Too many requests; slow down", headers={"Retry-After": str(wait)}
        )
        await response(scope, receive, send)


async def check_user_limit(request: Request, user_id: int) -> None:
    """The per-user limit (called once the caller is known)."""
    settings: Settings = request.app.state.settings
    if not settings.rate_limit_enabled or is_rerun(request.scope):
        return
    wait = await hit(
        request.app.state.cache, f"user:{user_id}", Rate.parse(settings.rate_limit_per_user)
    )
    if wait is not None:
        raise TooManyRequests("Too many requests; slow down", retry_after=wait)


def limit(rate: str, *, per: str = "ip") -> Callable[[Request], Awaitable[None]]:
    """A tighter limit for one route, per client IP (`per="ip"`) or per signed-in user."""
    parsed = Rate.parse(rate)

    async def dependency(request: Request) -> None:
        if not request.app.state.settings.rate_limit_enabled or is_rerun(request.scope):
            return  # a server-side re-run of a request counts once (app/core/retry.py)
        principal = getattr(request.state, "principal", None)
        who = (
            f"user:{principal.user_id}"
            if per == "user" and principal is not None
            else f"ip:{request.client.host if request.client else 'unknown'}"
        )
        route = request.scope.get("route")
        name = getattr(route, "path_format", None) or request.url.path
        wait = await hit(request.app.state.cache, f"route:{name}:{who}", parsed)
        if wait is not None:
            raise TooManyRequests("Too many requests for this operation", retry_after=wait)

    return dependency
