"""`Idempotency-Key` on create and import requests: a retry gets the first answer, not a copy.

A client that does not know whether its `POST` went through (timeout, dropped connection)
sends it again with the same `Idempotency-Key` header; the request runs once and every retry
gets the stored status and body with `Idempotent-Replayed: true` (docs/http.md, "Idempotent
requests"; docs/security-checklist.md F15).

- Which routes: every `POST` route that answers 201 (``status_code=201``, or a 201 entry in
  ``responses=`` as the import routes declare), unless the route says otherwise with
  ``openapi_extra={"x-idempotent": False}`` (or opts in with ``True``). Elsewhere the header is
  ignored. The header is added to those operations in the OpenAPI schema.
- Scope: the caller (the user id of a valid access token, else the client IP) and the route
  (method and path template). The request must match too: method, path, query string, media
  type and a SHA-256 of the body (a multipart boundary, random per request, is left out).
- Claim: a cache lock (``set NX`` with a TTL, renewed while the request runs) makes the first
  request the only one to run, in every process; a concurrent duplicate answers 409 with
  `Retry-After`. A 2xx answer is stored for `IDEMPOTENCY_TTL` seconds before the client gets
  its last byte; anything else releases the key so the client can retry.
- Cost: without the header, one scan of the request headers on `POST`, nothing else.

This middleware runs before routing and authentication, so it identifies the caller by the
signature and expiry of the access token alone (local, no I/O). Before a replay it asks the
module that owns sign-in whether that token's session is still live (`REPLAY_GUARD`, set by
the auth module; the same cache read the route's own check makes): a signed-out or revoked
token gets the 401 the route would give, not the kept answer. A replay only ever returns to
a user what that user's own request already produced, and executes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.cache import Cache, CacheUnavailableError
from app.core.cache.namespaces import protect_namespace
from app.core.config import Settings
from app.core.errors import is_dependency_outage
from app.core.responses import error_response
from app.core.schemas import pattern
from app.core.security.tokens import InvalidToken, TokenService

log = structlog.get_logger("app.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Route override, in `openapi_extra`: True opts a POST route in, False opts it out.
OPT_IN = "x-idempotent"
MAX_KEY_LENGTH = 255
# Printable ASCII (space to tilde), 1 to 255 characters.
_VALID_KEY = re.compile(rf"[ -~]{{1,{MAX_KEY_LENGTH}}}")
NAMESPACE = protect_namespace(
    "idem",
    "responses kept for Idempotency-Key retries: clearing them lets a retry create twice",
)
# The in-progress claim lives this long unless renewed; it is renewed every third of it while
# the request runs, so a crashed process frees its keys within this time.
IN_PROGRESS_TTL = 30.0
RETRY_AFTER_IN_PROGRESS = "1"
# Larger (or streamed) answers are not kept; the key still is, so a retry cannot run twice.
MAX_STORED_BODY = 1024 * 1024
# Body bytes read on the route's behalf when it answered 2xx without reading them all.
MAX_UNREAD_BODY = 1024 * 1024
_KEPT_HEADERS = frozenset(
    {b"content-type", b"location", b"content-disposition", b"etag", b"last-modified"}
)
_BOUNDARY_MARK = b"\0boundary\0"
# `app.state` attribute: `async (app, access_token) -> bool`, whether the token's session is
# still live. Set by the module that owns sign-in; without it replays are not checked.
REPLAY_GUARD = "idempotency_replay_guard"
ReplayGuard = Callable[[Any, str], Awaitable[bool]]

HEADER_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: a repeat of this request with the same key (same caller, same "
        "body) within the retention time is not executed again; it gets the first answer "
        f"with `{REPLAYED_HEADER}: true`. The same key with a different request is a 422; "
        "while the first is still running, a 409 with `Retry-After`."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": pattern("^[ -~]+$", "printable ASCII characters"),
    },
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorEnvelope"}
_IN_PROGRESS_RESPONSE: dict[str, Any] = {
    "description": f"Conflict; also: a request with this {HEADER} is still running",
    "content": {"application/json": {"schema": _ERROR_SCHEMA}},
}


def is_idempotent(route: Any) -> bool:
    """Whether `route` honours `Idempotency-Key`: a POST answering 201, or opted in.

    `route` is an `APIRoute` or FastAPI's `RouteContext` of one (same attributes).
    """
    methods = getattr(route, "methods", None) or ()
    if "POST" not in methods or not hasattr(route, "responses"):
        return False  # not a POST, or not an API route
    explicit = (getattr(route, "openapi_extra", None) or {}).get(OPT_IN)
    if explicit is not None:
        return bool(explicit)
    responses = getattr(route, "responses", None) or {}
    return route.status_code == 201 or any(str(code) == "201" for code in responses)


def _route_path(scope: Scope) -> str:
    """The path the router matches (`root_path` removed), like Starlette's own routing."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root) :]
    return path


