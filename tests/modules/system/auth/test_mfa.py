"""TOTP MFA: enrolment (with the password), login with a code, single use, recovery codes,
disabling, other sessions ending when MFA is turned on.

docs/security-checklist.md §1.1 MFA (ASVS 6.5.1, 6.5.2, 6.5.3, 7.5.1), §1.2 (ASVS 7.4.3), roles
requiring MFA.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import bearer, login
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user

PASSWORD = {"password": DEFAULT_PASSWORD}


async def _enrol(client: httpx.AsyncClient, token: str) -> tuple[pyotp.TOTP, list[str]]:
    setup = await client.post("/api/v1/auth/mfa/setup", headers=bearer(token), json=PASSWORD)
    assert setup.status_code == 200
    data = setup.json()["data"]
    assert data["otpauth_uri"].startswith("otpauth://totp/")
    assert data["qr_png"].startswith("data:image/png;base64,")
    totp = pyotp.TOTP(data["secret"])
    confirm = await client.post(
        "/api/v1/auth/mfa/confirm", headers=bearer(token), json={**PASSWORD, "otp": totp.now()}
    )
    assert confirm.status_code == 200, confirm.json()
    codes: list[str] = confirm.json()["data"]["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return totp, codes


def _next_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step (accepted: drift window 1); the current one was spent
    by the enrolment, and a step at or before the last accepted one never works again."""
    return totp.at(datetime.now(UTC) + timedelta(seconds=30))


