"""Login events (attempts, lockouts, MFA failures, logouts, refresh-token reuse) go to the login
log through a `BatchWriter`: outside the request's transaction, so a failed login -- whose
transaction rolls back -- is still recorded, and with no database round trip on the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from user_agents import parse as parse_user_agent

from app.core.batch import BatchWriter
from app.core.config import Settings
from app.core.context import current_request_id
from app.core.database import utcnow
from app.modules.system.login_log.models import LoginLog

WRITER_STATE = "login_log_writer"


def _with_client_details(record: dict[str, Any]) -> dict[str, Any]:
    """Browser, OS and device from the user agent; done by the writer, off the request path."""
    agent = record.get("user_agent")
    if agent:
        parsed = parse_user_agent(agent)
        browser = f"{parsed.browser.family} {parsed.browser.version_string}".strip()
        system = f"{parsed.os.family} {parsed.os.version_string}".strip()
        device = (
            "bot"
            if parsed.is_bot
            else "mobile"
            if parsed.is_mobile
            else "tablet"
            if parsed.is_tablet
            else "pc"
        )
        record = {**record, "browser": browser[:64], "os": system[:64], "device": device}
    return record


def record_event(
    app: FastAPI,
    *,
    event: str,
    success: bool,
    username: str | None = None,
    user_id: int | None = None,
    reason: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Queue one login-log entry (no-op when the writer is not running)."""
    writer: BatchWriter | None = getattr(app.state, WRITER_STATE, None)
    if writer is None:
        return
    writer.submit(
        {
            "event": event,
            "success": success,
            "username": (username or "")[:64] or None,
            "user_id": user_id,
            "reason": reason,
            "ip": ip,
            "user_agent": (user_agent or "")[:512] or None,
            "browser": None,
            "os": None,
            "device": None,
            "request_id": current_request_id(),
            "created_at": utcnow(),
        }
    )


def writer_for(app: FastAPI) -> BatchWriter | None:
    writer: BatchWriter | None = getattr(app.state, WRITER_STATE, None)
    return writer


@asynccontextmanager
async def login_log_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    writer = BatchWriter(
        app.state.engine,
        LoginLog.__table__,  # type: ignore[arg-type]
        interval=settings.audit_flush_interval,
        batch_size=settings.audit_batch_size,
        prepare=_with_client_details,
    )
    setattr(app.state, WRITER_STATE, writer)
    writer.start()
    try:
        yield
    finally:
        await writer.stop()
        setattr(app.state, WRITER_STATE, None)
