"""Every page of the menus in a real browser: it opens, survives a reload (F5) on its deep
link, logs no console error and no CSP violation, shows no English in zh-CN, and gets a
screenshot in docs/console/. Plus the shell: tabs, theme, language, 404."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ConsoleServer
from tests.browser.support import (
    api_login,
    assert_clean,
    menu_pages,
    shot,
    sign_in,
    signed_in,
    watch,
)

LOCALES = Path(__file__).resolve().parents[2] / "console" / "src" / "locales"
# Element Plus's own English words (pagination, empty table, select) must be translated too.
ELEMENT_ENGLISH = ("No Data", "Total ", "/page", "Go to", "Select", "Loading")


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    return [value] if isinstance(value, str) else []


def english_only() -> set[str]:
    """Every English string of the console that its zh-CN translation does not share."""
    chinese: set[str] = set()
    for file in (LOCALES / "zh-CN").glob("*.json"):
        chinese.update(strings(json.loads(file.read_text(encoding="utf-8"))))
    english: set[str] = set()
    for file in (LOCALES / "en").glob("*.json"):
        english.update(strings(json.loads(file.read_text(encoding="utf-8"))))
    # Placeholders ({name}) make a string that can never appear verbatim; short words such
    # as "No" would match inside data; the product's name is a name: all are left out.
    return {s for s in english - chinese if "{" not in s and len(s) >= 4 and s != "FastapiAdmin"}


def open_page(page: Page, server: ConsoleServer, path: str) -> None:
    page.goto(server.url(path))
    expect(page).to_have_url(server.url(path))
    signed_in(page)
    page.wait_for_load_state("networkidle")


SAMPLE_POSITIONS = [
    ("Chief executive", "ceo", 1),
    ("Engineering manager", "eng-manager", 2),
    ("Software engineer", "engineer", 3),
    ("Support specialist", "support", 4),
]


def seed_positions(server: ConsoleServer) -> None:
    """A few rows, so that the screenshots show a list."""
    headers = api_login(server, "admin", ADMIN_PASSWORD)
    for name, code, sort in SAMPLE_POSITIONS:
        httpx.post(
            f"{server.base}/api/v1/system/positions",
            json={"name": name, "code": code, "sort": sort},
            headers=headers,
            timeout=30,
        )


def test_every_menu_page_opens_and_reloads(page: Page, console_server: ConsoleServer) -> None:
    seed_positions(console_server)
    pages = menu_pages(console_server)
    assert len(pages) >= 15  # every module's pages (system, monitor, scheduler, files, ...)
    seen = watch(page)
    sign_in(page, console_server)
    signed_in(page)
    shot(page, "home")
    for menu in [{"path": "/profile", "name": "Profile"}, *pages]:
        open_page(page, console_server, menu["path"])
        page.reload()
        expect(page).to_have_url(console_server.url(menu["path"]))
        signed_in(page)
        page.wait_for_load_state("networkidle")
        # The page is the active tab and the breadcrumb's last item.
        expect(page.locator(".tab.active")).to_have_count(1)
        shot(page, f"page-{slug(menu['path'])}")
        assert_clean(page, seen)


def test_zh_cn_shows_no_english(browser: Browser, console_server: ConsoleServer) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        seen = watch(page)
        sign_in(page, console_server)
        signed_in(page)
        english = english_only()
        assert "Sign in" in english and "Positions" in english
        for path in ["/home", "/profile", *[m["path"] for m in menu_pages(console_server)]]:
            open_page(page, console_server, path)
            text = page.locator("#app").inner_text()
            found = sorted(s for s in english if s in text)
            found += [s for s in ELEMENT_ENGLISH if s in text]
            assert not found, f"English on {path} in zh-CN: {found}"
            if path == "/system/positions":
                shot(page, "zh-CN-positions")
        assert_clean(page, seen)
    finally:
        context.close()


def test_dark_mode_is_remembered(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    sign_in(page, console_server)
    signed_in(page)
    open_page(page, console_server, "/system/positions")
    page.get_by_test_id("theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.reload()
    signed_in(page)
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.wait_for_load_state("networkidle")
    shot(page, "dark-positions")
    page.get_by_test_id("theme").click()
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"))
    assert_clean(page, seen)


def test_language_switch_in_the_shell(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    sign_in(page, console_server)
    signed_in(page)
    open_page(page, console_server, "/system/positions")
    page.get_by_test_id("language").click()
    page.locator(".el-dropdown-menu [data-lang=zh-CN]").click()
    expect(page.get_by_test_id("create")).to_have_text("新增")
    expect(page.locator(".tab.active")).to_contain_text("岗位管理")
    page.reload()
    signed_in(page)
    expect(page.get_by_test_id("create")).to_have_text("新增")
    page.get_by_test_id("language").click()
    page.locator(".el-dropdown-menu:visible [data-lang=en]").click()
    expect(page.get_by_test_id("create")).to_have_text("New")
    assert_clean(page, seen)


def test_tabs_close_others_close_all_and_refresh(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    sign_in(page, console_server)
    signed_in(page)
    for path in ("/system/positions", "/system/users", "/profile"):
        open_page(page, console_server, path)  # tabs survive the reload of a deep link
    tabs = page.locator(".tab")
    expect(tabs).to_have_count(4)  # Home + the three
    page.get_by_test_id("tab-actions").click()
    page.get_by_test_id("tab-close-others").click()
    expect(tabs).to_have_count(2)  # Home (fixed) + the current page
    expect(page).to_have_url(console_server.url("/profile"))
    page.get_by_test_id("tab-actions").click()
    page.get_by_test_id("tab-refresh").click()
    expect(page).to_have_url(console_server.url("/profile"))
    page.get_by_test_id("tab-actions").click()
    page.get_by_test_id("tab-close-all").click()
    expect(tabs).to_have_count(1)
    expect(page).to_have_url(console_server.url("/home"))
    assert_clean(page, seen)


def test_unknown_deep_link_is_the_404_page(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    sign_in(page, console_server)
    signed_in(page)
    page.goto(console_server.url("/no/such/page"))
    expect(page.get_by_text("This page does not exist.")).to_be_visible()
    shot(page, "not-found")
    assert_clean(page, seen)
