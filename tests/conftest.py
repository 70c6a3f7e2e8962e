"""Test fixtures: a real database (SQLite, or the server behind TEST_DATABASE_URL), a real cache
(in-process, or Redis behind TEST_REDIS_URL), the app with its lifespan, and an HTTP client.

The schema is built by running the migrations, once per session, in a uniquely named database
that is dropped at the end. Every test starts with empty tables.
"""

from __future__ import annotations

import os

os.environ["APP_ENV"] = "test"

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import migrations
from app.core.config import Settings, load_settings
from app.core.database import Base
from app.main import create_app
from tests.support.databases import TEST_REDIS_URL, temporary_database


def check_envelope(response: httpx.Response) -> None:
    """Every JSON body is the envelope, and `code` repeats the HTTP status."""
    if response.headers.get("content-type", "").startswith("application/json") and not (
        response.request.url.path.endswith("/openapi.json")
    ):
        body = response.json()
        assert isinstance(body, dict), body
        assert body.get("code") == response.status_code, (response.status_code, body)
        assert "message" in body and "data" in body, body
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporary_database(tmp_path_factory.mktemp("db"), "app") as url:
        migrations.upgrade(url)
        yield url


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "cache_prefix": f"fa-test-{uuid.uuid4().hex[:12]}:",
        "secret_key": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "data_dir": Path(os.environ.get("PYTEST_DATA_DIR", "/tmp/fastapiadmin-test")),
        "log_level": "WARNING",
    }
    values.update(overrides)
    env = str(values.pop("app_env", "test"))
    return load_settings(env, **values)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application
        await application.state.cache.delete_pattern("*")


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every application table after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    app: FastAPI = request.getfixturevalue("app")
    async with app.state.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))


async def _check_response(response: httpx.Response) -> None:
    await response.aread()
    check_envelope(response)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [_check_response]},
    ) as http:
        yield http
