"""Resetting a user's MFA (lost authenticator): `DELETE /api/v1/system/users/{user_id}/mfa`.

Before it existed nothing could undo an enrolment, and an admin password reset still asked for
the code, so a stolen access token that enrolled MFA locked its owner out for good.
docs/security-checklist.md §1.1 MFA (ASVS 6.5.6 factors can be revoked, 6.4.3 a reset does not
bypass MFA
silently: it is its own audited act), §0 #3 (data scope), §1.3 self-protection rules, ASVS
7.4.2 (the target's sessions end), 16.3 (recorded with a change record).
"""

from __future__ import annotations

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.modules.system.auth.models import RecoveryCode
from app.modules.system.operation_log.models import ChangeLog, OperationLog
from app.modules.system.operation_log.recorder import writer_for
from app.modules.system.permissions import (
    ROLE_DELETE,
    USER_LIST,
    USER_READ,
    USER_RESET_MFA,
    USER_RESET_PASSWORD,
    USER_UPDATE,
)
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import USERS, seed, signed_in, superuser
from tests.support.identity import DEFAULT_PASSWORD, create_dept, create_role, create_user

LOGIN = "/api/v1/auth/login"
MANAGE = [USER_LIST, USER_READ, USER_UPDATE, USER_RESET_PASSWORD, USER_RESET_MFA]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(
    client: httpx.AsyncClient, username: str, password: str, **form: str
) -> httpx.Response:
    return await client.post(LOGIN, data={"username": username, "password": password, **form})


async def _enrolled(client: httpx.AsyncClient, username: str) -> tuple[str, pyotp.TOTP]:
    """Sign `username` in, turn MFA on; returns the access token and the authenticator."""
    token = (await _login(client, username, DEFAULT_PASSWORD)).json()["access_token"]
    password = {"password": DEFAULT_PASSWORD}
    setup = await client.post("/api/v1/auth/mfa/setup", headers=_bearer(token), json=password)
    assert setup.status_code == 200, setup.text
    totp = pyotp.TOTP(setup.json()["data"]["secret"])
    confirm = await client.post(
        "/api/v1/auth/mfa/confirm", headers=_bearer(token), json={**password, "otp": totp.now()}
    )
    assert confirm.status_code == 200, confirm.text
    return token, totp


async def _mfa_of(app: FastAPI, user_id: int) -> tuple[bool, bool, int]:
    """(enabled, has a seed, unused recovery codes) as stored."""
    async with app.state.sessionmaker() as db:
        user = await db.get(User, user_id)
        assert user is not None
        codes = (
            await db.execute(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id)
            )
        ).scalar_one()
    return user.mfa_enabled, user.mfa_secret is not None, int(codes)


async def test_an_admin_reset_lets_the_user_sign_in_with_the_password_alone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The lost-authenticator path: 204; seed and recovery codes gone; every session of the
    user ends; they sign in with their password alone and can enrol again. Audited: the
    operation log has the request, the change log its before/after."""
    alice = await seed(app, lambda db: create_user(db, username="alice"))
    token, _totp = await _enrolled(client, "alice")
    assert await _mfa_of(app, alice.id) == (True, True, 10)
    assert (await _login(client, "alice", DEFAULT_PASSWORD)).status_code == 401  # code needed
    _, headers = await superuser(app)

    response = await client.delete(
        f"{USERS}/{alice.id}/mfa", headers={**headers, "X-Request-ID": "mfa-reset"}
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await _mfa_of(app, alice.id) == (False, False, 0)
    assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401
    signed_in_again = await _login(client, "alice", DEFAULT_PASSWORD)
    assert signed_in_again.status_code == 200, signed_in_again.text
    read = await client.get(f"{USERS}/{alice.id}", headers=headers)
    assert read.json()["data"]["mfa_enabled"] is False

    writer = writer_for(app)
    assert writer is not None
    await writer.flush()
    async with app.state.sessionmaker() as db:
        change = (
            await db.execute(select(ChangeLog).where(ChangeLog.request_id == "mfa-reset"))
        ).scalar_one()
        entry = (
            await db.execute(select(OperationLog).where(OperationLog.request_id == "mfa-reset"))
        ).scalar_one()
    assert (change.entity, change.entity_id, change.action) == ("user", str(alice.id), "update")
    assert change.before is not None and change.before["mfa_enabled"] is True
    assert change.after is not None and change.after["mfa_enabled"] is False
    assert (entry.method, entry.success) == ("DELETE", True)

    # And they can enrol again, with their password.
    await _enrolled(client, "alice")
    assert (await _mfa_of(app, alice.id))[0] is True


async def test_an_admin_password_reset_after_an_mfa_reset_needs_no_code(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A user who lost both: a password reset alone still asks for the code (it does not
    bypass MFA, ASVS 6.4.3); with the MFA reset too, the one-time password alone signs in
    (and must be changed)."""
    alice = await seed(app, lambda db: create_user(db, username="alice"))
    await _enrolled(client, "alice")
    _, headers = await superuser(app)
    reset = await client.post(f"{USERS}/{alice.id}/reset-password", headers=headers)
    one_time = reset.json()["data"]["password"]
    still = await _login(client, "alice", one_time)
    assert still.status_code == 401
    assert still.json()["errors"][0]["field"] == "otp"

    assert (await client.delete(f"{USERS}/{alice.id}/mfa", headers=headers)).status_code == 204
    signed_in = await _login(client, "alice", one_time)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["password_change_required"] is True


