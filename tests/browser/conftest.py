"""Browser tests: the console in Debian's Chromium, driven by Playwright from pytest.

- The browser is Debian's `chromium-headless-shell` (or `chromium`), launched through
  `executable_path`; `playwright install` is never used. No Chromium found: the tests skip,
  unless `TEST_BROWSER=required` (CI), where that is a failure. `TEST_BROWSER=skip` leaves
  them out (the PostgreSQL and MariaDB runs of CI: the browser tests bring their own server).
- The server is the real app under uvicorn, in a thread of the test process, on a free port,
  on a fresh SQLite file with a known admin password. Tests reach its state (cache, database)
  through `console_server.call(coro)`, which runs a coroutine on the server's event loop.
- Playwright's sync API and pytest-asyncio coexist: the browser tests are plain functions and
  use no async fixture, so no event loop runs in the main thread while Playwright works.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright
from pydantic import SecretStr

from app.core import migrations
from app.core.config import Settings
from app.main import create_app
from app.modules.system.bootstrap import load_initial_data
from tests.conftest import make_settings
from tests.support.startup import shared_fixture
from tests.support.tcp_proxy import free_port

T = TypeVar("T")

ADMIN_PASSWORD = "console tests passphrase 2026"
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


def chromium_path() -> str | None:
    configured = os.environ.get("TEST_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mode = os.environ.get("TEST_BROWSER", "")
    here = Path(__file__).parent
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    if mode == "skip" and ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@dataclass
class ConsoleServer:
    app: FastAPI
    settings: Settings
    base: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    server: uvicorn.Server
    errors: list[str] = field(default_factory=list)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` on the server's event loop (its cache and engine live there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def url(self, path: str) -> str:
        return f"{self.base}/console{path}"


def _start(settings: Settings) -> ConsoleServer:
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=serve, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console test server did not start")
        time.sleep(0.05)
    return ConsoleServer(app, settings, f"http://127.0.0.1:{port}", loop, thread, server)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("TEST_BROWSER") == "required":
            pytest.fail(
                "TEST_BROWSER=required, no Chromium: apt-get install chromium-headless-shell"
            )
        pytest.skip("no Chromium installed (apt-get install chromium-headless-shell)")
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium: str
) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium, never a downloaded one."""
    return {**browser_type_launch_args, "executable_path": chromium, "headless": True}


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    """Every page: the same size, English and UTC (pytest-playwright's own fixture would
    start Playwright for the whole session, see `playwright` below)."""
    return {
        "viewport": {"width": 1280, "height": 800},
        "locale": "en-US",
        "timezone_id": "UTC",
    }


@shared_fixture("the console server", scope="package")
def console_server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    directory = tmp_path_factory.mktemp("console")
    url = f"sqlite+aiosqlite:///{directory}/console.db"
    # Not in this thread: Playwright's sync API keeps an event loop marked as running here,
    # and the migrations run one of their own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrations.upgrade, url).result()
    settings = make_settings(
        url,
        redis_url="",
        data_dir=directory,
        file_dir=directory / "files",
        init_admin_password=SecretStr(ADMIN_PASSWORD),
        rate_limit_enabled=False,
        # Every page of every module in the menus (the sample modules too).
        modules=["*"],
        modules_disabled=[],
    )
    started = _start(settings)

    async def initial_data() -> None:
        async with started.app.state.sessionmaker() as db, db.begin():
            await load_initial_data(db, settings)

    started.call(initial_data())
    try:
        yield started
    finally:
        started.server.should_exit = True
        started.thread.join(30)


@pytest.fixture(scope="package", autouse=True)
def _test_id_attribute(chromium: str, playwright: Playwright) -> None:
    """The console marks testable controls with `data-test` (console/README.md)."""
    playwright.selectors.set_test_id_attribute("data-test")


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Replaces pytest-playwright's fallback `base_url` (a method-style session fixture that
    pytest 9 warns about). The tests use absolute URLs (`console_server.url(...)`)."""
    return None


# Playwright's sync API marks an event loop as running in the main thread for as long as it
# is started (between its calls too). The rest of the suite runs asyncio there (pytest-asyncio,
# asyncio.run), so Playwright must stop when this package's tests end, not at the end of the
# session as pytest-playwright's own fixtures would: these replace them with package scope.
@shared_fixture("Playwright", scope="package")
def playwright() -> Iterator[Playwright]:
    started = sync_playwright().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces the suite's async table cleaner: the browser tests never touch the shared
    test app, and no asyncio fixture may run in the thread where Playwright's loop lives.
    Each browser test makes its own users (unique names) on the console server."""
