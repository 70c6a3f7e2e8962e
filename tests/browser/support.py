"""Helpers of the browser tests: sign-in, watching for console errors and CSP violations,
screenshots, and making users with the server's own code."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, SCREENSHOTS, ConsoleServer
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user

_names = itertools.count(1)

# Records every CSP violation the page reports (the event fires for blocked scripts, styles,
# images, connections and eval), before any of the page's own scripts run.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@dataclass
class Watch:
    """Console errors and uncaught exceptions of one page."""

    errors: list[str] = field(default_factory=list)
    # Expected by a test (e.g. the 401 of a deliberately expired token): substrings to ignore.
    allowed: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed):
            self.errors.append(message.text)

    def on_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


def watch(page: Page) -> Watch:
    seen = Watch()
    page.add_init_script(CSP_WATCH)
    page.on("console", seen.on_console)
    page.on("pageerror", seen.on_error)
    return seen


def assert_clean(page: Page, seen: Watch) -> None:
    """No console error, no uncaught exception and no CSP violation so far."""
    violations = page.evaluate("window.__cspViolations || []")
    assert not violations, f"CSP violations on {page.url}: {violations}"
    assert not seen.errors, f"console errors on {page.url}: {seen.errors}"


def sign_in(
    page: Page,
    server: ConsoleServer,
    username: str = "admin",
    password: str = ADMIN_PASSWORD,
    path: str = "/login",
) -> None:
    page.goto(server.url(path))
    fill_credentials(page, username, password)
    page.get_by_test_id("login-submit").click()


def fill_credentials(page: Page, username: str, password: str) -> None:
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)


def signed_in(page: Page) -> None:
    expect(page.get_by_test_id("tabs")).to_be_visible()


def shot(page: Page, name: str) -> Path:
    """A screenshot for docs/console.md (made by the tests, committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    # Element Plus fades and zooms things in: wait until every transition has ended.
    # (Polled from here: `wait_for_function` evaluates a string, which the console's CSP
    # rightly refuses.)
    for _ in range(100):
        if page.evaluate("document.getAnimations().every((a) => a.playState !== 'running')"):
            break
        page.wait_for_timeout(50)
    page.screenshot(path=str(path))
    return path


def new_user(
    server: ConsoleServer,
    *,
    permissions: list[str] | None = None,
    superuser: bool = False,
    require_mfa: bool = False,
    **overrides: Any,
) -> str:
    """A user (password DEFAULT_PASSWORD) holding `permissions`; returns the username."""
    username = f"browser{next(_names)}"

    async def make() -> None:
        async with server.app.state.sessionmaker() as db, db.begin():
            roles = []
            if permissions is not None or require_mfa:
                role = await create_role(db, permissions=permissions or [])
                if require_mfa:
                    role.require_mfa = True
                roles.append(role)
            await create_user(
                db, username=username, roles=roles, is_superuser=superuser, **overrides
            )

    server.call(make())
    return username


@contextmanager
def language(page: Page, lang: str) -> Iterator[None]:
    page.evaluate(f"localStorage.setItem('fa.lang', {lang!r})")
    try:
        yield
    finally:
        page.evaluate("localStorage.removeItem('fa.lang')")


__all__ = ["DEFAULT_PASSWORD"]


def api_login(server: ConsoleServer, username: str, password: str) -> dict[str, str]:
    """Bearer headers of a new session of `username` (outside the browser)."""
    response = httpx.post(
        f"{server.base}/api/v1/auth/login",
        data={"username": username, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def menu_pages(server: ConsoleServer) -> list[dict[str, Any]]:
    """Every page (type `menu` with a path and no external link) of the admin's menus."""
    headers = api_login(server, "admin", ADMIN_PASSWORD)
    tree = httpx.get(f"{server.base}/api/v1/auth/me/menus", headers=headers, timeout=30)
    pages: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node["type"] == "menu" and node["path"] and not node["link"]:
                pages.append(node)
            walk(node["children"])

    walk(tree.json()["data"])
    return pages
