from playwright.sync_api import Page

from tests.browser.conftest import ConsoleServer
from tests.browser.support import assert_clean, shot, sign_in, signed_in, watch


def test_smoke(page: Page, console_server: ConsoleServer) -> None:
    seen = watch(page)
    page.goto(console_server.url("/login"))
    shot(page, "tmp-login")
    sign_in(page, console_server)
    signed_in(page)
    shot(page, "tmp-home")
    page.goto(console_server.url("/system/positions"))
    page.wait_for_load_state("networkidle")
    shot(page, "tmp-positions")
    assert_clean(page, seen)
