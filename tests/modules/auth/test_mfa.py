"""TOTP MFA: enrolment, login with a code, single use, recovery codes, disabling.

docs/security-checklist.md §1.1 MFA (ASVS 6.5.1, 6.5.2, 6.5.3, 7.5.1), roles requiring MFA.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select

from app.modules.system.user.models import User
from tests.modules.auth.conftest import bearer, login
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user


async def _enrol(client: httpx.AsyncClient, token: str) -> tuple[pyotp.TOTP, list[str]]:
    setup = await client.post("/api/v1/auth/mfa/setup", headers=bearer(token))
    assert setup.status_code == 200
    data = setup.json()["data"]
    assert data["otpauth_uri"].startswith("otpauth://totp/")
    assert data["qr_png"].startswith("data:image/png;base64,")
    totp = pyotp.TOTP(data["secret"])
    confirm = await client.post(
        "/api/v1/auth/mfa/confirm", headers=bearer(token), json={"otp": totp.now()}
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
    await client.post("/api/v1/auth/mfa/setup", headers=bearer(token))
    statuses = [
        (
            await client.post(
                "/api/v1/auth/mfa/confirm", headers=bearer(token), json={"otp": "000000"}
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
