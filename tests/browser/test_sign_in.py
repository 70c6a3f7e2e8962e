"""Sign-in in a real browser: password, captcha when the server asks for it, the MFA code
step, forced password change, forced MFA enrolment, and the messages for wrong passwords and
lockout (429)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import ConsoleServer
from tests.browser.support import (
    DEFAULT_PASSWORD,
    api_login,
    assert_clean,
    fill_credentials,
    new_user,
    shot,
    sign_in,
    signed_in,
    watch,
)

# Expected by these tests: the browser logs every 4xx answer of the login call.
REFUSED = "Failed to load resource"


class Captchas:
    """The ids of the captchas the page fetched; answers read from the server's cache."""

    def __init__(self, page: Page, server: ConsoleServer) -> None:
        self.ids: list[str] = []
        self.server = server
        page.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        if response.url.endswith("/api/v1/auth/captcha") and response.ok:
            self.ids.append(response.json()["data"]["captcha_id"])

    def wait_for(self, page: Page, count: int) -> None:
        """Until the page has fetched `count` captchas (the event lands asynchronously)."""
        for _ in range(100):
            if len(self.ids) >= count:
                return
            page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.ids)} captchas fetched, not {count}")

    def answer(self) -> str:
        assert self.ids, "no captcha was fetched"
        code = self.server.call(self.server.app.state.cache.get(f"captcha:{self.ids[-1]}"))
        assert isinstance(code, bytes | str), code
        return code.decode() if isinstance(code, bytes) else code


