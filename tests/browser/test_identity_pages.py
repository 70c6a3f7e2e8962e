"""The identity pages of the console (users, roles, menus, departments) in a real browser:
a user created, edited and deleted through the UI (list and operation log), the server's
field errors and a stale version explained, the import's dry-run report per row, every page
surviving a reload (F5), zh-CN without the English strings of these pages, and no console
error or CSP violation anywhere. Screenshots go to docs/console/identity-*.png.

Records left on the session's server have Chinese names: test_pages.py looks for English on
every page in zh-CN, and data is shown as it is."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import httpx
import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ConsoleServer
from tests.browser.identity_support import (
    REFUSED,
    api_get,
    choose,
    confirm,
    open_page,
    operations,
    row,
)
from tests.browser.support import (
    api_login,
    assert_clean,
    new_user,
    shot,
    watch,
)

LOCALES = Path(__file__).resolve().parents[2] / "console" / "src" / "locales"
# The pages, their namespace and the table each one shows.
PAGES = {
    "/system/users": ("user", "user-table"),
    "/system/roles": ("role", "role-table"),
    "/system/menus": ("menus", "menu-table"),
    "/system/depts": ("dept", "dept-table"),
}


def test_a_user_created_edited_and_deleted_through_the_ui(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    open_page(page, console_server, "/system/users")
    username = f"uiuser{int(time.time() * 1000) % 10**8}"

    # Create: first an invalid username, shown under its field by the server's 422.
    page.get_by_test_id("create").click()
    dialog = page.get_by_test_id("user-dialog")
    dialog.locator("input[name=username]").fill("x")
    dialog.locator("input[name=name]").fill("Browser Made")
    dialog.locator("input[name=password]").fill("violet pelican orbit 2026")
    dialog.get_by_test_id("save").click()
    username_item = dialog.locator(".el-form-item", has=page.locator("input[name=username]"))
    expect(username_item.locator(".el-form-item__error")).to_contain_text("short")
    dialog.locator("input[name=username]").fill(username)
    choose(page, "roles", "Standard user")
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    created = row(page, "user-table", username)
    expect(created).to_contain_text("Browser Made")
    shot(page, "identity-users")

    # Edit: the new name shows in the list.
    created.get_by_test_id("edit").click()
    expect(dialog.locator("input[name=username]")).to_be_disabled()
    dialog.locator("input[name=name]").fill("Browser Renamed")
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "user-table", username)).to_contain_text("Browser Renamed")

    # Changed elsewhere meanwhile: the stale version is explained, the list reloads.
    headers = api_login(console_server, "admin", ADMIN_PASSWORD)
    listed = httpx.get(
        f"{console_server.base}/api/v1/system/users",
        params={"username": username},
        headers=headers,
        timeout=30,
    ).json()["data"]["items"]
    user_id = listed[0]["id"]
    row(page, "user-table", username).get_by_test_id("edit").click()
    patched = httpx.patch(
        f"{console_server.base}/api/v1/system/users/{user_id}",
        json={"name": "Changed Elsewhere"},
        headers=headers,
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    dialog.locator("input[name=name]").fill("Mine Is Stale")
    dialog.get_by_test_id("save").click()
    expect(page.locator(".el-message-box")).to_contain_text("changed this record")
    confirm(page)
    expect(row(page, "user-table", username)).to_contain_text("Changed Elsewhere")

    # Delete after confirmation.
    row(page, "user-table", username).get_by_test_id("delete").click()
    expect(page.locator(".el-message-box")).to_contain_text("Changed Elsewhere")
    confirm(page)
    expect(row(page, "user-table", username)).to_have_count(0)

    # Every step is in the operation log, made by admin through the API the page called.
    wanted = {("PATCH", 200), ("PATCH", 409), ("DELETE", 204)}
    done = operations(console_server, f"/api/v1/system/users/{user_id}", wanted)
    assert wanted <= done, done
    wanted = {("POST", 201)}
    assert wanted <= operations(console_server, "/api/v1/system/users", wanted)
    assert_clean(page, seen)


COLUMNS = ("username", "name", "email", "phone", "dept_code", "role_codes", "status", "password")
PASSWORD_A = "amber walrus tundra 2026"
PASSWORD_B = "copper heron meadow 2026"


def workbook(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["username", "name", "email", "phone", "dept_code", "role_codes", "status", "password"]
    )
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_import_dry_run_shows_each_rows_errors_then_imports(
    page: Page, console_server: ConsoleServer, tmp_path: Path
) -> None:
    seen = watch(page)
    open_page(page, console_server, "/system/users")
    stamp = int(time.time() * 1000) % 10**8
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(
        workbook(
            [
                [
                    f"imp{stamp}a",
                    "张三",
                    None,
                    None,
                    "root",
                    "user",
                    "active",
                    PASSWORD_A,
                ],
                ["x", "Too Short", None, None, None, None, None, PASSWORD_A],
                ["admin", "Taken", None, None, None, None, None, PASSWORD_A],
            ]
        )
    )
    page.get_by_test_id("import").click()
    dialog = page.get_by_test_id("import-dialog")
    dialog.locator("input[type=file]").set_input_files(str(bad))
    dialog.get_by_test_id("import-check").click()
    report = dialog.get_by_test_id("import-report")
    expect(report).to_contain_text("3")
    errors = dialog.get_by_test_id("import-errors").locator(".el-table__body tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("3")
    expect(errors.nth(0)).to_contain_text("username")
    expect(errors.nth(1)).to_contain_text("4")
    expect(errors.nth(1)).to_contain_text("already exists")
    expect(dialog.get_by_test_id("import-run")).to_be_disabled()
    shot(page, "identity-users-import")

    good = tmp_path / "good.xlsx"
    good.write_bytes(
        workbook(
            [
                [
                    f"imp{stamp}a",
                    "张三",
                    None,
                    None,
                    "root",
                    "user",
                    "active",
                    PASSWORD_A,
                ],
                [
                    f"imp{stamp}b",
                    "李四",
                    None,
                    None,
                    None,
                    None,
                    "disabled",
                    PASSWORD_B,
                ],
            ]
        )
    )
    dialog.locator(".el-upload-list__item").hover()
    dialog.locator(".el-upload-list__item .el-icon--close").click()
    dialog.locator("input[type=file]").set_input_files(str(good))
    dialog.get_by_test_id("import-check").click()
    expect(dialog.get_by_test_id("import-errors")).to_have_count(0)
    dialog.get_by_test_id("import-run").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "user-table", f"imp{stamp}a")).to_have_count(1)
    expect(row(page, "user-table", f"imp{stamp}b")).to_contain_text("Disabled")
    assert_clean(page, seen)


def test_export_downloads_through_the_api_client(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    open_page(page, console_server, "/system/users")
    page.get_by_test_id("export").click()
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    path = download.value.path()
    assert download.value.suggested_filename == "users.csv"
    assert "admin" in Path(path).read_text(encoding="utf-8")
    assert_clean(page, seen)


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_survives_a_reload(page: Page, console_server: ConsoleServer, path: str) -> None:
    seen = watch(page)
    open_page(page, console_server, path)
    table = page.get_by_test_id(PAGES[path][1])
    expect(table.locator(".el-table__body tr").first).to_be_visible()
    page.reload()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(table.locator(".el-table__body tr").first).to_be_visible()
    assert_clean(page, seen)


def english_only(namespace: str) -> list[str]:
    """The English strings of a namespace that its Chinese file translates differently."""

    def flat(value: object, prefix: str = "") -> dict[str, str]:
        if isinstance(value, dict):
            out: dict[str, str] = {}
            for key, inner in value.items():
                out.update(flat(inner, f"{prefix}{key}."))
            return out
        return {prefix: str(value)}

    en = flat(json.loads((LOCALES / "en" / f"{namespace}.json").read_text(encoding="utf-8")))
    zh = flat(json.loads((LOCALES / "zh-CN" / f"{namespace}.json").read_text(encoding="utf-8")))
    words: list[str] = []
    for key, text in en.items():
        if zh.get(key) == text:
            continue  # the same in both (e.g. "CSV")
        for part in text.split("|"):
            plain = re.sub(r"\{[^}]*\}", "", part).strip(' .:"')
            if re.search(r"[A-Za-z]{3}", plain):
                words.append(plain)
    return words


@pytest.mark.parametrize("path", list(PAGES))
def test_zh_cn_shows_none_of_the_pages_english(
    page: Page, console_server: ConsoleServer, path: str
) -> None:
    seen = watch(page)
    page.goto(console_server.url("/login"))
    page.evaluate("localStorage.setItem('fa.lang', 'zh-CN')")
    open_page(page, console_server, path)
    page.get_by_test_id("create").click()
    expect(page.locator(".el-dialog:visible")).to_have_count(1)
    page.wait_for_timeout(300)  # the dialog's trees fill in
    text = page.locator("main, .el-overlay-dialog").all_inner_texts()
    shown = "\n".join(text)
    english = english_only(PAGES[path][0]) + english_only("common")
    leaks = [w for w in english if re.search(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", shown)]
    assert not leaks, f"English on the zh-CN {path}: {leaks}"
    if path == "/system/roles":
        shot(page, "identity-roles-form-zh-CN")
    page.evaluate("localStorage.removeItem('fa.lang')")
    assert_clean(page, seen)


def test_dark_screenshots_of_the_tree_pages(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    page.goto(console_server.url("/login"))
    page.evaluate("localStorage.setItem('fa.theme', 'dark')")
    open_page(page, console_server, "/system/menus")
    expect(page.locator("html.dark")).to_have_count(1)
    expect(row(page, "menu-table", "Users").first).to_be_visible()
    shot(page, "identity-menus-dark")
    page.goto(console_server.url("/system/depts"))
    expect(row(page, "dept-table", "Headquarters")).to_be_visible()
    page.get_by_test_id("add-child").first.click()
    expect(page.get_by_test_id("dept-dialog")).to_be_visible()
    page.wait_for_timeout(500)  # the dialog's opening animation
    shot(page, "identity-depts-dialog-dark")
    page.evaluate("localStorage.removeItem('fa.theme')")
    assert_clean(page, seen)


def test_reset_password_shows_the_one_time_password_once(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    username = new_user(console_server, name="钱七")
    open_page(page, console_server, "/system/users")
    target = row(page, "user-table", username)
    target.get_by_test_id("more").click()
    page.locator("[data-test=reset-password]:visible").click()
    confirm(page)
    dialog = page.get_by_test_id("password-dialog")
    password = dialog.get_by_test_id("one-time-password").input_value()
    assert len(password) >= 12
    dialog.get_by_test_id("copy-password").click()
    expect(page.locator(".el-message--success")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == password
    # The password works (and the old one no longer does).
    login = httpx.post(
        f"{console_server.base}/api/v1/auth/login",
        data={"username": username, "password": password},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    dialog.get_by_test_id("close-password").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("one-time-password")).to_have_count(0)
    assert_clean(page, seen)


def test_a_click_in_the_department_tree_filters_the_users(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    stamp = int(time.time() * 1000) % 10**8
    headers = api_login(console_server, "admin", ADMIN_PASSWORD)
    root = api_get(console_server, "/system/depts/tree")[0]
    made = httpx.post(
        f"{console_server.base}/api/v1/system/depts",
        json={"parent_id": root["id"], "name": f"分部{stamp}", "code": f"b{stamp}"},
        headers=headers,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    inside = new_user(console_server, name="王五", dept_id=made.json()["data"]["id"])
    outside = new_user(console_server, name="赵六", dept_id=root["id"])
    open_page(page, console_server, "/system/users")
    expect(row(page, "user-table", outside)).to_have_count(1)
    with page.expect_request(lambda r: "/api/v1/system/users?" in r.url) as sent:
        page.get_by_test_id("dept-tree").get_by_text(f"分部{stamp}").click()
    assert f"dept_id={made.json()['data']['id']}" in sent.value.url
    assert "include_children=true" in sent.value.url
    expect(row(page, "user-table", inside)).to_have_count(1)
    expect(row(page, "user-table", outside)).to_have_count(0)
    page.get_by_test_id("dept-all").click()
    expect(row(page, "user-table", outside)).to_have_count(1)
    assert_clean(page, seen)
