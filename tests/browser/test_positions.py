"""The positions page through the UI (the example every CRUD page copies): list, filter,
sort, create and edit with the server's validation on the fields, 409 on a duplicate code,
delete after confirmation; and buttons that follow the user's permissions (v-perm)."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from app.modules.system.permissions import POSITION_CREATE, POSITION_LIST
from tests.browser.conftest import ConsoleServer
from tests.browser.support import (
    DEFAULT_PASSWORD,
    api_login,
    assert_clean,
    new_user,
    shot,
    sign_in,
    signed_in,
    watch,
)

URL = "/system/positions"
# The browser logs the 4xx answers this test provokes on purpose (422, 409).
REFUSED = "Failed to load resource"


def test_positions_crud_through_the_ui(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server, superuser=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={URL}")
    signed_in(page)
    rows = page.locator(".el-table__body tr")
    dialog = page.locator(".el-dialog")

    # Create, with the server's verdict on a field first (422: the code's pattern).
    page.get_by_test_id("create").click()
    dialog.locator("input[name=name]").fill("Quality engineer")
    dialog.locator("input[name=code]").fill("bad code!")
    page.get_by_test_id("save").click()
    expect(dialog.locator(".el-form-item__error")).to_have_count(1)
    expect(dialog.locator(".el-form-item.is-error input[name=code]")).to_be_visible()
    shot(page, "positions-validation")
    dialog.locator("input[name=code]").fill("qe-browser")
    page.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    page.locator("input[name=filter-code]").fill("qe-browser")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Quality engineer")

    # A duplicate code: 409, explained on the field; nothing created.
    page.get_by_test_id("create").click()
    dialog.locator("input[name=name]").fill("Another")
    dialog.locator("input[name=code]").fill("QE-BROWSER")  # unique regardless of case
    page.get_by_test_id("save").click()
    expect(dialog.locator(".el-form-item.is-error input[name=code]")).to_be_visible()
    expect(page.locator(".el-message--warning")).to_contain_text("already in use")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Edit.
    rows.first.get_by_test_id("edit").click()
    expect(dialog.locator("input[name=name]")).to_have_value("Quality engineer")
    dialog.locator("input[name=name]").fill("Quality lead")
    page.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    expect(rows.first).to_contain_text("Quality lead")

    # Delete: a confirmation first; Cancel keeps the row.
    rows.first.get_by_test_id("delete").click()
    box = page.locator(".el-message-box")
    expect(box).to_contain_text("Quality lead")
    box.get_by_role("button", name="Cancel").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_test_id("delete").click()
    box.get_by_role("button", name="Delete").click()
    expect(page.locator(".el-table__empty-text")).to_be_visible()
    headers = api_login(console_server, username, DEFAULT_PASSWORD)
    left = httpx.get(
        f"{console_server.base}/api/v1/system/positions",
        params={"code": "qe-browser"},
        headers=headers,
        timeout=30,
    ).json()["data"]["total"]
    assert left == 0
    assert_clean(page, seen)


def test_paging_and_sorting_are_done_by_the_server(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    username = new_user(console_server, superuser=True)
    headers = api_login(console_server, username, DEFAULT_PASSWORD)
    for n in range(12):
        created = httpx.post(
            f"{console_server.base}/api/v1/system/positions",
            json={"name": f"Paged {n:02d}", "code": f"paged-{n:02d}", "sort": 100 - n},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={URL}")
    signed_in(page)
    page.locator("input[name=filter-name]").fill("Paged")
    with page.expect_response(lambda r: "name=Paged" in r.url and "page=1" in r.url):
        page.get_by_role("button", name="Search").click()
    rows = page.locator(".el-table__body tr")
    expect(rows).to_have_count(10)
    expect(page.locator(".el-pagination__total")).to_contain_text("12")
    # Default order: `sort` ascending, so the last created (sort 89) comes first.
    expect(rows.first).to_contain_text("Paged 11")
    with page.expect_response(lambda r: "sort=-name" in r.url):
        header = page.locator(".el-table__header th", has_text="Name")
        header.locator(".sort-caret.descending").click()
    expect(rows.first).to_contain_text("Paged 11")
    with page.expect_response(lambda r: "sort=name" in r.url and "sort=-name" not in r.url):
        header.locator(".sort-caret.ascending").click()
    expect(rows.first).to_contain_text("Paged 00")
    with page.expect_response(lambda r: "page=2" in r.url):
        page.locator(".el-pager li", has_text="2").click()
    expect(rows).to_have_count(2)
    shot(page, "positions-list")
    assert_clean(page, seen)


def test_buttons_follow_the_permissions(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    admin = api_login(console_server, "admin", "console tests passphrase 2026")
    httpx.post(
        f"{console_server.base}/api/v1/system/positions",
        json={"name": "Permission probe", "code": "perm-probe"},
        headers=admin,
        timeout=30,
    )
    username = new_user(console_server, permissions=[POSITION_LIST])
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={URL}")
    signed_in(page)
    expect(page.locator(".el-table")).to_be_visible()
    expect(page.get_by_test_id("create")).to_be_hidden()
    expect(page.locator(".el-table__body tr").first).to_be_visible()
    expect(page.locator(".el-table__body [data-test=edit]:visible")).to_have_count(0)

    # An operator grants the create permission; it shows after a new sign-in.
    roles = httpx.get(
        f"{console_server.base}/api/v1/system/users",
        params={"username": username},
        headers=admin,
        timeout=30,
    ).json()["data"]["items"]
    assert len(roles) == 1
    user = roles[0]
    buttons = httpx.get(
        f"{console_server.base}/api/v1/system/menus",
        params={"page_size": 100, "type": "button"},
        headers=admin,
        timeout=30,
    ).json()["data"]["items"]
    create_button = next(m for m in buttons if m["permission"] == POSITION_CREATE)
    role_id = user["role_ids"][0]
    role = httpx.get(
        f"{console_server.base}/api/v1/system/roles/{role_id}", headers=admin, timeout=30
    ).json()["data"]
    granted = httpx.patch(
        f"{console_server.base}/api/v1/system/roles/{role_id}",
        json={"menu_ids": [*role["menu_ids"], create_button["id"]]},
        headers=admin,
        timeout=30,
    )
    assert granted.status_code == 200, granted.text
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={URL}")
    signed_in(page)
    expect(page.get_by_test_id("create")).to_be_visible()
    for control in ("edit", "delete"):  # still not held: hidden on every row
        expect(page.locator(f".el-table__body [data-test={control}]:visible")).to_have_count(0)
    assert_clean(page, seen)