def test_sign_in_and_sign_out(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    page.goto(console_server.url("/login"))
    expect(page.get_by_role("heading", name="FastapiAdmin")).to_be_visible()
    shot(page, "sign-in")
    sign_in(page, console_server)
    signed_in(page)
    expect(page).to_have_url(console_server.url("/home"))
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(console_server.url("/login"))
    # Signed out for real: a deep link goes to sign-in, remembering where it wanted to go.
    page.goto(console_server.url("/system/positions"))
    expect(page).to_have_url(console_server.url("/login?redirect=/system/positions"))
    assert_clean(page, seen)


def test_a_wrong_password_is_explained(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server)
    sign_in(page, console_server, username, "not the password")
    expect(page.get_by_test_id("login-alert")).to_contain_text("Incorrect username or password")
    assert_clean(page, seen)


def test_captcha_when_the_server_asks_then_lockout(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    captchas = Captchas(page, console_server)
    username = new_user(console_server)
    page.goto(console_server.url("/login"))
    fill_credentials(page, username, "wrong password")
    for _ in range(3):  # CAPTCHA_AFTER_FAILURES
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-alert")).to_be_visible()
    expect(page.get_by_test_id("captcha-image")).to_have_count(0)
    # The right password now: the server asks for a captcha, and the page shows one.
    page.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    with page.expect_response("**/api/v1/auth/captcha"):
        page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("captcha-image")).to_be_visible()
    expect(page.get_by_test_id("login-alert")).to_contain_text("characters shown in the image")
    shot(page, "sign-in-captcha")
    # A wrong answer: a new image and a clear message.
    page.locator("input[name=captcha_code]").fill("ZZZZ")
    with page.expect_response("**/api/v1/auth/captcha"):
        page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-alert")).to_contain_text("captcha was wrong")
    assert len(captchas.ids) == 2
    page.locator("input[name=captcha_code]").fill(captchas.answer())
    page.get_by_test_id("login-submit").click()
    signed_in(page)
    assert_clean(page, seen)

    # Lockout: LOGIN_MAX_FAILURES (5) wrong passwords, each with a solved captcha.
    locked = new_user(console_server)
    page.evaluate("sessionStorage.clear()")
    page.context.clear_cookies()
    page.goto(console_server.url("/login"))
    page.reload()
    fill_credentials(page, locked, "wrong password")
    for _ in range(10):
        fetched = len(captchas.ids)
        shown = page.get_by_test_id("captcha-image").count() > 0
        if shown:
            page.locator("input[name=captcha_code]").fill(captchas.answer())
        with page.expect_response("**/api/v1/auth/login") as login:
            page.get_by_test_id("login-submit").click()
        if login.value.status == 429:
            break
        if shown or login.value.status == 400:  # a failure with a captcha brings a new one
            captchas.wait_for(page, fetched + 1)
        if "try again in" in (page.get_by_test_id("login-alert").text_content() or ""):
            break
    expect(page.get_by_test_id("login-alert")).to_contain_text(
        "Too many failed attempts. Please try again in"
    )
    assert_clean(page, seen)


def enable_mfa(server: ConsoleServer, username: str) -> str:
    """Turn MFA on for `username` through the API; returns the TOTP secret."""
    headers = api_login(server, username, DEFAULT_PASSWORD)
    setup = httpx.post(f"{server.base}/api/v1/auth/mfa/setup", headers=headers, timeout=30)
    secret = setup.json()["data"]["secret"]
    confirm = httpx.post(
        f"{server.base}/api/v1/auth/mfa/confirm",
        json={"otp": pyotp.TOTP(secret).now()},
        headers=headers,
        timeout=30,
    )
    assert confirm.status_code == 200, confirm.text
    return str(secret)


def next_code(secret: str) -> str:
    """The code of the next 30-second step: accepted (drift of one step) and never the one
    already spent."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(datetime.now(UTC)) + 1)


def test_the_mfa_code_step(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server)
    secret = enable_mfa(console_server, username)
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path="/login?redirect=/profile")
    otp = page.locator("input[name=otp]")
    expect(otp).to_be_visible()
    shot(page, "sign-in-mfa")
    otp.fill("000000")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-alert")).to_contain_text("not valid")
    otp.fill(next_code(secret))
    page.get_by_test_id("login-submit").click()
    signed_in(page)
    expect(page).to_have_url(console_server.url("/profile"))
    assert_clean(page, seen)


def test_forced_password_change(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server, must_change_password=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD)
    expect(page.locator("input[name=new_password]")).to_be_visible()
    shot(page, "sign-in-password-change")
    # A reload in the middle keeps the user on this step.
    page.reload()
    expect(page.locator("input[name=new_password]")).to_be_visible()
    page.locator("input[name=current_password]").fill(DEFAULT_PASSWORD)
    page.locator("input[name=new_password]").fill("short")
    page.locator("input[name=new_password_again]").fill("short")
    page.get_by_test_id("change-submit").click()
    # The server's password policy, shown on the field.
    expect(page.locator(".el-form-item__error")).to_be_visible()
    new = "a brand new passphrase for 2027"
    page.locator("input[name=new_password]").fill(new)
    page.locator("input[name=new_password_again]").fill(new)
    page.get_by_test_id("change-submit").click()
    signed_in(page)
    api_login(console_server, username, new)  # the new password works
    assert_clean(page, seen)


def test_forced_mfa_enrolment(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    username = new_user(console_server, permissions=["system:position:list"], require_mfa=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD)
    secret_box = page.get_by_test_id("mfa-secret")
    expect(secret_box).to_be_visible()
    shot(page, "sign-in-mfa-enrolment")
    secret = secret_box.text_content()
    assert secret
    page.locator("input[name=enrol_otp]").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("enrol-submit").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("recovery-done").click()
    signed_in(page)
    page.goto(console_server.url("/system/positions"))
    expect(page.get_by_test_id("tabs")).to_contain_text("Positions")
    assert_clean(page, seen)


@pytest.mark.parametrize("lang", ["zh-CN"])
def test_the_sign_in_page_follows_the_browser_language(
    page: Page, console_server: ConsoleServer, lang: str
) -> None:
    seen = watch(page)
    page.add_init_script(
        f"Object.defineProperty(navigator, 'languages', {{ get: () => [{lang!r}] }})"
    )
    page.goto(console_server.url("/login"))
    expect(page.get_by_test_id("login-submit")).to_have_text("登录")
    shot(page, "sign-in-zh-CN")
    # Switched by hand, and remembered.
    page.get_by_test_id("language").click()
    page.locator("[data-lang=en]").click()
    expect(page.get_by_test_id("login-submit")).to_have_text("Sign in")
    page.reload()
    expect(page.get_by_test_id("login-submit")).to_have_text("Sign in")
    assert_clean(page, seen)
