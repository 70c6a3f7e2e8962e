"""Guess limits under real concurrency: the attempt is reserved before the secret is checked.

docs/security-checklist.md §0 #9 and §1.1 anti-automation (ASVS 6.1.1, 6.3.1; NIST 800-63B §5.2.2),
MFA
codes rate-limited like passwords, §1.11 check-then-act as one operation (ASVS 15.4.2).
Every burst is released at once with `asyncio.gather` over the ASGI client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.core.security.passwords import PasswordHasher
from app.modules.system.auth import mfa
from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import bearer, client_from, login, solve_captcha
from tests.modules.system.auth.test_mfa import _enrol, _next_code
from tests.support.identity import DEFAULT_PASSWORD, auth_headers, create_user

WRONG = "wrong password!"
BURST = 40


class Gate:
    """Counts calls of a checker and holds them until `release()` (open from the start
    unless `closed`), so a test can fill every slot before it sends the next request."""

    def __init__(self, *, closed: bool = False) -> None:
        self.calls: list[str] = []
        self._open = asyncio.Event()
        if not closed:
            self._open.set()

    async def enter(self, value: str) -> None:
        self.calls.append(value)
        await self._open.wait()

    def release(self) -> None:
        self._open.set()


@pytest.fixture
def password_gate(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Gate]:
    """Spy on every password verification (`PasswordHasher.verify`)."""

    def install(*, closed: bool = False) -> Gate:
        gate = Gate(closed=closed)
        original = PasswordHasher.verify

        async def verify(self: PasswordHasher, stored: str, password: str) -> bool:
            await gate.enter(password)
            return await original(self, stored, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)
        return gate

    return install


@pytest.fixture
def code_gate(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Gate]:
    """Spy on every TOTP / recovery code verification (`mfa.verify_second_factor`)."""

    def install(*, closed: bool = False) -> Gate:
        gate = Gate(closed=closed)
        original = mfa.verify_second_factor

        async def verify(*args: object) -> bool:
            await gate.enter(str(args[3]))
            return await original(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(mfa, "verify_second_factor", verify)
        return gate

    return install


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not condition():
            await asyncio.sleep(0.01)


async def set_max_failures(client: httpx.AsyncClient, app: FastAPI, value: int) -> None:
    """The operator's runtime parameter `login.max_failures`."""
    async with app.state.sessionmaker() as db, db.begin():
        admin = await create_user(db, username="root", is_superuser=True)
    created = await client.post(
        "/api/v1/system/params",
        headers=await auth_headers(app, admin),
        json={"key": "login.max_failures", "value": str(value), "name": "F", "value_type": "int"},
    )
    assert created.status_code == 201, created.json()


@pytest.fixture
async def many_ips(app: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(client_from(app, f"198.51.100.{i + 1}"))
            for i in range(BURST)
        ]


# --------------------------------------------------------------------------- sign-in --


async def test_burst_of_guesses_evaluates_no_more_than_the_captcha_threshold(
    client: httpx.AsyncClient,
    alice: User,
    settings: Settings,
    password_gate: Callable[..., Gate],
) -> None:
    """Issue 1: 40 parallel sign-ins, no captcha, the right password at #21. Only the
    attempts that got a slot are evaluated; the rest are asked for a captcha, as they would
    be after `CAPTCHA_AFTER_FAILURES` sequential failures."""
    gate = password_gate()
    passwords = [WRONG] * BURST
    passwords[20] = DEFAULT_PASSWORD
    responses = await asyncio.gather(*(login(client, "alice", p) for p in passwords))
    statuses = [r.status_code for r in responses]
    limit = settings.captcha_after_failures
    wrong = [p for p in gate.calls if p == WRONG]
    if statuses[20] == 200:
        # It won one of the first slots (as if it had come among the first `limit`), and its
        # success reset the counter as a sequential success would: at most `limit - 1` wrong
        # guesses were in flight beside it and `limit` more after it.
        assert gate.calls.index(DEFAULT_PASSWORD) < limit
        assert len(wrong) <= 2 * limit - 1
    else:
        assert DEFAULT_PASSWORD not in gate.calls
        assert len(wrong) <= limit
    assert statuses.count(401) == len(wrong)
    assert statuses.count(400) == BURST - len(gate.calls)
    for response in responses:
        if response.status_code == 400:
            assert response.json()["errors"][0]["field"] == "captcha_code"


async def test_burst_with_solved_captchas_evaluates_no_more_than_max_failures(
    client: httpx.AsyncClient,
    other_ip_client: httpx.AsyncClient,
    alice: User,
    app: FastAPI,
    settings: Settings,
    password_gate: Callable[..., Gate],
) -> None:
    """Issue 1: with a captcha solved for each request, the (account, IP) limit decides:
    at most `max_failures` evaluated, the rest 429 with Retry-After, and the pair is locked."""
    captchas = [await solve_captcha(client, app) for _ in range(BURST)]
    gate = password_gate()
    responses = await asyncio.gather(*(login(client, "alice", WRONG, **c) for c in captchas))
    statuses = [r.status_code for r in responses]
    assert len(gate.calls) == settings.login_max_failures
    assert statuses.count(401) == settings.login_max_failures
    assert statuses.count(429) == BURST - settings.login_max_failures
    assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 429)
    locked = await login(client, "alice", **await solve_captcha(client, app))
    assert locked.status_code == 429
    # The same account from another address is not locked out.
    elsewhere = await login(other_ip_client, "alice", **await solve_captcha(other_ip_client, app))
    assert elsewhere.status_code == 200


