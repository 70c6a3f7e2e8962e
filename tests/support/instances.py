"""Other app instances on the test database: in this process (`second_instance`: its own
engine, cache client and memory) or as a real `main.py run` process (`Instance`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.support.processes import AppProcess, settings_env


@asynccontextmanager
async def second_instance(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    other = create_app(make_settings(settings.database_url, **overrides))
    async with LifespanManager(other):
        yield other


class Instance(AppProcess):
    """The app as a real `main.py run` process on the test database, Redis and secret
    (`extra_env` adds or overrides settings); started at once, `wait_ready()` before use."""

    def __init__(
        self, settings: Settings, directory: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(directory, settings_env(settings, directory, **(extra_env or {})))
        self.start()