async def test_mfa_login_needs_a_code_that_works_once(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    token = (await login(client, "alice")).json()["access_token"]
    totp, _codes = await _enrol(client, token)
    async with app.state.sessionmaker() as db:
        stored = (
            await db.execute(select(User.mfa_secret).where(User.username == "alice"))
        ).scalar_one()
    assert stored is not None
    assert totp.secret not in stored  # stored encrypted, not the seed itself

    no_code = await login(client, "alice")
    assert no_code.status_code == 401
    assert no_code.json()["errors"][0]["field"] == "otp"
    assert (await login(client, "alice", otp="000000")).status_code == 401
    code = _next_code(totp)
    assert (await login(client, "alice", otp=code)).status_code == 200
    # ASVS 6.5.1: the same code (same time step) cannot be used again.
    assert (await login(client, "alice", otp=code)).status_code == 401


async def test_recovery_codes_work_once(client: httpx.AsyncClient, alice: User) -> None:
    token = (await login(client, "alice")).json()["access_token"]
    _totp, codes = await _enrol(client, token)
    assert (await login(client, "alice", otp=codes[0])).status_code == 200
    assert (await login(client, "alice", otp=codes[0])).status_code == 401
    assert (await login(client, "alice", otp=codes[1].upper())).status_code == 200


async def test_disabling_needs_password_and_code(client: httpx.AsyncClient, alice: User) -> None:
    token = (await login(client, "alice")).json()["access_token"]
    totp, codes = await _enrol(client, token)
    wrong_password = await client.post(
        "/api/v1/auth/mfa/disable",
        headers=bearer(token),
        json={"password": "nope nope", "otp": totp.now()},
    )
    assert wrong_password.status_code == 400
    wrong_code = await client.post(
        "/api/v1/auth/mfa/disable",
        headers=bearer(token),
        json={"password": DEFAULT_PASSWORD, "otp": "123456"},
    )
    assert wrong_code.status_code == 401
    done = await client.post(
        "/api/v1/auth/mfa/disable",
        headers=bearer(token),
        json={"password": DEFAULT_PASSWORD, "otp": codes[2]},
    )
    assert done.status_code == 204
    assert (await login(client, "alice")).status_code == 200


async def test_wrong_codes_are_throttled(client: httpx.AsyncClient, alice: User) -> None:
    token = (await login(client, "alice")).json()["access_token"]
    await client.post("/api/v1/auth/mfa/setup", headers=bearer(token), json=PASSWORD)
    statuses = [
        (
            await client.post(
                "/api/v1/auth/mfa/confirm",
                headers=bearer(token),
                json={**PASSWORD, "otp": "000000"},
            )
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:]


async def test_a_role_can_require_mfa(client: httpx.AsyncClient, app: FastAPI) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["system:position:list"], require_mfa=True)
        await create_user(db, username="dave", roles=[role])
    token = (await login(client, "dave")).json()["access_token"]
    blocked = await client.get("/api/v1/system/positions", headers=bearer(token))
    assert blocked.status_code == 403
    assert "set up" in blocked.json()["message"]
    me = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()["data"]
    assert me["mfa_enrollment_required"] is True
    await _enrol(client, token)
    assert (await client.get("/api/v1/system/positions", headers=bearer(token))).status_code != 403


async def _mfa_state(app: FastAPI, username: str = "alice") -> tuple[bool, str | None]:
    async with app.state.sessionmaker() as db:
        row = (
            await db.execute(
                select(User.mfa_enabled, User.mfa_secret).where(User.username == username)
            )
        ).one()
    return row.mfa_enabled, row.mfa_secret


async def test_enrolment_needs_the_current_password(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    """ASVS 7.5.1: an access token alone (stolen for its 15 minutes) cannot bind an
    authenticator to the account and lock its owner out. Setup and confirm both refuse
    without the password (422 naming `password`) or with a wrong one (400 naming it), and
    leave nothing behind."""
    token = (await login(client, "alice")).json()["access_token"]
    for body in ({}, {"password": ""}):
        response = await client.post("/api/v1/auth/mfa/setup", headers=bearer(token), json=body)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["password"]
    no_body = await client.post("/api/v1/auth/mfa/setup", headers=bearer(token))
    assert no_body.status_code == 422
    wrong = await client.post(
        "/api/v1/auth/mfa/setup", headers=bearer(token), json={"password": "not the password"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "password"
    assert await _mfa_state(app) == (False, None)  # no seed was made

    setup = await client.post("/api/v1/auth/mfa/setup", headers=bearer(token), json=PASSWORD)
    assert setup.status_code == 200
    totp = pyotp.TOTP(setup.json()["data"]["secret"])
    missing = await client.post(
        "/api/v1/auth/mfa/confirm", headers=bearer(token), json={"otp": totp.now()}
    )
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["password"]
    wrong_confirm = await client.post(
        "/api/v1/auth/mfa/confirm",
        headers=bearer(token),
        json={"password": "not the password", "otp": totp.now()},
    )
    assert wrong_confirm.status_code == 400
    assert wrong_confirm.json()["errors"][0]["field"] == "password"
    enabled, _seed = await _mfa_state(app)
    assert enabled is False
    # The owner, with the password, still enrols.
    done = await client.post(
        "/api/v1/auth/mfa/confirm", headers=bearer(token), json={**PASSWORD, "otp": totp.now()}
    )
    assert done.status_code == 200
    assert (await _mfa_state(app))[0] is True


async def test_wrong_passwords_at_enrolment_are_throttled(
    client: httpx.AsyncClient, alice: User
) -> None:
    """A stolen token cannot guess the password through the enrolment routes either."""
    token = (await login(client, "alice")).json()["access_token"]
    statuses = [
        (
            await client.post(
                "/api/v1/auth/mfa/setup", headers=bearer(token), json={"password": f"guess {i}"}
            )
        ).status_code
        for i in range(7)
    ]
    assert statuses[:5] == [400] * 5
    assert 429 in statuses[5:]


async def test_turning_mfa_on_ends_the_other_sessions(
    client: httpx.AsyncClient, alice: User
) -> None:
    """ASVS 7.4.3: a session opened before the second factor existed (perhaps the attacker's)
    ends when MFA is turned on; the one that turned it on goes on."""
    here = (await login(client, "alice")).json()["access_token"]
    elsewhere = (await login(client, "alice")).json()["access_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(elsewhere))).status_code == 200
    await _enrol(client, here)
    assert (await client.get("/api/v1/auth/me", headers=bearer(here))).status_code == 200
    gone = await client.get("/api/v1/auth/me", headers=bearer(elsewhere))
    assert gone.status_code == 401
