"""Helpers of the identity pages' browser tests (users, roles, menus, departments)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ConsoleServer
from tests.browser.support import api_login, sign_in, signed_in

# The browser logs every 4xx answer; the tests that provoke one expect it.
REFUSED = "Failed to load resource"


def open_page(page: Page, server: ConsoleServer, path: str) -> None:
    sign_in(page, server, path=f"/login?redirect={path}")
    signed_in(page)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    page.wait_for_load_state("networkidle")


def row(page: Page, table: str, text: str) -> Locator:
    return page.get_by_test_id(table).locator(".el-table__body tr", has_text=text)


def confirm(page: Page) -> None:
    page.locator(".el-message-box__btns .el-button--primary").click()


def choose(page: Page, control: str, option: str) -> None:
    """Pick `option` of the el-select marked `control` (its popup is teleported)."""
    page.get_by_test_id(control).click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).first.click()


def operations(
    server: ConsoleServer, path: str, wanted: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """(method, status) of the operation log entries of `path`, once `wanted` are all there
    (the log is written after the answer) or after a few seconds."""
    headers = api_login(server, "admin", ADMIN_PASSWORD)
    done: set[tuple[str, int]] = set()
    for _ in range(100):
        answer = httpx.get(
            f"{server.base}/api/v1/system/operation-logs",
            params={"username": "admin", "page_size": 100},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        items = answer.json()["data"]["items"]
        done = {(e["method"], e["status_code"]) for e in items if e["path"] == path}
        if wanted <= done:
            break
        time.sleep(0.1)
    return done


def api_get(server: ConsoleServer, path: str, **params: str) -> Any:
    headers = api_login(server, "admin", ADMIN_PASSWORD)
    answer = httpx.get(f"{server.base}/api/v1{path}", params=params, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]
