"""The role, menu and department pages in a real browser: a role's grants from the menu and
department trees, departments and menus created, refused on the field, disabled, found by a
search and deleted."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleServer
from tests.browser.identity_support import REFUSED, api_get, choose, confirm, open_page, row
from tests.browser.support import assert_clean, watch


def test_a_role_grants_the_ticked_menus_and_custom_departments(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    open_page(page, console_server, "/system/roles")
    code = f"uirole{int(time.time() * 1000) % 10**8}"
    page.get_by_test_id("create").click()
    dialog = page.get_by_test_id("role-dialog")
    dialog.locator("input[name=name]").fill("浏览器角色")
    dialog.locator("input[name=code]").fill(code)
    choose(page, "data-scope", "Chosen departments")
    departments = dialog.get_by_test_id("dept-tree")
    expect(departments).to_be_visible()
    departments.locator(".el-tree-node__content", has_text="Headquarters").locator(
        ".el-checkbox"
    ).click()
    menus = dialog.get_by_test_id("menu-tree")
    menus.locator(".el-tree-node__content", has_text="System").first.locator(
        ".el-tree-node__expand-icon"
    ).click()
    menus.locator(".el-tree-node__content", has_text="Roles").first.locator(".el-checkbox").click()
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "role-table", code)).to_contain_text("Chosen departments")

    role = api_get(console_server, "/system/roles", code=code)["items"][0]
    tree = api_get(console_server, "/system/menus/tree")
    system = next(m for m in tree if m["name"] == "System")
    roles_page = next(m for m in system["children"] if m["name"] == "SystemRole")
    # The page, all its buttons, and its (half-ticked) parent directory; nothing else.
    expected = {system["id"], roles_page["id"], *(b["id"] for b in roles_page["children"])}
    assert set(role["menu_ids"]) == expected
    root = api_get(console_server, "/system/depts/tree")[0]
    assert role["data_scope"] == "custom"
    assert role["dept_ids"] == [root["id"]]

    # Editing shows the grants ticked again: saving unchanged keeps them.
    row(page, "role-table", code).get_by_test_id("edit").click()
    page.wait_for_timeout(300)
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    again = api_get(console_server, "/system/roles", code=code)["items"][0]
    assert set(again["menu_ids"]) == expected
    assert again["dept_ids"] == [root["id"]]
    assert_clean(page, seen)


def test_departments_and_menus_created_disabled_and_deleted(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    stamp = int(time.time() * 1000) % 10**8
    open_page(page, console_server, "/system/depts")
    row(page, "dept-table", "Headquarters").first.get_by_test_id("add-child").click()
    dialog = page.get_by_test_id("dept-dialog")
    dialog.locator("input[name=name]").fill(f"Dept {stamp}")
    dialog.locator("input[name=code]").fill("root")  # taken: the server says so on the field
    dialog.get_by_test_id("save").click()
    code_item = dialog.locator(".el-form-item", has=page.locator("input[name=code]"))
    expect(code_item.locator(".el-form-item__error")).not_to_be_empty()
    dialog.locator("input[name=code]").fill(f"d{stamp}")
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    made = row(page, "dept-table", f"Dept {stamp}")
    expect(made).to_contain_text("Active")
    made.get_by_test_id("toggle").click()
    confirm(page)
    expect(row(page, "dept-table", f"Dept {stamp}")).to_contain_text("Disabled")
    # A department with sub-departments cannot go: the page says why.
    row(page, "dept-table", "Headquarters").first.get_by_test_id("delete").click()
    confirm(page)
    expect(page.locator(".el-message--error")).to_contain_text("sub-departments")
    row(page, "dept-table", f"Dept {stamp}").get_by_test_id("delete").click()
    confirm(page)
    expect(row(page, "dept-table", f"Dept {stamp}")).to_have_count(0)

    page.goto(console_server.url("/system/menus"))
    row(page, "menu-table", "System").first.get_by_test_id("add-child").click()
    dialog = page.get_by_test_id("menu-dialog")
    dialog.locator("input[name=title]").fill(f"Menu {stamp}")
    dialog.locator("input[name=name]").fill(f"UiMenu{stamp}")
    dialog.locator("input[name=path]").fill(f"/ui-menu-{stamp}")
    dialog.locator("input[name=component]").fill("placeholder/index")
    dialog.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "menu-table", f"Menu {stamp}")).to_contain_text("Menu")
    page.get_by_test_id("create").click()
    dialog.get_by_test_id("type").locator("label", has_text="Button").click()
    expect(dialog.locator("input[name=path]")).to_have_count(0)
    dialog.get_by_test_id("save").click()  # a button without a permission code
    permission_item = dialog.locator(".el-form-item", has=page.locator("input[name=permission]"))
    expect(permission_item.locator(".el-form-item__error")).not_to_be_empty()
    dialog.locator(".el-dialog__headerbtn").click()
    page.get_by_test_id("filter-type").click()
    page.locator(".el-select-dropdown__item:visible", has_text="Menu").first.click()
    page.locator("input[name=filter-title]").fill(f"Menu {stamp}")
    page.get_by_test_id("search").click()
    found = row(page, "menu-table", f"Menu {stamp}")
    expect(found).to_have_count(1)
    found.get_by_test_id("delete").click()
    confirm(page)
    expect(row(page, "menu-table", f"Menu {stamp}")).to_have_count(0)
    assert_clean(page, seen)