async def test_nothing_to_reset_changes_nothing(client: httpx.AsyncClient, app: FastAPI) -> None:
    """A user without MFA: 204, no change record, their sessions go on."""
    bob = await seed(app, lambda db: create_user(db, username="bob"))
    token = (await _login(client, "bob", DEFAULT_PASSWORD)).json()["access_token"]
    _, headers = await superuser(app)
    response = await client.delete(f"{USERS}/{bob.id}/mfa", headers=headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 200
    async with app.state.sessionmaker() as db:
        assert (await db.execute(select(ChangeLog))).first() is None


async def test_a_pending_setup_is_reset_too(client: httpx.AsyncClient, app: FastAPI) -> None:
    """A seed made but never confirmed is dropped as well."""
    carol = await seed(app, lambda db: create_user(db, username="carol"))
    token = (await _login(client, "carol", DEFAULT_PASSWORD)).json()["access_token"]
    setup = await client.post(
        "/api/v1/auth/mfa/setup", headers=_bearer(token), json={"password": DEFAULT_PASSWORD}
    )
    assert setup.status_code == 200
    assert await _mfa_of(app, carol.id) == (False, True, 0)
    _, headers = await superuser(app)
    assert (await client.delete(f"{USERS}/{carol.id}/mfa", headers=headers)).status_code == 204
    assert await _mfa_of(app, carol.id) == (False, False, 0)


async def test_the_reset_needs_its_own_permission(client: httpx.AsyncClient, app: FastAPI) -> None:
    """§0 #1, #2: 401 without a token; 403 holding every other user permission; the
    holder of `system:user:reset-mfa` alone may."""
    alice = await seed(app, lambda db: create_user(db, username="alice"))
    await _enrolled(client, "alice")
    url = f"{USERS}/{alice.id}/mfa"
    assert (await client.delete(url)).status_code == 401
    _, others = await signed_in(app, [c for c in MANAGE if c != USER_RESET_MFA])
    denied = await client.delete(url, headers=others)
    assert denied.status_code == 403
    assert USER_RESET_MFA in denied.json()["message"]
    assert (await _mfa_of(app, alice.id))[0] is True
    _, allowed = await signed_in(app, [USER_RESET_MFA])
    assert (await client.delete(url, headers=allowed)).status_code == 204
    assert (await _mfa_of(app, alice.id))[0] is False


async def test_the_reset_follows_the_rules_of_managing_a_user(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Same checks as editing: outside the data scope 404 (§0 #3); a superuser only by a
    superuser, a stronger user never, yourself never (403). Nothing changes on a refusal."""
    a = await seed(app, lambda db: create_dept(db, name="A"))
    b = await seed(app, lambda db: create_dept(db, name="B"))
    me, headers = await signed_in(app, MANAGE, data_scope="dept", dept_id=a.id)
    strong = await seed(
        app, lambda db: create_role(db, permissions=[USER_LIST, ROLE_DELETE], data_scope="self")
    )
    targets = {
        "outside": await seed(app, lambda db: create_user(db, username="far", dept_id=b.id)),
        "superuser": await seed(
            app, lambda db: create_user(db, username="root", dept_id=a.id, is_superuser=True)
        ),
        "stronger": await seed(
            app, lambda db: create_user(db, username="strong", dept_id=a.id, roles=[strong])
        ),
    }
    for name in targets:
        await _enrolled(client, targets[name].username)
    expected = {
        "outside": (404, "User not found"),
        "superuser": (403, "Only a superuser can manage a superuser"),
        "stronger": (403, "You cannot manage a user with permissions you do not hold"),
    }
    for name, target in targets.items():
        response = await client.delete(f"{USERS}/{target.id}/mfa", headers=headers)
        assert (response.status_code, response.json()["message"]) == expected[name], name
        assert (await _mfa_of(app, target.id))[0] is True, name

    async def enrol_me() -> None:
        async with app.state.sessionmaker() as db, db.begin():
            user = await db.get(User, me.id)
            assert user is not None
            user.mfa_enabled = True
            user.mfa_secret = "placeholder"

    await enrol_me()
    own = await client.delete(f"{USERS}/{me.id}/mfa", headers=headers)
    assert own.status_code == 403
    assert "use your profile" in own.json()["message"]
    assert (await _mfa_of(app, me.id))[0] is True

    # A superuser resets another superuser's.
    _, root_headers = await superuser(app)
    reset = await client.delete(f"{USERS}/{targets['superuser'].id}/mfa", headers=root_headers)
    assert reset.status_code == 204
    assert (await _mfa_of(app, targets["superuser"].id))[0] is False


@pytest.mark.parametrize("user_id", ["0", "abc", str(2**63)])
async def test_a_bad_id_is_422(client: httpx.AsyncClient, app: FastAPI, user_id: str) -> None:
    _, headers = await superuser(app)
    response = await client.delete(f"{USERS}/{user_id}/mfa", headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "user_id"