async def test_right_password_behind_a_full_burst_does_not_sign_in(
    client: httpx.AsyncClient,
    alice: User,
    app: FastAPI,
    password_gate: Callable[..., Gate],
) -> None:
    """Issue 1: the slots are taken by wrong guesses still being checked; the right password
    sent now is not evaluated before their outcome is known, and they lock the pair."""
    await set_max_failures(client, app, 2)
    gate = password_gate(closed=True)
    wrong = [asyncio.create_task(login(client, "alice", WRONG)) for _ in range(BURST - 1)]
    await wait_until(lambda: len(gate.calls) >= 2)
    right = asyncio.create_task(login(client, "alice"))
    await asyncio.sleep(0.2)  # let it reach its reservation while the slots are full
    gate.release()
    responses = await asyncio.gather(*wrong)
    answer = await right
    assert answer.status_code == 429, answer.json()
    assert DEFAULT_PASSWORD not in gate.calls
    assert len(gate.calls) == 2
    assert sorted({r.status_code for r in responses}) == [401, 429]


async def test_parallel_wrong_codes_at_sign_in_are_limited_per_user(
    client: httpx.AsyncClient,
    many_ips: list[httpx.AsyncClient],
    alice: User,
    app: FastAPI,
    settings: Settings,
    code_gate: Callable[..., Gate],
) -> None:
    """Issue 1: the right password and 40 wrong codes from 40 addresses at once: the user's
    code counter admits `max_failures` of them, whatever the address."""
    token = (await login(client, "alice")).json()["access_token"]
    await _enrol(client, token)
    captchas = [await solve_captcha(http, app) for http in many_ips]
    gate = code_gate()
    responses = await asyncio.gather(
        *(
            login(http, "alice", otp=f"{i:06d}", **captcha)
            for i, (http, captcha) in enumerate(zip(many_ips, captchas, strict=True))
        )
    )
    statuses = [r.status_code for r in responses]
    assert len(gate.calls) == settings.login_max_failures
    assert statuses.count(401) == settings.login_max_failures
    assert statuses.count(429) == BURST - settings.login_max_failures


async def test_parallel_sign_ins_with_one_code_accept_it_once_without_conflicts(
    client: httpx.AsyncClient, alice: User
) -> None:
    """Issue 11 and ASVS 6.5.1: the code's step is recorded by compare-and-set, so of four
    sign-ins with one code exactly one succeeds and the others are refused (never a 409)."""
    token = (await login(client, "alice")).json()["access_token"]
    totp, _codes = await _enrol(client, token)
    code = _next_code(totp)
    responses = await asyncio.gather(*(login(client, "alice", otp=code) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


# ------------------------------------------------------------------ re-authentication --


async def test_burst_against_mfa_disable_never_turns_it_off(
    client: httpx.AsyncClient,
    alice: User,
    app: FastAPI,
    code_gate: Callable[..., Gate],
) -> None:
    """Issue 1: 39 wrong codes fill the user's counter; the right code sent behind them is
    not evaluated, and MFA stays on."""
    await set_max_failures(client, app, 2)
    token = (await login(client, "alice")).json()["access_token"]
    totp, _codes = await _enrol(client, token)

    async def disable(code: str) -> httpx.Response:
        return await client.post(
            "/api/v1/auth/mfa/disable",
            headers=bearer(token),
            json={"password": DEFAULT_PASSWORD, "otp": code},
        )

    gate = code_gate(closed=True)
    wrong = [asyncio.create_task(disable(f"{i:06d}")) for i in range(BURST - 1)]
    await wait_until(lambda: len(gate.calls) >= 2)
    right = asyncio.create_task(disable(_next_code(totp)))
    await asyncio.sleep(0.2)
    gate.release()
    statuses = [r.status_code for r in await asyncio.gather(*wrong)]
    answer = await right
    assert answer.status_code == 429, answer.json()
    assert len(gate.calls) == 2
    assert statuses.count(401) == 2 and statuses.count(429) == BURST - 3
    async with app.state.sessionmaker() as db:
        enabled = (
            await db.execute(select(User.mfa_enabled).where(User.id == alice.id))
        ).scalar_one()
    assert enabled is True


async def test_burst_of_wrong_current_passwords_is_limited(
    client: httpx.AsyncClient,
    alice: User,
    app: FastAPI,
    settings: Settings,
    password_gate: Callable[..., Gate],
) -> None:
    """Issue 1: a password change checks the current password as a reserved guess."""
    token = (await login(client, "alice")).json()["access_token"]
    gate = password_gate()
    body = {"current_password": WRONG, "new_password": "an entirely new passphrase 42"}
    responses = await asyncio.gather(
        *(
            client.put("/api/v1/auth/me/password", headers=bearer(token), json=body)
            for _ in range(BURST)
        )
    )
    statuses = [r.status_code for r in responses]
    assert len(gate.calls) == settings.login_max_failures
    assert statuses.count(400) == settings.login_max_failures
    assert statuses.count(429) == BURST - settings.login_max_failures
    # The counter is the user's: the right password is refused too until the lockout ends.
    body["current_password"] = DEFAULT_PASSWORD
    locked = await client.put("/api/v1/auth/me/password", headers=bearer(token), json=body)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1


# ------------------------------------------------------------------------ bookkeeping --


async def test_parallel_correct_sign_ins_all_succeed(
    client: httpx.AsyncClient, alice: User
) -> None:
    """Issue 11: eight sign-ins of one account at once (service accounts, browser tabs) all
    get tokens: in-flight attempts wait for each other's outcome instead of failing, and the
    last-login bookkeeping is no versioned write (it was a 409 for all but one)."""
    responses = await asyncio.gather(*(login(client, "alice") for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8, [r.json() for r in responses]
    assert len({r.json()["refresh_token"] for r in responses}) == 8
