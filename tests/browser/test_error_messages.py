"""In zh-CN, the API's refusals reach the user in Chinese, worded by the error's `type`
(console/src/api/errors.ts, docs/http.md "Error types"), never as the server's English
message: a duplicate (409), a stale version (409), a delete refused because the record is in
use (409), a 403 and a validation 422, each provoked through the UI. And the roles page's
menu/permission tree shows the seeded menus and buttons by their Chinese titles.

The records made here have Chinese names: test_pages.py looks for English on every page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ConsoleServer
from tests.browser.identity_support import REFUSED, confirm, row
from tests.browser.support import (
    DEFAULT_PASSWORD,
    api_login,
    assert_clean,
    new_user,
    sign_in,
    signed_in,
    watch,
)
from tests.browser.test_pages import english_only

# An English word: three Latin letters in a row (codes such as `ceo-1` are data, not words,
# and never shown in these messages).
ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


def assert_chinese(shown: Locator) -> str:
    """The visible text of `shown` is there and has no English word in it (the zh-CN check of
    test_pages.py, plus any word of the server's English messages)."""
    expect(shown.first).to_be_visible()
    text = shown.first.inner_text().strip()
    assert text, "an empty message"
    english = sorted(s for s in english_only() if s in text) + ENGLISH_WORD.findall(text)
    assert not english, f"English in the zh-CN message {text!r}: {english}"
    return text


@pytest.fixture
def zh_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 800}, timezone_id="UTC"
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def open_zh(page: Page, server: ConsoleServer, path: str, username: str = "admin") -> None:
    password = ADMIN_PASSWORD if username == "admin" else DEFAULT_PASSWORD
    sign_in(page, server, username, password, path=f"/login?redirect={path}")
    signed_in(page)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    page.wait_for_load_state("networkidle")


def stamp() -> str:
    return uuid.uuid4().hex[:6]


def made(server: ConsoleServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The record the admin creates by POST `path` (outside the browser)."""
    headers = api_login(server, "admin", ADMIN_PASSWORD)
    answer = httpx.post(f"{server.base}/api/v1{path}", json=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_a_duplicate_and_a_validation_error_are_shown_in_chinese(
    zh_page: Page, console_server: ConsoleServer
) -> None:
    """The profile's e-mail taken by someone else (409 `duplicate`, on the field) and a name
    too short (422, on the field): both in Chinese."""
    page = zh_page
    seen = watch(page)
    seen.allowed.append(REFUSED)
    taken = f"taken-{stamp()}@example.com"
    new_user(console_server, email=taken, name="占用者")
    me = new_user(console_server, superuser=True, name="资料测试")
    open_zh(page, console_server, "/profile", me)
    details = page.locator("form", has=page.locator("input[name=email]"))

    details.locator("input[name=email]").fill(taken)
    page.get_by_test_id("save-details").click()
    assert_chinese(details.locator(".el-form-item.is-error .el-form-item__error"))

    details.locator("input[name=email]").fill("")
    details.locator("input[name=name]").fill("")
    page.get_by_test_id("save-details").click()
    error = details.locator(".el-form-item.is-error", has=page.locator("input[name=name]"))
    assert_chinese(error.locator(".el-form-item__error"))
    assert_clean(page, seen)


def test_a_stale_version_is_explained_in_chinese(
    zh_page: Page, console_server: ConsoleServer
) -> None:
    """A department edited in the console after someone else saved it (409 `stale_version`)."""
    page = zh_page
    seen = watch(page)
    seen.allowed.append(REFUSED)
    name = f"旧部门{stamp()}"
    dept_id = made(console_server, "/system/depts", {"name": name, "code": f"stale-{stamp()}"})[
        "id"
    ]
    open_zh(page, console_server, "/system/depts")
    row(page, "dept-table", name).get_by_test_id("edit").click()
    dialog = page.get_by_test_id("dept-dialog")
    dialog.locator("input[name=name]").fill(f"{name}改")
    moved = httpx.patch(
        f"{console_server.base}/api/v1/system/depts/{dept_id}",
        json={"sort": 7},
        headers=api_login(console_server, "admin", ADMIN_PASSWORD),
        timeout=30,
    )
    assert moved.status_code == 200, moved.text
    dialog.get_by_test_id("save").click()
    assert_chinese(page.locator(".el-message-box__message"))
    assert_clean(page, seen)


def test_a_delete_refused_because_in_use_is_explained_in_chinese(
    zh_page: Page, console_server: ConsoleServer
) -> None:
    """A position still held by a user (409 `in_use`)."""
    page = zh_page
    seen = watch(page)
    seen.allowed.append(REFUSED)
    code = f"held-{stamp()}"
    position = made(
        console_server, "/system/positions", {"name": f"在用岗位{code[-6:]}", "code": code}
    )
    holder = {
        "username": f"holder{code[-6:]}",
        "name": "岗位持有人",
        "password": "Held-Position-2026!",
        "position_ids": [position["id"]],
    }
    made(console_server, "/system/users", holder)
    open_zh(page, console_server, "/system/positions")
    page.locator(".el-table__body tr", has_text=code).get_by_test_id("delete").click()
    confirm(page)
    assert_chinese(page.locator(".el-message--error"))
    expect(page.locator(".el-table__body tr", has_text=code)).to_have_count(1)
    assert_clean(page, seen)


def test_a_403_is_explained_in_chinese(zh_page: Page, console_server: ConsoleServer) -> None:
    """A role manager who ticks every menu, holding few of them (403, on the menu tree)."""
    page = zh_page
    seen = watch(page)
    seen.allowed.append(REFUSED)
    manager = new_user(
        console_server,
        permissions=[
            "system:role:list",
            "system:role:create",
            "system:menu:list",
            "system:dept:list",
        ],
        name="角色管理员",
    )
    open_zh(page, console_server, "/system/roles", manager)
    page.get_by_test_id("create").click()
    dialog = page.get_by_test_id("role-dialog")
    dialog.locator("input[name=name]").fill(f"越权角色{stamp()}")
    dialog.locator("input[name=code]").fill(f"over-{stamp()}")
    dialog.get_by_test_id("menus-all").click()
    dialog.get_by_test_id("save").click()
    assert_chinese(dialog.locator(".el-form-item.is-error .el-form-item__error"))
    assert_clean(page, seen)


def test_the_roles_permission_tree_has_no_english_titles(
    zh_page: Page, console_server: ConsoleServer
) -> None:
    """Every seeded menu and button of the tree by its Chinese title (the permission code
    beside a button is a code, not a title)."""
    page = zh_page
    seen = watch(page)
    open_zh(page, console_server, "/system/roles")
    page.get_by_test_id("create").click()
    dialog = page.get_by_test_id("role-dialog")
    tree = dialog.get_by_test_id("menu-tree")
    # Expand every node (a collapsed node's children are not rendered).
    dialog.locator(".tree-box:has([data-test=menu-tree]) .tree-tools button").first.click()
    titles = tree.locator(".el-tree-node__content > span:not(.code, .el-tree-node__expand-icon)")
    expect(titles.first).to_be_visible()
    shown = [t.strip() for t in titles.all_text_contents()]
    assert len(shown) > 50  # the menus and one button per permission code
    english = [title for title in shown if ENGLISH_WORD.search(title)]
    assert not english, f"English titles in the zh-CN permission tree: {english}"
    assert_clean(page, seen)
