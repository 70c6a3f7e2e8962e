"""The list pages' shared parts in a real browser: the pager past the API's exact-count bound
(an estimate shown as such, paging on by cursor), and every list's columns fitting at
1280 px (the fixed Actions column covers none of them) in English and in zh-CN, light and dark.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import delete, insert

from app.core.pagination import LARGE_LIST_EXACT_COUNT
from app.modules.system.user.models import User
from tests.browser.conftest import ConsoleServer
from tests.browser.support import assert_clean, new_user, shot, sign_in, signed_in, watch

LIST_PAGES = (
    "/system/users",
    "/system/roles",
    "/system/menus",
    "/system/depts",
    "/system/positions",
    "/system/dicts",
    "/system/params",
    "/system/notices",
    "/system/logs/operations",
    "/system/logs/logins",
    "/monitor/sessions",
)
BULK = "bulkpage"
BULK_ROWS = LARGE_LIST_EXACT_COUNT + 50

# For every table on the page: how far its body overflows sideways (a positive number means
# the last columns sit under the fixed Actions column until scrolled to), and the Actions
# cells whose buttons wrapped onto a second line.
LAYOUT = """() => [...document.querySelectorAll('.el-table')]
  .filter((t) => t.offsetParent).map((t) => {
  const wrap = t.querySelector('.el-table__body-wrapper .el-scrollbar__wrap')
  const wrapped = [...t.querySelectorAll('td.row-actions .cell')].filter((cell) => {
    const tops = [...cell.querySelectorAll('.el-button')].filter((b) => b.offsetParent)
      .map((b) => b.getBoundingClientRect().top)
    return tops.length > 1 && Math.max(...tops) - Math.min(...tops) > 8
  }).length
  return { overflow: wrap ? wrap.scrollWidth - wrap.clientWidth : 0, wrapped }
})"""


@pytest.fixture
def many_users(console_server: ConsoleServer) -> Iterator[int]:
    """More users named `bulkpage....` than the list counts exactly, inserted in one go."""

    async def seed() -> None:
        async with console_server.app.state.sessionmaker() as db, db.begin():
            rows = [
                {
                    "username": f"{BULK}{n:04d}",
                    "name": f"Bulk {n:04d}",
                    "password_hash": "!",  # no password: nobody signs in as these
                    "status": "active",
                }
                for n in range(BULK_ROWS)
            ]
            await db.execute(insert(User), rows)

    async def drop() -> None:
        async with console_server.app.state.sessionmaker() as db, db.begin():
            await db.execute(delete(User).where(User.username.like(f"{BULK}%")))

    console_server.call(seed())
    try:
        yield BULK_ROWS
    finally:
        console_server.call(drop())


def test_the_pager_pages_past_the_exact_count_bound_by_cursor(
    page: Page, console_server: ConsoleServer, many_users: int
) -> None:
    seen = watch(page)
    sign_in(page, console_server, path="/login?redirect=/system/users")
    signed_in(page)
    rows = page.locator("[data-test=user-table] .el-table__body tr")
    page.locator("input[name=filter-username]").fill(BULK)
    with page.expect_response(lambda r: f"username={BULK}" in r.url):
        page.get_by_test_id("search").click()
    # SQLite has no estimate: the API answers the bound + 1 with total_exact false.
    expect(page.get_by_test_id("pager-estimate")).to_have_text("Total 1,000+")
    expect(page.locator(".el-pager")).to_have_count(0)  # no numbered pages to the bound
    expect(page.get_by_test_id("pager-page")).to_have_text("Page 1")
    expect(page.get_by_test_id("pager-previous")).to_be_disabled()

    page.locator(".pager .el-pagination__sizes .el-select").click()
    with page.expect_response(lambda r: "page_size=100" in r.url):
        page.locator(".el-select-dropdown__item", has_text="100/page").click()
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text(f"{BULK}{many_users - 1:04d}")  # newest first

    pages = -(-many_users // 100)
    for number in range(2, pages + 1):
        with page.expect_response(
            lambda r: "cursor=" in r.url and "page=" not in r.url.replace("page_size", "")
        ):
            page.get_by_test_id("pager-next").click()
        expect(page.get_by_test_id("pager-page")).to_have_text(f"Page {number}")
    # Page 11 lies past the 1,000 rows the list counts: read by cursor, the oldest 50 rows.
    expect(rows).to_have_count(many_users - (pages - 1) * 100)
    expect(rows.first).to_contain_text(f"{BULK}{many_users - 1 - (pages - 1) * 100:04d}")
    expect(rows.last).to_contain_text(f"{BULK}0000")
    expect(page.get_by_test_id("pager-next")).to_be_disabled()
    shot(page, "lists-users-past-the-bound")

    with page.expect_response(lambda r: "cursor=" in r.url):
        page.get_by_test_id("pager-previous").click()
    expect(page.get_by_test_id("pager-page")).to_have_text(f"Page {pages - 1}")
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text(f"{BULK}{many_users - 1 - (pages - 2) * 100:04d}")

    with page.expect_response(lambda r: "page=1" in r.url and "cursor=" not in r.url):
        page.get_by_test_id("pager-first").click()
    expect(page.get_by_test_id("pager-page")).to_have_text("Page 1")
    expect(rows.first).to_contain_text(f"{BULK}{many_users - 1:04d}")
    assert_clean(page, seen)


def _layout_problems(
    page: Page, console_server: ConsoleServer, path: str, shot_name: str | None
) -> list[str]:
    page.goto(console_server.url(path))
    signed_in(page)
    page.wait_for_load_state("networkidle")
    expect(page.locator(".el-table").first).to_be_visible()
    if path == "/system/dicts":  # the items table appears once a type is picked
        page.locator("[data-test=types] .el-table__body tr").first.click()
        page.wait_for_load_state("networkidle")
    tables = page.evaluate(LAYOUT)
    problems = [] if tables else [f"no table on {path}"]
    for table in tables:
        if table["overflow"] > 1:
            problems.append(f"{path}: columns overflow by {table['overflow']} px")
        if table["wrapped"]:
            problems.append(f"{path}: action buttons wrap in {table['wrapped']} rows")
    if shot_name:
        shot(page, shot_name)
    return problems


@pytest.mark.parametrize(("lang", "dark"), [("en", False), ("zh-CN", False), ("en", True)])
def test_every_list_fits_at_1280_px(
    browser: Browser, console_server: ConsoleServer, lang: str, dark: bool
) -> None:
    context = browser.new_context(
        locale=lang, viewport={"width": 1280, "height": 800}, timezone_id="UTC"
    )
    page = context.new_page()
    # A row with every action (not one's own: no "More" there); a name in no English string.
    new_user(
        console_server, name="宽度", phone="13800138000", email=f"fits-{lang}-{dark}@example.com"
    )
    try:
        seen = watch(page)
        sign_in(page, console_server)
        signed_in(page)
        if dark:
            page.get_by_test_id("theme").click()
            expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
        problems: list[str] = []
        for path in LIST_PAGES:
            name = path.strip("/").replace("/", "-")
            wanted = {"system-users", "system-menus"} if lang == "en" and not dark else set()
            if lang != "en" or dark:
                wanted = {"system-users", "system-menus", "system-dicts", "system-logs-operations"}
            suffix = "-dark" if dark else "" if lang == "en" else f"-{lang}"
            shot_name = f"lists-{name}{suffix}" if name in wanted else None
            problems += _layout_problems(page, console_server, path, shot_name)
        assert not problems, "\n".join(problems)
        assert_clean(page, seen)
    finally:
        context.close()


def test_empty_lists_say_so(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    sign_in(page, console_server, path="/login?redirect=/system/users")
    signed_in(page)
    page.locator("input[name=filter-username]").fill("nobody-is-called-this")
    with page.expect_response(lambda r: "username=nobody" in r.url):
        page.get_by_test_id("search").click()
    expect(page.locator(".el-table__empty-text")).to_have_text("No Data")
    expect(page.locator(".el-pagination__total")).to_contain_text("Total 0")
    shot(page, "lists-users-empty")
    assert_clean(page, seen)
