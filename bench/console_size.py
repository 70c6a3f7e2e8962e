"""JavaScript and CSS the console's sign-in page loads, gzipped (target: at most 300 KB).

    python bench/console_size.py            # needs Debian's Chromium and pip `playwright`

Serves the committed build (app/console/dist) with the real app on a throw-away SQLite file,
opens /console/login in Chromium (launched by path, as in tests/browser), records every
script and stylesheet the page fetches until the network is idle, and gzips each body at
level 6 (what the app's GZip middleware sends). Then signs in and does the same for the first
visit of the positions page, to show what a page chunk adds. Prints a table; `--json` for the
raw figures.
"""

# A command-line tool run by hand: it prints.
# ruff: noqa: T201

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("APP_ENV", "test")

from playwright.sync_api import Page, Response, sync_playwright  # noqa: E402

from bench.console_support import PASSWORD, chromium, serve, stop  # noqa: E402

TARGET = 300 * 1024
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
            stop(server, thread)
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
