"""Records every mutating request, every export and every denied request in the operation log.

Plain ASGI middleware: it keeps a bounded copy of the request body as the app reads it, waits
for the response status, and hands one record to a `BatchWriter` -- no database work on the
request path. Secrets are masked by key name at any depth before anything is kept.

Only a signed-in caller's request that was not refused keeps its body. An anonymous request
(no principal: also every 401) or a denied one (401/403) keeps the body's size alone, and its
query string only while short: anyone can send those, so what they store must stay small
whatever the client sends (SECURITY.md §2 API4).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.batch import BatchWriter
from app.core.config import Settings
from app.core.context import current_request_id, user_id_var
from app.core.database import utcnow
from app.core.logging import mask_secrets
from app.modules.system.operation_log.models import OperationLog

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITER_STATE = "operation_log_writer"
DENIED = frozenset({401, 403})
# A query string longer than this (bytes) is stored as its size only, like an oversized body.
MAX_QUERY_BYTES = 1024


def is_recorded(method: str, path: str, status: int) -> bool:
    """Mutations, exports and denials are recorded; ordinary reads are not."""
    return method in MUTATING or status in DENIED or path.rstrip("/").endswith("/export")


def _masked_body(raw: bytes, size: int, content_type: str, limit: int) -> Any:
    if not size:
        return None
    if size > limit:
        return {"_omitted": f"{size} bytes"}
    try:
        if content_type.startswith("application/json"):
            return mask_secrets(orjson.loads(raw))
        if content_type.startswith("application/x-www-form-urlencoded"):
            return mask_secrets(dict(parse_qsl(raw.decode("utf-8", "replace"))))
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return {"_unparsed": f"{len(raw)} bytes"}
    return {"_content_type": content_type.split(";")[0][:100], "_size": len(raw)}


def _withheld_body(size: int, why: str) -> Any:
    """What an anonymous or denied request keeps of its body: the size, never the content."""
    return {"_withheld": why, "_size": size} if size else None


def _masked_query(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_QUERY_BYTES:
        return {"_omitted": f"{len(raw)} bytes"}
    return mask_secrets(dict(parse_qsl(raw.decode("latin-1")))) or None


def _error_message(raw: bytes) -> str | None:
    try:
        message = orjson.loads(raw).get("message")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(message)[:500] if message else None


def _route_info(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """(route template, module, action) from the matched route's metadata."""
    route: Any = scope.get("route")
    if route is None:
        return None, None, None
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    tags = getattr(route, "tags", None) or []
    module = str(tags[0]).split(":")[0].strip() if tags else None
    action = getattr(route, "name", None)
    return template, module, action


class OperationLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fastapi_app: Any = scope.get("app")
        writer: BatchWriter | None = (
            getattr(fastapi_app.state, WRITER_STATE, None) if fastapi_app else None
        )
        if writer is None:
            await self.app(scope, receive, send)
            return
        settings: Settings = fastapi_app.state.settings
        limit = settings.audit_max_body_bytes
        method: str = scope["method"]
        body = bytearray()
        received = 0  # every body byte, kept or not
        response_head = bytearray()
        status = 500
        start = time.perf_counter()

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and method in MUTATING:
                chunk = message.get("body", b"")
                received += len(chunk)
                if len(body) <= limit:  # keep at most limit+1 bytes: enough to know it's over
                    body.extend(chunk[: limit + 1 - len(body)])
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif (
                message["type"] == "http.response.body"
                and status >= 400
                and len(response_head) < 4096
            ):
                response_head.extend(message.get("body", b"")[:4096])
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            path: str = scope.get("path", "")
            if is_recorded(method, path, status):
                writer.submit(
                    self._record(
                        scope,
                        method,
                        path,
                        status,
                        (bytes(body), received),
                        bytes(response_head),
                        start,
                        limit,
                    )
                )

    @staticmethod
    def _record(
        scope: Scope,
        method: str,
        path: str,
        status: int,
        body: tuple[bytes, int],
        response_head: bytes,
        start: float,
        limit: int,
    ) -> dict[str, Any]:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        template, module, action = _route_info(scope)
        state = scope.get("state") or {}
        principal = state.get("principal")
        raw_body, size = body
        if status in DENIED:
            stored_body = _withheld_body(size, "denied")
        elif principal is None:
            stored_body = _withheld_body(size, "anonymous")
        else:
            stored_body = _masked_body(raw_body, size, headers.get("content-type", ""), limit)
        return {
            "request_id": current_request_id(),
            "user_id": principal.user_id if principal else user_id_var.get(),
            "username": principal.username if principal else None,
            "module": module,
            "action": action,
            "method": method,
            "route": template,
            "path": path[:1024],
            "query": _masked_query(scope.get("query_string", b"")),
            "body": stored_body,
            "status_code": status,
            "success": status < 400,
            "error_message": _error_message(response_head) if status >= 400 else None,
            "ip": ((scope.get("client") or ("",))[0] or None),
            "user_agent": (headers.get("user-agent") or "")[:512] or None,
            "duration_ms": round((time.perf_counter() - start) * 1000, 2),
            "created_at": utcnow(),
        }


def writer_for(app: FastAPI) -> BatchWriter | None:
    writer: BatchWriter | None = getattr(app.state, WRITER_STATE, None)
    return writer


@asynccontextmanager
async def operation_log_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.audit_enabled:
        yield
        return
    writer = BatchWriter(
        app.state.engine,
        OperationLog.__table__,  # type: ignore[arg-type]
        interval=settings.audit_flush_interval,
        batch_size=settings.audit_batch_size,
    )
    setattr(app.state, WRITER_STATE, writer)
    writer.start()
    try:
        yield
    finally:
        await writer.stop()
        setattr(app.state, WRITER_STATE, None)
