from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import delete

from app.core.config import Settings
from tests.conftest import _check_response
from tests.support.probe import ProbeBase, Widget, create_probe_app


@pytest.fixture(scope="module")
async def probe_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_probe_app(settings)
    async with LifespanManager(app):
        async with app.state.engine.begin() as connection:
            await connection.run_sync(ProbeBase.metadata.create_all)
        yield app
        async with app.state.engine.begin() as connection:
            await connection.run_sync(ProbeBase.metadata.drop_all)


@pytest.fixture
async def probe(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probe_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [_check_response]},
    ) as http:
        yield http
    async with probe_app.state.engine.begin() as connection:
        await connection.execute(delete(Widget))
