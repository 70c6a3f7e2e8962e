"""A second app instance on the same database: another process's worth of state (its own
engine, cache client and in-process memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings


@asynccontextmanager
async def second_instance(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    other = create_app(make_settings(settings.database_url, **overrides))
    async with LifespanManager(other):
        yield other
