"""HTTP middleware: request id, access log, security headers, last-resort 500, proxies, CORS.

`RequestContextMiddleware` is plain ASGI (no `BaseHTTPMiddleware`): it sits on every request's
path, so it adds headers in `send` without buffering bodies.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core.config import Settings
from app.core.context import request_id_var, user_id_var
from app.core.idempotency import IdempotencyMiddleware
from app.core.ratelimit import RateLimitMiddleware
from app.core.responses import error_response
from app.core.retry import buffer_body, replay

access_log = structlog.get_logger("app.access")
error_log = structlog.get_logger("app.errors")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

# JSON API responses: nothing may be framed, sniffed or loaded from them.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The docs pages run the bundled Swagger UI / ReDoc scripts (inline bootstrap, web workers).
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


def _security_headers(
    settings: Settings,
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    common = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    hsts = settings.hsts_enabled if settings.hsts_enabled is not None else settings.is_production
    if hsts:
        common.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    api = [*common, (b"content-security-policy", _API_CSP.encode())]
    docs = [*common, (b"content-security-policy", _DOCS_CSP.encode())]
    return api, docs


class RequestContextMiddleware:
    """Request id in and out, one access log line, security headers, and a generic 500.

    The request id comes from `X-Request-ID` when it is sane (letters, digits, `._:-`, at most
    128 characters), otherwise a new one is made; it is echoed on every response and bound to
    every log line of the request.
    """

    def __init__(self, app: ASGIApp, settings: Settings, docs_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.docs_prefixes = docs_prefixes
        self.api_headers, self.docs_headers = _security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        uid_token = user_id_var.set(None)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope.get("path", "")
        extra = self.docs_headers if path.startswith(self.docs_prefixes) else self.api_headers
        status = 500
        started = False
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                headers.extend(item for item in extra if item[0] not in present)
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # the last resort: never a traceback to the client
            error_log.error("unhandled_exception", path=path, exc_info=exc)
            if not started:
                response = error_response(500, "Internal server error")
                await response(scope, receive, send_wrapper)
            else:
                raise
        finally:
            access_log.info(
                "request",
                method=scope.get("method"),
                path=path,
                route=_route_template(scope),
                status=status,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
                client=(scope.get("client") or ("-",))[0],
                user_id=user_id_var.get(),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            user_id_var.reset(uid_token)
            request_id_var.reset(rid_token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SANE_REQUEST_ID.match(candidate) else None
    return None


def _route_template(scope: Scope) -> str | None:
    route: Any = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None)


# Largest request body accepted outside multipart uploads, which stream under limits of their
# own (FILE_MAX_SIZE, IMPORT_MAX_BYTES). The largest JSON body a route takes is far below it.
MAX_BODY_BYTES = 1024 * 1024


class BodySizeLimitMiddleware:
    """A body over MAX_BODY_BYTES is a 413 before any route, auth or parsing work (API4).

    Refused at once when `Content-Length` announces it; otherwise the body is read up to the
    limit (so at most MAX_BODY_BYTES are ever held) and handed on to the app unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is None and b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)  # no body
            return
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await buffer_body(receive, self.max_bytes)  # replayed to the app as it came
        if body.over_limit:
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, replay(body.messages, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, f"Request body too large (at most {self.max_bytes} bytes outside file uploads)"
        )
        await response(scope, receive, send)


# The only writes a read-only demo instance accepts: signing in and out.
DEMO_ALLOWED = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"})


class DemoModeMiddleware:
    """Read-only demo: every mutating request except sign-in/out is refused with 403.

    Decided on the method and the exact path only (no header is consulted), so nothing a
    client sends can lift it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and scope.get("path", "").rstrip("/") not in DEMO_ALLOWED
        ):
            response = error_response(403, "Demo mode: changes are disabled on this instance")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_middleware(settings: Settings, docs_prefixes: tuple[str, ...]) -> list[Middleware]:
    """The middleware stack, outermost first."""
    stack: list[Middleware] = []
    if settings.trusted_proxies:
        # Only these peers may set X-Forwarded-For / -Proto; anyone else's headers are ignored.
        stack.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies))
    stack.append(
        Middleware(RequestContextMiddleware, settings=settings, docs_prefixes=docs_prefixes)
    )
    if settings.rate_limit_enabled:
        stack.append(Middleware(RateLimitMiddleware, settings=settings))
    stack.append(Middleware(BodySizeLimitMiddleware))
    if settings.demo_mode:
        stack.append(Middleware(DemoModeMiddleware))
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials
                and "*" not in settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
                expose_headers=[
                    "X-Request-ID",
                    "Retry-After",
                    "Content-Disposition",
                    "Idempotent-Replayed",
                ],
                max_age=600,
            )
        )
    stack.append(
        Middleware(
            GZipMiddleware,
            minimum_size=settings.gzip_minimum_size,
            # zlib's default level: level 9 (Starlette's default) costs about twice the CPU
            # for a few per cent smaller JSON.
            compresslevel=6,
            # Binary downloads are already compressed (or gain nothing): send them as they are.
            exclude_content_types=(
                *DEFAULT_EXCLUDED_CONTENT_TYPES,
                "application/octet-stream",
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "image/*",
            ),
        )
    )
    # Innermost: sees and stores uncompressed answers (docs/http.md, "Idempotent requests").
    stack.append(Middleware(IdempotencyMiddleware, settings=settings))
    return stack