@dataclass(frozen=True, slots=True)
class _RouteTable:
    """The app's routes that answer POST, in routing order, as (path regex, template); the
    template is None for the routes that are not idempotent."""

    routes: tuple[tuple[re.Pattern[str], str | None], ...]

    @classmethod
    def build(cls, app: Any) -> _RouteTable:
        routes: list[tuple[re.Pattern[str], str | None]] = []
        router = getattr(app, "router", None)
        # FastAPI keeps included routers as branches; this walks their effective routes
        # (full paths), as the router and the OpenAPI generator do.
        for route in iter_route_contexts(getattr(router, "routes", [])):
            regex = getattr(route, "path_regex", None)
            if regex is None or "POST" not in (route.methods or ()):
                continue
            routes.append((regex, route.path_format if is_idempotent(route) else None))
        table = cls(tuple(routes))
        if app is not None and hasattr(app, "openapi"):
            _document(app, {template for _, template in routes if template is not None})
        return table

    def template_for(self, scope: Scope) -> str | None:
        """The path template of the route this request goes to, if that route is idempotent."""
        path = _route_path(scope)
        for regex, template in self.routes:
            if regex.match(path):
                return template
        return None


def _document(app: Any, templates: set[str]) -> None:
    """Declare the optional header (and the 409 it can cause) on the idempotent operations
    of `app`'s OpenAPI schema, by wrapping `app.openapi` (FastAPI's documented extension
    point); the schema is still built once and cached by FastAPI."""
    original = app.openapi
    if getattr(original, "idempotency_documented", False):
        return

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = original()
        has_envelope = "ErrorEnvelope" in schema.get("components", {}).get("schemas", {})
        for template in templates:
            operation = schema.get("paths", {}).get(template, {}).get("post")
            if operation is None:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
                parameters.append(HEADER_PARAMETER)
            if has_envelope:
                operation.setdefault("responses", {}).setdefault("409", _IN_PROGRESS_RESPONSE)
        return schema

    openapi.idempotency_documented = True  # type: ignore[attr-defined]
    app.openapi = openapi


class _Digest:
    """SHA-256 of what makes two requests "the same": method, path, query, media type, body.

    Fed the body as it streams by; a multipart boundary (random per request) is replaced by a
    fixed mark, so a client resending the same file with a new boundary still matches.
    """

    def __init__(self, scope: Scope, content_type: bytes | None) -> None:
        media, _, params = (content_type or b"").partition(b";")
        self._hash = hashlib.sha256()
        for part in (
            scope["method"].encode(),
            scope["path"].encode("utf-8", "surrogatepass"),
            scope.get("query_string", b""),
            media.strip().lower(),
        ):
            self._hash.update(part + b"\0")
        self._boundary = (
            _boundary(params) if media.strip().lower().startswith(b"multipart/") else None
        )
        self._carry = b""
        self.size = 0
        self.complete = False

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self._boundary:
            self._hash.update(chunk)
            return
        *pieces, tail = (self._carry + chunk).split(self._boundary)
        for piece in pieces:
            self._hash.update(piece + _BOUNDARY_MARK)
        # Keep what could be the start of a boundary that the next chunk completes.
        keep = len(self._boundary) - 1
        if len(tail) > keep:
            self._hash.update(tail[: len(tail) - keep])
            tail = tail[len(tail) - keep :]
        self._carry = tail

    def hexdigest(self) -> str:
        final = self._hash.copy()
        final.update(self._carry)
        return final.hexdigest()


def _boundary(params: bytes) -> bytes | None:
    for param in params.split(b";"):
        name, _, value = param.strip().partition(b"=")
        if name.strip().lower() == b"boundary":
            value = value.strip().strip(b'"')
            return value if 0 < len(value) <= 200 else None
    return None


@dataclass(frozen=True, slots=True)
class _Record:
    """A finished request: its fingerprint and, when it could be kept, its answer."""

    fingerprint: str | None
    size: int
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | None

    def dump(self) -> bytes:
        head = {
            "v": 1,
            "fp": self.fingerprint,
            "size": self.size,
            "status": self.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "kept": self.body is not None,
        }
        return orjson.dumps(head) + b"\n" + (self.body or b"")

    @classmethod
    def load(cls, raw: bytes) -> _Record | None:
        """The record in `raw`, or None if it is not one (then it is overwritten)."""
        head_raw, _, body = raw.partition(b"\n")
        try:
            head = orjson.loads(head_raw)
            return cls(
                fingerprint=head["fp"],
                size=int(head["size"]),
                status=int(head["status"]),
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in head["headers"]],
                body=body if head["kept"] else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("idempotency_record_unreadable")
            return None


