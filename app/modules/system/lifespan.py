"""Background work of the system module for the lifetime of each app process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.idempotency import REPLAY_GUARD
from app.modules.system.login_log.recorder import login_log_lifespan
from app.modules.system.operation_log.recorder import operation_log_lifespan


@asynccontextmanager
async def system_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The audit and login-log writers: started with the process, flushed when it stops.
    An Idempotency-Key replay (answered before routing) checks the session like a route."""
    from app.modules.system.auth.deps import session_is_live  # this package's import order

    setattr(app.state, REPLAY_GUARD, session_is_live)
    async with operation_log_lifespan(app), login_log_lifespan(app):
        yield
