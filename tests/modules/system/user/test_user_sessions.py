"""Users: disabling, deleting and resetting end the user's sessions at once (§0 #8)."""

from __future__ import annotations

import argon2
import httpx
from fastapi import FastAPI

from app.modules.system.permissions import (
    USER_LIST,
)
from tests.modules.system.user.helpers import (
    GOOD_PASSWORD,
    USERS,
    signed_in,
    stored_user,
    superuser,
)
from tests.support.identity import DEFAULT_PASSWORD

# -------------------------------------------------------------------- sessions & resets --


async def test_disabling_a_user_kills_their_token_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """§0 #8, ASVS 7.4.2: the disabled user's next request is 401."""
    _, admin = await superuser(app)
    victim, victim_headers = await signed_in(app, [USER_LIST])
    assert (await client.get(USERS, headers=victim_headers)).status_code == 200
    response = await client.patch(
        f"{USERS}/{victim.id}", json={"status": "disabled"}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "disabled"
    assert (await client.get(USERS, headers=victim_headers)).status_code == 401
    enabled = await client.patch(f"{USERS}/{victim.id}", json={"status": "active"}, headers=admin)
    assert enabled.status_code == 200
    # Re-enabling does not revive the ended session.
    assert (await client.get(USERS, headers=victim_headers)).status_code == 401


async def test_deleting_a_user_kills_their_token(client: httpx.AsyncClient, app: FastAPI) -> None:
    """ASVS 7.4.2."""
    _, admin = await superuser(app)
    victim, victim_headers = await signed_in(app, [USER_LIST])
    assert (await client.delete(f"{USERS}/{victim.id}", headers=admin)).status_code == 204
    assert (await client.get(USERS, headers=victim_headers)).status_code == 401


async def test_reset_password_gives_a_generated_one_time_password(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """ASVS 6.4.1 / 6.4.6 (generated, never chosen), 7.4.3 (old sessions end)."""
    _, admin = await superuser(app)
    user, user_headers = await signed_in(app, [USER_LIST], username="resettable")
    assert (await client.get(USERS, headers=user_headers)).status_code == 200
    chosen = await client.post(
        f"{USERS}/{user.id}/reset-password", json={"password": GOOD_PASSWORD}, headers=admin
    )
    first = await client.post(f"{USERS}/{user.id}/reset-password", headers=admin)
    assert first.status_code == 200, first.text
    password = first.json()["data"]["password"]
    assert isinstance(password, str) and len(password) >= 16
    assert password != GOOD_PASSWORD and chosen.status_code == 200  # a body is ignored
    stored = await stored_user(app, user.id)
    assert stored is not None
    assert argon2.PasswordHasher().verify(stored.password_hash, password)
    assert stored.must_change_password is True
    assert (await client.get(USERS, headers=user_headers)).status_code == 401
    second = await client.post(f"{USERS}/{user.id}/reset-password", headers=admin)
    assert second.json()["data"]["password"] != password
    # The password works for signing in, which then demands a change.
    new_password = second.json()["data"]["password"]
    login = await client.post(
        "/api/v1/auth/login", data={"username": "resettable", "password": new_password}
    )
    assert login.status_code == 200, login.text
    assert login.json()["password_change_required"] is True
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get(USERS, headers=token)).status_code == 403
    old = await client.post(
        "/api/v1/auth/login", data={"username": "resettable", "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401


async def test_reset_password_of_missing_user_is_404(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, admin = await superuser(app)
    response = await client.post(f"{USERS}/987654/reset-password", headers=admin)
    assert response.status_code == 404