def _key_error(message: str, kind: str) -> list[dict[str, str]]:
    return [{"field": HEADER, "location": "header", "message": message, "type": kind}]


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    error_type: str | None = None,
) -> None:
    response = error_response(status, message, errors or (), headers, error_type)
    await response(scope, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send, dependency: str) -> None:
    """503 naming the dependency, as the app's own handlers answer an outage."""
    await _refuse(
        scope,
        receive,
        send,
        503,
        f"Service temporarily unavailable: {dependency}",
        headers={"Retry-After": "5"},
    )


class IdempotencyMiddleware:
    """Honours `Idempotency-Key` on idempotent POST routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.ttl = settings.idempotency_ttl
        self._table: _RouteTable | None = None
        self._tokens: TokenService | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._table is None:  # once per app, on its lifespan or first request
            self._table = _RouteTable.build(scope.get("app"))
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                await self._handle(scope, receive, send, value)
                return
        await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, raw_key: bytes) -> None:
        assert self._table is not None
        template = self._table.template_for(scope)
        if template is None:  # not an idempotent route: the header means nothing here
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if _VALID_KEY.fullmatch(key) is None:
            await _refuse(
                scope,
                receive,
                send,
                422,
                f"Validation failed: {HEADER}",
                _key_error(
                    f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                    "idempotency_key_invalid",
                ),
            )
            return
        headers = {
            header: value
            for header, value in scope["headers"]
            if header in (b"authorization", b"content-type")
        }
        caller, access_token = self._caller(scope, headers.get(b"authorization"))
        slot = hashlib.sha256(
            "\n".join((caller, scope["method"], template, key)).encode()
        ).hexdigest()
        name = f"{NAMESPACE}:{slot}"
        cache: Cache = scope["app"].state.cache
        digest = _Digest(scope, headers.get(b"content-type"))

        token: str | None = None
        try:
            token = await cache.acquire_lock(name, IN_PROGRESS_TTL)
            raw = await cache.get(name)
        except CacheUnavailableError:
            if token is not None:
                with contextlib.suppress(CacheUnavailableError):
                    await cache.release_lock(name, token)
            log.warning("idempotency_unavailable", reason="cache unavailable")
            # Running it unguarded could create twice: fail closed (docs/resilience.md).
            await _unavailable(scope, receive, send, "cache")
            return
        record = _Record.load(raw) if raw is not None else None
        if record is not None:
            if token is not None:
                with contextlib.suppress(CacheUnavailableError):
                    await cache.release_lock(name, token)
            if access_token is None or await _signed_in(scope, receive, send, access_token):
                await self._replay(scope, receive, send, record, digest)
            return
        if token is None:
            await _refuse(
                scope,
                receive,
                send,
                409,
                f"A request with this {HEADER} is still in progress; retry later",
                _key_error("A request with this key is in progress", "idempotency_key_in_progress"),
                headers={"Retry-After": RETRY_AFTER_IN_PROGRESS},
                error_type="request_in_progress",
            )
            return
        await self._execute(scope, receive, send, cache, name, token, digest)

    def _caller(self, scope: Scope, authorization: bytes | None) -> tuple[str, str | None]:
        """`user:<id>` and the token for a valid access token, else `ip:<client address>`."""
        if authorization is not None:
            scheme, _, credentials = authorization.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                with contextlib.suppress(InvalidToken):
                    token = credentials.strip()
                    claims = self._token_service(scope).decode_access(token)
                    return f"user:{claims.user_id}", token
        return f"ip:{(scope.get('client') or ('unknown',))[0]}", None

    def _token_service(self, scope: Scope) -> TokenService:
        # The one the auth module uses (it may carry an injected clock), else one of our own.
        service: TokenService | None = getattr(scope["app"].state, "token_service", None)
        if service is None:
            if self._tokens is None:
                self._tokens = TokenService(self.settings)
            service = self._tokens
        return service

    async def _replay(
        self, scope: Scope, receive: Receive, send: Send, record: _Record, digest: _Digest
    ) -> None:
        if record.fingerprint is not None:
            read = await _read_body(receive, digest, limit=record.size)
            if read == "gone":
                return  # the client went away while sending: nobody to answer
            if read == "longer" or digest.hexdigest() != record.fingerprint:
                await _refuse(
                    scope,
                    receive,
                    send,
                    422,
                    f"Validation failed: {HEADER}",
                    _key_error(
                        "This key was already used for a different request",
                        "idempotency_key_reused",
                    ),
                )
                return
        if record.body is None or record.fingerprint is None:
            # Streamed, too large, or the route never read the whole body: nothing to replay
            # or to compare with, and running it again could create twice.
            await _refuse(
                scope,
                receive,
                send,
                409,
                f"The request with this {HEADER} was already processed; its response was not kept",
                _key_error("Already processed; response not kept", "idempotency_key_used"),
                error_type="request_processed",
            )
            return
        log.info("idempotent_replay", status=record.status)
        headers = [
            *record.headers,
            (b"content-length", str(len(record.body)).encode()),
            (REPLAYED_HEADER.lower().encode(), b"true"),
        ]
        await send({"type": "http.response.start", "status": record.status, "headers": headers})
        await send({"type": "http.response.body", "body": record.body})

    async def _execute(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        cache: Cache,
        name: str,
        token: str,
        digest: _Digest,
    ) -> None:
        status = 0
        kept: list[tuple[bytes, bytes]] = []
        body: list[bytes] | None = []
        body_size = 0

        async def receive_hashing() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not digest.complete:
                digest.update(message.get("body", b""))
                digest.complete = not message.get("more_body", False)
            return message

        async def send_recording(message: Message) -> None:
            nonlocal status, kept, body, body_size
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() in _KEPT_HEADERS]
                if 200 <= status < 300 and not digest.complete:
                    # The route answered without reading the whole body: read the rest, so a
                    # retry can be compared with this request.
                    await _read_body(receive, digest, limit=digest.size + MAX_UNREAD_BODY)
            elif message["type"] == "http.response.body" and 200 <= status < 300:
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                body_size += len(chunk)
                if body is not None:
                    if more or body_size > MAX_STORED_BODY:
                        body = None  # streamed or large: not kept (the key still is)
                    else:
                        body.append(chunk)
                if not more:
                    await self._store(cache, name, status, kept, body, digest)
            await send(message)

        keeper = asyncio.create_task(_keep_claim(cache, name, token))
        try:
            await self.app(scope, receive_hashing, send_recording)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(CacheUnavailableError):
                await cache.release_lock(name, token)

    async def _store(
        self,
        cache: Cache,
        name: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: list[bytes] | None,
        digest: _Digest,
    ) -> None:
        record = _Record(
            fingerprint=digest.hexdigest() if digest.complete else None,
            size=digest.size,
            status=status,
            headers=headers,
            body=b"".join(body) if body is not None else None,
        )
        try:
            await cache.set(name, record.dump(), self.ttl)
        except CacheUnavailableError:
            # The work is done and the client gets its answer; only a retry is unprotected.
            log.error("idempotency_store_failed", reason="cache unavailable")


async def _signed_in(scope: Scope, receive: Receive, send: Send, access_token: str) -> bool:
    """True if the token's session is live; else answers what the route would (401, or 503
    when the check cannot be made) and returns False."""
    guard: ReplayGuard | None = getattr(scope["app"].state, REPLAY_GUARD, None)
    if guard is None:
        return True
    try:
        if await guard(scope["app"], access_token):
            return True
    except CacheUnavailableError:
        await _unavailable(scope, receive, send, "cache")
        return False
    except Exception as exc:  # the cold path reads the session row
        if not is_dependency_outage(exc):
            raise
        await _unavailable(scope, receive, send, "database")
        return False
    log.info("idempotent_replay_refused", reason="session ended")
    # What the route itself answers for this token (app.core.guard.get_principal).
    await _refuse(
        scope, receive, send, 401, "Session ended", headers={"WWW-Authenticate": "Bearer"}
    )
    return False


async def _read_body(receive: Receive, digest: _Digest, *, limit: int) -> str:
    """Feed the rest of the request body to `digest`.

    Returns ``"read"``, ``"gone"`` if the client disconnected, or ``"longer"`` once the body
    passes `limit` bytes (it then cannot be the request it is compared with; the rest is
    left unread).
    """
    while not digest.complete:
        message = await receive()
        if message["type"] != "http.request":
            return "gone"
        digest.update(message.get("body", b""))
        digest.complete = not message.get("more_body", False)
        if digest.size > limit:
            return "longer"
    return "read"


async def _keep_claim(cache: Cache, name: str, token: str) -> None:
    """Renew the in-progress claim while the request runs."""
    while True:
        await asyncio.sleep(IN_PROGRESS_TTL / 3)
        try:
            if not await cache.extend_lock(name, token, IN_PROGRESS_TTL):
                log.warning("idempotency_claim_lost")
                return
        except CacheUnavailableError:
            continue
