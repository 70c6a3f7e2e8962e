"""Login: token shape, identical failures, throttling and lockout, captcha, rehash.

docs/security-checklist.md §0 #9 (ASVS 6.1.1, 6.3.1, 6.3.8), §0 #10 (ASVS 11.4.2).
"""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher as Argon2Hasher
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.core.security.passwords import PasswordHasher
from app.modules.system.auth.deps import password_hasher
from app.modules.system.user.models import User
from tests.modules.system.auth.conftest import bearer, client_from, login, solve_captcha
from tests.support.identity import DEFAULT_PASSWORD, auth_headers, create_user


async def test_login_answers_the_rfc6749_token_shape(
    client: httpx.AsyncClient, alice: User
) -> None:
    response = await login(client, "alice")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 900
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    data = me.json()["data"]
    assert data["username"] == "alice"
    assert data["permissions"] == ["system:user:list"]
    assert set(data) >= {"id", "username", "name", "email", "dept_id", "is_superuser", "roles"}


async def test_unknown_user_and_wrong_password_get_identical_answers(
    client: httpx.AsyncClient, alice: User, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASVS 6.3.8: same status and body; the unknown user still costs a real hash check."""
    hasher = password_hasher(app)
    calls: list[str] = []
    original = PasswordHasher.verify_dummy

    async def spy(self: PasswordHasher, password: str) -> None:
        calls.append(password)
        await original(self, password)

    monkeypatch.setattr(PasswordHasher, "verify_dummy", spy)
    wrong = await login(client, "alice", "not the password at all")
    unknown = await login(client, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401

    def strip(response: httpx.Response) -> dict[str, object]:
        return {k: v for k, v in response.json().items() if k != "request_id"}

    assert strip(wrong) == strip(unknown)
    assert calls == ["not the password at all"]
    assert hasher is password_hasher(app)


async def test_disabled_user_cannot_log_in_and_gets_the_same_answer(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="gone", status="disabled")
    response = await login(client, "gone")
    assert response.status_code == 401
    assert response.json()["message"] == "Incorrect username or password"


async def test_lockout_per_account_and_ip_with_retry_after(
    client: httpx.AsyncClient,
    other_ip_client: httpx.AsyncClient,
    alice: User,
    settings: Settings,
    app: FastAPI,
) -> None:
    """§1.1 anti-automation (a), (b), (d): N failures lock that pair only, temporarily."""
    for _ in range(settings.login_max_failures):
        captcha = await solve_captcha(client, app)
        assert (await login(client, "alice", "wrong password!", **captcha)).status_code == 401
    locked = await login(client, "alice", **await solve_captcha(client, app))  # even the right one
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    # The same account from another address is not locked out (no attacker-made lockout).
    # (A captcha is due by now: failures of the account count towards it from any address.)
    elsewhere = await login(other_ip_client, "alice", **await solve_captcha(other_ip_client, app))
    assert elsewhere.status_code == 200, elsewhere.json()


async def test_success_resets_the_counter(
    client: httpx.AsyncClient, alice: User, settings: Settings, app: FastAPI
) -> None:
    for _ in range(settings.login_max_failures - 1):
        await login(client, "alice", "wrong password!")
    assert (await login(client, "alice", **await solve_captcha(client, app))).status_code == 200
    for _ in range(settings.captcha_after_failures):
        captcha = await solve_captcha(client, app)
        assert (await login(client, "alice", "wrong password!", **captcha)).status_code == 401
    # Counted again from zero: one more failure than the captcha threshold does not lock.
    assert (await login(client, "alice", **await solve_captcha(client, app))).status_code == 200


async def test_one_ip_spraying_many_accounts_is_throttled(app: FastAPI, settings: Settings) -> None:
    """§1.1 (c): per-IP limit across accounts."""
    async with client_from(app, "203.0.113.99") as sprayer:
        for i in range(settings.login_max_failures_per_ip):
            response = await login(sprayer, f"victim{i}", "Summer2024!")
            assert response.status_code in (400, 401), response.json()
        blocked = await login(sprayer, "victim-last", "Summer2024!")
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers


async def test_captcha_is_required_after_failures_and_single_use(
    client: httpx.AsyncClient,
    other_ip_client: httpx.AsyncClient,
    alice: User,
    app: FastAPI,
    settings: Settings,
) -> None:
    for _ in range(settings.captcha_after_failures):
        await login(client, "alice", "wrong password!")
    missing = await login(other_ip_client, "alice")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "captcha_code"
    captcha = (await other_ip_client.get("/api/v1/auth/captcha")).json()["data"]
    assert captcha["image"].startswith("data:image/png;base64,")
    answer = (await app.state.cache.get(f"captcha:{captcha['captcha_id']}")).decode()
    wrong = await login(
        other_ip_client, "alice", captcha_id=captcha["captcha_id"], captcha_code="zzzzz"
    )
    assert wrong.status_code == 400
    # A wrong guess spends the captcha: the right answer no longer works with that id.
    spent = await login(
        other_ip_client, "alice", captcha_id=captcha["captcha_id"], captcha_code=answer
    )
    assert spent.status_code == 400
    fresh = (await other_ip_client.get("/api/v1/auth/captcha")).json()["data"]
    answer = (await app.state.cache.get(f"captcha:{fresh['captcha_id']}")).decode()
    good = await login(
        other_ip_client, "alice", captcha_id=fresh["captcha_id"], captcha_code=answer
    )
    assert good.status_code == 200


async def test_old_hash_parameters_are_upgraded_at_login(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """ASVS 11.4.2: stored as argon2id m>=19456,t>=2; weaker hashes are rehashed on login."""
    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(DEFAULT_PASSWORD)
    async with app.state.sessionmaker() as db, db.begin():
        user = await create_user(db, username="legacy")
        user.password_hash = weak
    assert (await login(client, "legacy")).status_code == 200
    async with app.state.sessionmaker() as db:
        stored = (
            await db.execute(select(User.password_hash).where(User.username == "legacy"))
        ).scalar_one()
    assert stored.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2


async def test_login_form_validation_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/login", data={"username": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"


async def test_lockout_threshold_is_a_runtime_parameter(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    """Issue 4: `login.max_failures` tunes the lockout without a restart."""
    async with app.state.sessionmaker() as db, db.begin():
        admin = await create_user(db, username="root", is_superuser=True)
    headers = await auth_headers(app, admin)
    created = await client.post(
        "/api/v1/system/params",
        headers=headers,
        json={"key": "login.max_failures", "value": "2", "name": "Failures", "value_type": "int"},
    )
    assert created.status_code == 201
    for _ in range(2):
        assert (await login(client, "alice", "wrong password!")).status_code == 401
    assert (await login(client, "alice")).status_code == 429
