"""Auth module: login, tokens, sessions, MFA, captcha and the caller's own profile."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.idempotency import REPLAY_GUARD
from app.core.modules import ModuleSpec
from app.modules.auth.router import router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # An Idempotency-Key replay (answered before routing) checks the session like a route.
    from app.modules.auth.deps import session_is_live  # this package's import order

    setattr(app.state, REPLAY_GUARD, session_is_live)
    yield


module = ModuleSpec(
    name="auth",
    routers=[router],
    models=["app.modules.auth.models"],
    depends_on=("system",),
    permissions="app.modules.auth.permissions",
    lifespan=lifespan,
)
