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
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import migrations
from app.core.config import Settings, load_settings
from app.core.database import Base
from app.core.error_types import ERROR_TYPES
from app.main import create_app
from app.modules.system.auth.deps import principal_memo
from app.modules.system.login_log.recorder import writer_for as login_log_writer
from app.modules.system.operation_log.recorder import writer_for as operation_log_writer
from tests.support.databases import TEST_REDIS_URL, temporary_database
from tests.support.probe import ProbeBase, Widget, create_probe_app
from tests.support.startup import shared_fixture
from tests.support.timing import LIFESPAN_TIMEOUT

# docs/security-checklist.md §0 #5 (ASVS 15.3.1): no response anywhere carries these keys. Checked
# on every
# response of the whole suite by the `client` fixture.
FORBIDDEN_KEYS = frozenset(
    {"password_hash", "mfa_secret", "refresh_token", "token_hash", "code_hash"}
)
TOKEN_PATHS = ("/api/v1/auth/login", "/api/v1/auth/refresh")
# The one endpoint that returns a (generated, one-time) password.
PASSWORD_PATH_SUFFIX = "/reset-password"


def forbidden_keys(value: object, path: str = "") -> list[str]:
    """Every JSON path under `value` whose key must never appear in a response."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in FORBIDDEN_KEYS or key == "password":
                found.append(here)
            found.extend(forbidden_keys(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(forbidden_keys(item, f"{path}[{index}]"))
    return found


def check_envelope(response: httpx.Response) -> None:
    """Every JSON body is the envelope (`code` repeats the status) and leaks no secret."""
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    request_path = response.request.url.path
    body = response.json()
    if request_path.endswith("/openapi.json"):
        return
    if request_path in TOKEN_PATHS and response.status_code == 200:
        assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token"}
        return
    assert isinstance(body, dict), body
    assert body.get("code") == response.status_code, (response.status_code, body)
    assert "message" in body, body
    assert "data" in body, body
    if response.status_code >= 400:
        # Every error names its type; a 409 its kind (docs/http.md, "Error types").
        assert body.get("type") in ERROR_TYPES, (response.status_code, body)
    leaks = forbidden_keys(body)
    if request_path.endswith(PASSWORD_PATH_SUFFIX):
        leaks = [leak for leak in leaks if leak != ".data.password"]
    assert not leaks, f"{request_path} returned secret keys: {leaks}"


@shared_fixture("the test database (created and migrated)", scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporary_database(tmp_path_factory.mktemp("db"), "app") as url:
        migrations.upgrade(url)
        yield url


def make_settings(database_url: str, **overrides: object) -> Settings:
    data_dir = Path(os.environ.get("PYTEST_DATA_DIR", "/tmp/fastapiadmin-test"))
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "cache_prefix": f"fa-test-{uuid.uuid4().hex[:12]}:",
        "secret_key": "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "data_dir": data_dir,
        "file_dir": data_dir / "files",
        "log_level": "WARNING",
        # The suite sends thousands of requests a minute from one address; the limits have
        # tests of their own (tests/core/test_ratelimit.py).
        "rate_limit_enabled": False,
        # The scheduler's leader loop is driven by its own tests (tests/modules/scheduler);
        # elsewhere it would fire jobs in the middle of unrelated tests.
        "scheduler_enabled": False,
        "modules": ["*", "tests.support.scheduler_plugin"],
        # The sample modules (example, blog) are on in test by default (off in prod); their
        # tests need them on whatever the environment says.
        "modules_disabled": [],
    }
    values.update(overrides)
    env = str(values.pop("app_env", "test"))
    return load_settings(env, **values)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@shared_fixture("the app (its lifespan: database and cache)", scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(
        application, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
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
    used = [name for name in ("app", "probe_app") if name in request.fixturenames]
    if not used:
        return
    app: FastAPI = request.getfixturevalue(used[0])
    for writer in (operation_log_writer(app), login_log_writer(app)):
        if writer is not None:  # what a test left in the queue must not leak into the next
            await writer.flush()
    async with app.state.engine.begin() as connection:
        if connection.dialect.name in ("mysql", "mariadb"):
            # MySQL checks self-references row by row even within one DELETE.
            await connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
        if connection.dialect.name in ("mysql", "mariadb"):
            await connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    await app.state.cache.delete_pattern("*")
    principal_memo(app).clear()


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


@shared_fixture("the probe app", scope="module")
async def probe_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_probe_app(settings)
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Figures of the fault and multi-instance tests (tests/support/fault_stats.py)."""
    from tests.support.fault_stats import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("faults injected (tests/support/fault_stats.py)")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test's time limit (`--timeout`, 120 s on an idle machine) is scaled to the
    machine (tests/support/timing.py), unless the test sets its own.

    `TEST_FAULTS=skip` leaves out the fault-injection tests (`@pytest.mark.fault`),
    `TEST_FAULTS=only` runs nothing else. CI runs the database runs side by side with `skip`,
    then the fault tests alone with `only`: they measure latencies and must not share the CPU
    with other runs. `TEST_SCOPE=servers` leaves out the tests that reach neither the database
    nor the cache under test (CI's PostgreSQL and MariaDB runs). Unset (a developer's run):
    everything."""
    from tests.support.timing import SLOWDOWN

    limit = config.getoption("timeout", default=None)
    if limit and SLOWDOWN > 1:
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(float(limit) * SLOWDOWN))
    mode = os.environ.get("TEST_FAULTS", "")
    scope = os.environ.get("TEST_SCOPE", "")
    if scope not in ("", "servers"):
        raise pytest.UsageError(f"TEST_SCOPE={scope!r}: unset (everything) or 'servers'")
    if mode not in ("skip", "only") and not scope:
        return
    from tests.support.scope import reaches_servers

    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        is_fault = item.get_closest_marker("fault") is not None
        wanted = mode not in ("skip", "only") or is_fault == (mode == "only")
        # TEST_SCOPE=servers (CI's PostgreSQL and MariaDB runs): only the tests that may use
        # the database or cache under test; the others ran in the SQLite run
        # (tests/support/scope.py).
        (keep if wanted and (not scope or reaches_servers(item)) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
