"""JavaScript and CSS the console's sign-in page loads, gzipped (target: at most 300 KB).

    python bench/console_size.py            # needs Debian's Chromium and pip `playwright`

Serves the committed build (app/console/dist) with the real app on a throw-away SQLite file,
opens /console/login in Chromium (launched by path, as in tests/browser), records every
script and stylesheet the page fetches until the network is idle, and gzips each body at
level 6 (what the app's GZip middleware sends). Then signs in and does the same for the first
visit of the positions page, to show what a page chunk adds. Prints a table; `--json` for the
raw figures.
"""

# A command-line tool run by hand: it prints; its password is for a throw-away database.
# ruff: noqa: T201, S105

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("APP_ENV", "test")

import uvicorn  # noqa: E402
from playwright.sync_api import Page, Response, sync_playwright  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from app.core import migrations  # noqa: E402
from app.core.config import load_settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.modules.system.bootstrap import load_initial_data  # noqa: E402

TARGET = 300 * 1024
PASSWORD = "bench console size passphrase"
CHROMIUM = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium")


def chromium() -> str:
    for path in CHROMIUM:
        if Path(path).is_file():
            return path
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if not found:
        raise SystemExit("no Chromium: apt-get install chromium-headless-shell")
    return found


def serve(directory: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    url = f"sqlite+aiosqlite:///{directory}/bench.db"
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
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


DIST = ROOT / "app" / "console" / "dist"


def record(page: Page) -> dict[str, tuple[int, int]]:
    """Every script and stylesheet fetched from now on: name -> (raw, gzipped) bytes.

    Sizes come from the build's files (the bytes served); reading response bodies in the
    event handler races with navigations."""
    seen: dict[str, tuple[int, int]] = {}

    def on_response(response: Response) -> None:
        if response.request.resource_type in ("script", "stylesheet") and response.ok:
            path = response.url.split("/console/", 1)[-1].split("?", 1)[0]
            body = (DIST / path).read_bytes()
            seen[path.rsplit("/", 1)[-1]] = (len(body), len(gzip.compress(body, compresslevel=6)))

    page.on("response", on_response)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-size-") as tmp:
        base, server, thread = serve(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium())
                page = browser.new_page()
                login = record(page)
                page.goto(f"{base}/console/login")
                page.wait_for_load_state("networkidle")
                page.locator("input[name=username]").fill("admin")
                page.locator("input[name=password]").fill(PASSWORD)
                positions: dict[str, tuple[int, int]] = {}
                before = set(login)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url("**/console/home")
                page.wait_for_load_state("networkidle")
                shell = {k: v for k, v in login.items() if k not in before}
                page.goto(f"{base}/console/home")  # a fresh load, then the page by the app
                page.wait_for_load_state("networkidle")
                mark = dict(login)
                page.locator(".el-sub-menu__title", has_text="System").click()
                page.locator(".el-menu-item", has_text="Positions").click()
                page.wait_for_url("**/console/system/positions")
                page.locator(".el-table").wait_for()
                page.wait_for_load_state("networkidle")
                positions = {k: v for k, v in login.items() if k not in mark}
                browser.close()
        finally:
            server.should_exit = True
            thread.join(30)
    sign_in = {k: v for k, v in login.items() if k in before}
    figures = {
        "sign_in": sign_in,
        "after_sign_in": shell,
        "positions_first_visit": positions,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    total = sum(gz for _, gz in sign_in.values())
    for title, files in figures.items():
        print(
            f"\n{title}: {len(files)} files, "
            f"{sum(r for r, _ in files.values()) / 1024:.1f} KB raw, "
            f"{sum(g for _, g in files.values()) / 1024:.1f} KB gzipped"
        )
        for name, (raw, gz) in sorted(files.items(), key=lambda item: -item[1][1]):
            print(f"  {gz / 1024:8.1f} KB  {raw / 1024:8.1f} KB raw  {name}")
    verdict = "met" if total <= TARGET else "NOT met"
    print(f"\nsign-in page: {total / 1024:.1f} KB gzipped JS+CSS (target 300 KB: {verdict})")
    return 0 if total <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
