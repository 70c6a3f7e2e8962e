"""The system pages through the UI: online sessions (a force sign-out ends another browser's
session), parameters (typed values on the field, built-ins kept, a stale edit explained), the
operation log (a change's before/after side by side, export), notices (the preview renders only
the server's sanitised HTML), dictionaries (master/detail), the login log (clear), and the
profile (MFA set-up with a real TOTP, recovery codes once, new codes, MFA off)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pyotp
from playwright.sync_api import Browser, Page, expect

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

# The browser logs the 4xx answers these tests provoke on purpose (422, 409, 401 of a wrong code).
REFUSED = "Failed to load resource"


def superuser_page(page: Page, server: ConsoleServer, path: str) -> str:
    username = new_user(server, superuser=True)
    sign_in(page, server, username, DEFAULT_PASSWORD, path=f"/login?redirect={path}")
    signed_in(page)
    expect(page).to_have_url(server.url(path))
    page.wait_for_load_state("networkidle")
    return username


def next_code(secret: str) -> str:
    """The code of the next 30-second step: accepted (one step of drift), never one spent."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(datetime.now(UTC)) + 1)


def test_force_sign_out_ends_another_browsers_session(
    browser: Browser, console_server: ConsoleServer
) -> None:
    victim = new_user(console_server, permissions=["system:position:list"])
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    admin = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        victim_page = other.new_page()
        victim_seen = watch(victim_page)
        victim_seen.allowed.append("401")
        sign_in(victim_page, console_server, victim, DEFAULT_PASSWORD)
        signed_in(victim_page)

        page = admin.new_page()
        seen = watch(page)
        superuser_page(page, console_server, "/monitor/sessions")
        page.locator("input[name=filter-username]").fill(victim)
        page.get_by_test_id("search").click()
        rows = page.locator(".el-table__body-wrapper tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(victim)
        shot(page, "sessions")
        rows.first.get_by_test_id("kick").click()
        box = page.locator(".el-message-box")
        expect(box).to_contain_text(victim)
        box.get_by_role("button", name="Force sign-out").click()
        expect(page.locator(".el-message--success")).to_be_visible()
        expect(page.locator(".el-table__empty-text")).to_be_visible()
        assert_clean(page, seen)

        # The other browser's next request fails, its refresh token is dead: to sign-in.
        victim_page.goto(console_server.url("/system/positions"))
        expect(victim_page).to_have_url(
            f"{console_server.url('/login')}?redirect=/system/positions"
        )
        expect(victim_page.get_by_test_id("login-submit")).to_be_visible()
    finally:
        other.close()
        admin.close()


def test_parameters_typed_values_built_ins_and_a_stale_edit(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = superuser_page(page, console_server, "/system/params")
    rows = page.locator(".el-table__body-wrapper tbody tr")
    dialog = page.locator(".el-dialog")

    # A built-in: no delete button; key and type locked in the form.
    page.locator("input[name=filter-key]").fill("login.max_failures")
    page.get_by_test_id("search").click()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("delete")).to_have_count(0)
    rows.first.get_by_test_id("edit").click()
    expect(dialog.locator("input[name=key]")).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()

    # A new integer parameter: a value that is no integer is refused on the value field.
    page.get_by_test_id("create").click()
    dialog.locator("input[name=name]").fill("Browser limit")
    dialog.locator("input[name=key]").fill("browser.limit")
    dialog.get_by_test_id("value-type").click()
    page.locator(".el-select-dropdown__item:visible", has_text="Integer").click()
    dialog.locator("input[name=value]").fill("ten")
    page.get_by_test_id("save").click()
    expect(dialog.locator(".el-form-item.is-error input[name=value]")).to_be_visible()
    dialog.locator("input[name=value]").fill("10")
    page.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()

    # A stale edit: changed elsewhere while the dialog was open -> explained, list reloaded.
    page.locator("input[name=filter-key]").fill("browser.limit")
    page.get_by_test_id("search").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_test_id("edit").click()
    headers = api_login(console_server, username, DEFAULT_PASSWORD)
    listed = httpx.get(
        f"{console_server.base}/api/v1/system/params",
        params={"key": "browser.limit"},
        headers=headers,
        timeout=30,
    ).json()["data"]["items"][0]
    moved = httpx.patch(
        f"{console_server.base}/api/v1/system/params/{listed['id']}",
        json={"value": "30", "version": listed["version"]},
        headers=headers,
        timeout=30,
    )
    assert moved.status_code == 200, moved.text
    dialog.locator("input[name=value]").fill("20")
    page.get_by_test_id("save").click()
    box = page.locator(".el-message-box")
    expect(box).to_contain_text("Someone else changed this record")
    box.get_by_role("button", name="Reload").click()
    expect(rows.first).to_contain_text("30")
    shot(page, "params")

    # Edited on the fresh version: saved; then deleted after confirmation.
    rows.first.get_by_test_id("edit").click()
    dialog.locator("input[name=value]").fill("20")
    page.get_by_test_id("save").click()
    expect(dialog).to_be_hidden()
    expect(rows.first).to_contain_text("20")
    rows.first.get_by_test_id("delete").click()
    page.locator(".el-message-box").get_by_role("button", name="Delete").click()
    expect(page.locator(".el-table__empty-text")).to_be_visible()
    assert_clean(page, seen)


def test_operation_log_shows_a_change_before_and_after(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    username = superuser_page(page, console_server, "/system/logs/operations")
    headers = api_login(console_server, username, DEFAULT_PASSWORD)
    created = httpx.post(
        f"{console_server.base}/api/v1/system/params",
        json={"key": "audit.probe", "name": "Audit probe", "value": "before-value"},
        headers=headers,
        timeout=30,
    ).json()["data"]
    changed = httpx.patch(
        f"{console_server.base}/api/v1/system/params/{created['id']}",
        json={"value": "after-value", "version": created["version"]},
        headers=headers,
        timeout=30,
    )
    assert changed.status_code == 200, changed.text

    page.locator("input[name=filter-username]").fill(username)
    page.get_by_test_id("filter-method").click()
    page.locator(".el-select-dropdown__item:visible", has_text="PATCH").click()
    rows = page.locator(".el-table__body-wrapper tbody tr")
    # The log entry is written once the response is out: search again until it is there.
    for _ in range(50):
        page.get_by_test_id("search").click()
        page.wait_for_load_state("networkidle")
        if rows.count() == 1:
            break
        page.wait_for_timeout(200)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"/api/v1/system/params/{created['id']}")
    rows.first.get_by_test_id("detail").click()
    drawer = page.locator(".el-drawer")
    change = drawer.get_by_test_id("change")
    expect(change).to_have_count(1)
    value_row = change.locator("tr.changed", has_text="value")
    expect(value_row.get_by_test_id("before")).to_have_text("before-value")
    expect(value_row.get_by_test_id("after")).to_have_text("after-value")
    shot(page, "operation-log-detail")
    drawer.locator(".el-drawer__close-btn").click()

    # Export of the filtered rows: a CSV download.
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
        page.get_by_test_id("export-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8-sig") as exported:
        lines = exported.read().splitlines()
    assert len(lines) == 2  # the header and the one PATCH the filters chose
    assert username in lines[1] and "PATCH" in lines[1]
    assert_clean(page, seen)


def test_notice_preview_renders_only_the_sanitised_html(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    superuser_page(page, console_server, "/system/notices")
    dialog = page.locator(".el-dialog")
    page.get_by_test_id("create").click()
    dialog.locator("input[name=title]").fill("Maintenance window")
    dialog.locator("textarea[name=content]").fill(
        "<p>Down on <b>Sunday</b>.</p><script>window.__pwned = 1</script>"
        '<img src="x" onerror="window.__pwned = 2"><a href="javascript:alert(1)">link</a>'
    )
    page.get_by_test_id("save").click()
    body = page.get_by_test_id("preview-body")
    expect(body.locator("b")).to_have_text("Sunday")
    expect(body.locator("script")).to_have_count(0)
    expect(body.locator("[onerror]")).to_have_count(0)
    assert "javascript:" not in (body.inner_html() or "")
    assert page.evaluate("window.__pwned") is None
    shot(page, "notice-preview")
    assert_clean(page, seen)


def test_dictionary_types_and_their_items(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    superuser_page(page, console_server, "/system/dicts")
    dialog = page.locator(".el-dialog:visible")
    page.get_by_test_id("create-type").click()
    dialog.locator("input[name=name]").fill("Priority")
    dialog.locator("input[name=code]").fill("browser_priority")
    page.locator(".el-dialog:visible [data-test=save]").click()
    expect(dialog).to_have_count(0)
    page.locator("input[name=filter-code]").fill("browser_priority")
    page.get_by_test_id("search").click()
    types = page.get_by_test_id("types").locator("tbody tr")
    expect(types).to_have_count(1)
    expect(page.get_by_test_id("create-item")).to_be_disabled()
    types.first.click()
    expect(page.get_by_test_id("items-title")).to_contain_text("browser_priority")

    items = page.get_by_test_id("items").locator("tbody tr")
    for label, value in (("High", "high"), ("Low", "low")):
        page.get_by_test_id("create-item").click()
        dialog.locator("input[name=label]").fill(label)
        dialog.locator("input[name=value]").fill(value)
        page.locator(".el-dialog:visible [data-test=save]").click()
        expect(dialog).to_have_count(0)
    expect(items).to_have_count(2)
    # The same value twice in one type: 409 on the value field.
    page.get_by_test_id("create-item").click()
    dialog.locator("input[name=label]").fill("Also high")
    dialog.locator("input[name=value]").fill("high")
    page.locator(".el-dialog:visible [data-test=save]").click()
    expect(dialog.locator(".el-form-item.is-error input[name=value]")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    shot(page, "dicts")

    # Deleting the type takes its items along.
    types.first.get_by_test_id("delete-type").click()
    page.locator(".el-message-box").get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("types").locator(".el-table__empty-text")).to_be_visible()
    expect(page.get_by_test_id("create-item")).to_be_disabled()
    assert_clean(page, seen)


def test_login_log_clear_after_confirmation(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    username = superuser_page(page, console_server, "/system/logs/logins")
    page.locator("input[name=filter-username]").fill(username)
    page.get_by_test_id("search").click()
    rows = page.locator(".el-table__body-wrapper tbody tr")
    expect(rows.first).to_contain_text(username)
    page.get_by_test_id("clear").click()
    page.get_by_test_id("clear-confirm").click()
    box = page.locator(".el-message-box")
    expect(box).to_contain_text("Delete ALL login log entries?")
    box.get_by_role("button", name="Cancel").click()
    expect(rows.first).to_contain_text(username)  # nothing cleared
    page.get_by_test_id("clear-confirm").click()
    box.get_by_role("button", name="Clear").click()
    expect(page.locator(".el-message--success")).to_contain_text("entries deleted")
    expect(page.locator(".el-table__empty-text")).to_be_visible()
    assert_clean(page, seen)


def test_profile_mfa_setup_recovery_codes_and_off(
    page: Page, console_server: ConsoleServer
) -> None:
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server, permissions=[])
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path="/login?redirect=/profile")
    signed_in(page)
    expect(page).to_have_url(console_server.url("/profile"))
    page.locator("#tab-mfa").click()
    page.get_by_test_id("mfa-setup").click()
    dialog = page.locator(".el-dialog:visible")

    # The current password first; a wrong one is said on its field.
    dialog.locator("input[name=mfa_password]").fill("not my password")
    page.get_by_test_id("mfa-next").click()
    expect(dialog.locator(".el-form-item__error")).to_contain_text("incorrect")
    dialog.locator("input[name=mfa_password]").fill(DEFAULT_PASSWORD)
    page.get_by_test_id("mfa-next").click()
    qr = page.get_by_test_id("mfa-qr")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    secret = page.get_by_test_id("mfa-secret").text_content()
    assert secret
    shot(page, "profile-mfa-setup")

    # A wrong code: said on the field, and the session lives on (a 401 naming a field is not
    # a dead token: no refresh, no sign-out).
    dialog.locator("input[name=mfa_otp]").fill("000000")
    page.get_by_test_id("mfa-confirm").click()
    expect(dialog.locator(".el-form-item__error")).to_contain_text("not valid")
    expect(page).to_have_url(console_server.url("/profile"))
    dialog.locator("input[name=mfa_otp]").fill(pyotp.TOTP(secret).now())
    page.get_by_test_id("mfa-confirm").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    first_codes = codes.all_inner_texts()
    shot(page, "profile-recovery-codes")
    page.get_by_test_id("codes-done").click()
    expect(page.get_by_test_id("mfa-state")).to_have_text("On")

    # New recovery codes: password and a current code; the old ones are replaced.
    page.get_by_test_id("mfa-codes").click()
    reauth = page.locator(".el-dialog:visible")
    reauth.locator("input[name=reauth_password]").fill(DEFAULT_PASSWORD)
    reauth.locator("input[name=reauth_otp]").fill(next_code(secret))
    page.get_by_test_id("reauth-submit").click()
    expect(codes).to_have_count(10)
    second_codes = codes.all_inner_texts()
    assert set(second_codes).isdisjoint(first_codes)
    page.get_by_test_id("codes-done").click()

    # Off, with a recovery code.
    page.get_by_test_id("mfa-disable").click()
    reauth.locator("input[name=reauth_password]").fill(DEFAULT_PASSWORD)
    reauth.locator("input[name=reauth_otp]").fill(second_codes[0])
    page.get_by_test_id("reauth-submit").click()
    expect(page.get_by_test_id("mfa-state")).to_have_text("Off")
    page.reload()
    signed_in(page)
    expect(page.get_by_test_id("mfa-state")).to_have_text("Off")
    assert_clean(page, seen)


def test_profile_sign_out_of_another_own_session(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    username = new_user(console_server, permissions=[])
    other = api_login(console_server, username, DEFAULT_PASSWORD)
    sign_in(page, console_server, username, DEFAULT_PASSWORD, path="/login?redirect=/profile")
    signed_in(page)
    page.locator("#tab-sessions").click()
    rows = page.get_by_test_id("my-sessions").locator("tbody tr")
    expect(rows).to_have_count(2)
    rows.filter(has_not_text="This session").get_by_test_id("end-session").click()
    page.locator(".el-message-box").get_by_role("button", name="Sign out").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("This session")
    gone = httpx.get(f"{console_server.base}/api/v1/auth/me", headers=other, timeout=30)
    assert gone.status_code == 401
    assert_clean(page, seen)


def test_forced_mfa_enrolment_after_a_reload_asks_the_password(
    page: Page, console_server: ConsoleServer
) -> None:
    """MFA set-up re-authenticates: after a reload the password just typed is gone from memory,
    so the enrolment step asks for it before it fetches the QR code."""
    seen = watch(page)
    seen.allowed.append(REFUSED)
    username = new_user(console_server, permissions=["system:position:list"], require_mfa=True)
    sign_in(page, console_server, username, DEFAULT_PASSWORD)
    expect(page.get_by_test_id("mfa-secret")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("enrol-start")).to_be_visible()
    page.locator("input[name=enrol_password]").fill("not my password")
    page.get_by_test_id("enrol-start").click()
    expect(page.locator(".el-form-item__error")).to_contain_text("incorrect")
    page.locator("input[name=enrol_password]").fill(DEFAULT_PASSWORD)
    page.get_by_test_id("enrol-start").click()
    secret = page.get_by_test_id("mfa-secret")
    expect(secret).to_be_visible()
    page.locator("input[name=enrol_otp]").fill(pyotp.TOTP(secret.text_content() or "").now())
    page.get_by_test_id("enrol-submit").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("recovery-done").click()
    signed_in(page)
    assert_clean(page, seen)
