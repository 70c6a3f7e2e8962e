"""Tokens in a real browser: an expired access token is refreshed once and the page goes on;
a dead session sends the user to sign-in and back to the page they were on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
from playwright.sync_api import Page, Request, Route, expect

from app.core.security.tokens import TokenService
from tests.browser.conftest import ConsoleServer
from tests.browser.support import (
    DEFAULT_PASSWORD,
    api_login,
    assert_clean,
    fill_credentials,
    new_user,
    sign_in,
    signed_in,
    watch,
)

POSITIONS = "/system/positions"
# The browser logs the deliberate 401s of these tests.
UNAUTHORIZED = "401"


def expired_like(server: ConsoleServer, token: str) -> str:
    """A correctly signed access token for the same user and session, expired an hour ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    past = datetime.now(UTC) - timedelta(hours=2)
    service = TokenService(server.settings, clock=lambda: past)
    expired, _, _ = service.issue_access(int(claims["sub"]), str(claims["sid"]))
    return expired


def test_an_expired_access_token_is_refreshed_once(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(UNAUTHORIZED)
    username = new_user(console_server, superuser=True)
    headers = api_login(console_server, username, DEFAULT_PASSWORD)
    created = httpx.post(
        f"{console_server.base}/api/v1/system/positions",
        json={"name": "Refresh probe", "code": "refresh-probe"},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={POSITIONS}")
    signed_in(page)
    expect(page).to_have_url(console_server.url(POSITIONS))
    page.wait_for_load_state("networkidle")

    statuses: list[int] = []
    refreshes: list[int] = []
    swapped: list[str] = []

    def expire_once(route: Route, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        if not swapped and auth.startswith("Bearer "):
            swapped.append(auth)
            bad = expired_like(console_server, auth.removeprefix("Bearer "))
            route.continue_(headers={**request.headers, "authorization": f"Bearer {bad}"})
        else:
            route.continue_()

    page.route("**/api/v1/system/positions?*", expire_once)
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/api/v1/system/positions?" in r.url else None,
    )
    page.on(
        "response",
        lambda r: refreshes.append(r.status) if r.url.endswith("/api/v1/auth/refresh") else None,
    )
    page.locator("input[name=filter-code]").fill("refresh-probe")
    with page.expect_response(lambda r: "/system/positions?" in r.url and r.status == 200):
        page.get_by_role("button", name="Search").click()
    expect(page.locator(".el-table__body")).to_contain_text("Refresh probe")
    page.wait_for_load_state("networkidle")
    assert statuses == [401, 200], statuses  # the call, then its one retry
    assert refreshes == [200], refreshes  # exactly one refresh
    expect(page).to_have_url(console_server.url(POSITIONS))
    assert_clean(page, seen)


def test_a_dead_refresh_token_after_a_reload_goes_to_sign_in_and_back(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(UNAUTHORIZED)
    username = new_user(console_server, superuser=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD)
    signed_in(page)
    page.goto(console_server.url(f"{POSITIONS}?from=reload"))
    signed_in(page)
    page.evaluate("sessionStorage.setItem('fa.refresh', 'not-a-live-refresh-token')")
    page.reload()  # the access token was in memory only: the refresh token must do
    expect(page).to_have_url(console_server.url("/login?redirect=/system/positions?from=reload"))
    fill_credentials(page, username, DEFAULT_PASSWORD)
    page.get_by_test_id("login-submit").click()
    signed_in(page)
    expect(page).to_have_url(console_server.url(f"{POSITIONS}?from=reload"))
    assert_clean(page, seen)


def test_a_revoked_session_goes_to_sign_in_and_back(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(UNAUTHORIZED)
    username = new_user(console_server, superuser=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path=f"/login?redirect={POSITIONS}")
    signed_in(page)
    expect(page).to_have_url(console_server.url(POSITIONS))
    # An operator signs every session of this user out (Monitor > Online sessions).
    admin = api_login(console_server, "admin", "console tests passphrase 2026")
    listed = httpx.get(
        f"{console_server.base}/api/v1/monitor/sessions",
        params={"username": username, "page_size": 100},
        headers=admin,
        timeout=30,
    ).json()["data"]["items"]
    assert listed
    for session in listed:
        if session["username"] == username:
            gone = httpx.delete(
                f"{console_server.base}/api/v1/monitor/sessions/{session['session_id']}",
                headers=admin,
                timeout=30,
            )
            assert gone.status_code == 204
    page.get_by_role("button", name="Search").click()  # any call: 401, refresh refused
    expect(page).to_have_url(console_server.url("/login?redirect=/system/positions"))
    fill_credentials(page, username, DEFAULT_PASSWORD)
    page.get_by_test_id("login-submit").click()
    signed_in(page)
    expect(page).to_have_url(console_server.url(POSITIONS))
    assert_clean(page, seen)
