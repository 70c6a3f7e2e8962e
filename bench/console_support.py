"""What the console benchmarks share: Debian's Chromium and the real app serving the build.

    from bench.console_support import PASSWORD, chromium, serve

`serve(directory)` migrates a throw-away SQLite file in `directory` (or `database_url`, which
must be a throw-away database too), loads the initial data (`admin` with `PASSWORD`) and runs
the app with the committed console build under uvicorn in a thread, on a free loopback port.
"""

# The password is for a throw-away database.
# ruff: noqa: S105

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from app.core import migrations
from app.core.config import load_settings
from app.main import create_app
from app.modules.system.bootstrap import load_initial_data

PASSWORD = "bench console size passphrase"
CHROMIUM = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
)


def chromium() -> str:
    for path in CHROMIUM:
        if Path(path).is_file():
            return path
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not found:
        raise SystemExit("no Chromium: apt-get install chromium-headless-shell")
    return found


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory}/bench.db"


def serve(
    directory: Path, database_url: str | None = None
) -> tuple[str, uvicorn.Server, threading.Thread]:
    """The app on 127.0.0.1: (base URL, server, thread); stop with `stop(server, thread)`."""
    url = database_url or sqlite_url(directory)
    # Not in this thread: Playwright's sync API may keep an event loop marked as running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrations.upgrade, url).result()
    settings = load_settings(
        "test",
        database_url=url,
        redis_url="",
        data_dir=directory,
        secret_key="bench-console-size-" + "x" * 32,
        init_admin_password=SecretStr(PASSWORD),
        rate_limit_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    loop = asyncio.new_event_loop()

    async def run() -> None:
        async with app.state.sessionmaker() as db, db.begin():
            await load_initial_data(db, settings)
        await server.serve()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the app did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


def stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(30)
