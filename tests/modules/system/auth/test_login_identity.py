"""Sign-in reaches an account only by its exact name, on every database, and the throttle
counts against that account (issue 2); the login log keeps only names of accounts (issue 13a).

docs/security-checklist.md §0 #9 (ASVS 6.1.1, 6.3.1, 6.3.8), §1.2 log content (ASVS 16.2.5, 16.4.1).
MariaDB's default collation (`utf8mb4_unicode_ci`) ignores case and accents: `ťom_a` and
`tom_á` used to sign in to `tom_a`, each with lockout and captcha counters of its own.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import login, solve_captcha
from tests.modules.system.login_log.test_login_log import _events
from tests.support.identity import DEFAULT_PASSWORD, create_user

VARIANTS = ("ťom_a", "tom_á", "TOM_A", "Tom_a", "tóm_á")


async def test_only_the_exact_name_signs_in(client: httpx.AsyncClient, app: FastAPI) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="tom_a")
    for variant in VARIANTS:
        response = await login(client, variant)  # the right password
        assert response.status_code == 401, (variant, response.json())
    assert (await login(client, " tom_a ")).status_code == 200  # surrounding blanks only


async def test_a_locked_account_is_not_reachable_through_a_variant(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="tom_a")
    for _ in range(settings.login_max_failures):
        captcha = await solve_captcha(client, app)
        assert (await login(client, "tom_a", "wrong password!", **captcha)).status_code == 401
    assert (await login(client, "tom_a", **await solve_captcha(client, app))).status_code == 429
    for variant in VARIANTS:
        response = await login(client, variant, **await solve_captcha(client, app))
        assert response.status_code in (401, 429), (variant, response.json())


async def test_the_login_log_keeps_only_names_of_accounts(
    client: httpx.AsyncClient, app: FastAPI, alice: User
) -> None:
    """A password typed into the username field is not stored (nor its variants)."""
    typed = "Tr0ub4dor&3 my password"
    await login(client, typed, "alice")  # name and password swapped
    await login(client, "ALICE", "wrong password!")  # not the account's exact name
    await login(client, "alice", "wrong password!")
    await login(client, "alice")
    rows = [(e.username, e.user_id, e.success) for e in await _events(app)]
    assert rows == [
        (None, None, False),
        (None, None, False),
        ("alice", alice.id, False),
        ("alice", alice.id, True),
    ]
    stored = str([vars(e) for e in await _events(app)])
    assert typed not in stored and DEFAULT_PASSWORD not in stored
