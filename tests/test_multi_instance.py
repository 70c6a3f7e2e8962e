"""Two real app processes sharing one database and one Redis (SECURITY.md §6, §0 #8, #20).

Each process has its own memory; only the database and Redis are shared. What one process
decides about sessions and throttling must hold on the other at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.support.databases import TEST_REDIS_URL
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user
from tests.support.instances import Instance

pytestmark = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="several processes need Redis (set TEST_REDIS_URL)"
)


@pytest.fixture
def instances(settings: Settings, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    pair = (Instance(settings, tmp_path / "a"), Instance(settings, tmp_path / "b"))
    try:
        for instance in pair:
            instance.wait_ready()
        yield pair
    finally:
        for instance in pair:
            instance.stop()


def _login(instance: Instance, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{instance.base}/api/v1/auth/login",
        data={"username": username, "password": password},
        timeout=10,
    )


def _me(instance: Instance, token: str) -> int:
    response = httpx.get(
        f"{instance.base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code


async def test_logout_and_force_logout_on_one_process_hold_on_the_other(
    app: FastAPI, instances: tuple[Instance, Instance]
) -> None:
    a, b = instances
    async with app.state.sessionmaker() as db, db.begin():
        role = await create_role(db, permissions=["monitor:session:list", "monitor:session:delete"])
        await create_user(db, username="alice")
        await create_user(db, username="root", roles=[role])
    token = _login(a, "alice").json()["access_token"]
    assert _me(b, token) == 200
    assert (
        httpx.post(
            f"{a.base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).status_code
        == 204
    )
    assert _me(b, token) == 401

    token = _login(b, "alice").json()["access_token"]
    admin = _login(a, "root").json()["access_token"]
    listed = httpx.get(
        f"{a.base}/api/v1/monitor/sessions",
        params={"username": "alice"},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    ).json()["data"]["items"]
    assert len(listed) == 1
    assert "token" not in str(listed).lower()
    killed = httpx.delete(
        f"{a.base}/api/v1/monitor/sessions/{listed[0]['session_id']}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert killed.status_code == 204
    assert _me(b, token) == 401


async def test_login_throttle_is_shared(
    app: FastAPI, instances: tuple[Instance, Instance], settings: Settings
) -> None:
    a, b = instances
    async with app.state.sessionmaker() as db, db.begin():
        await create_user(db, username="alice")
    statuses = [
        _login(instance, "alice", "wrong password!").status_code
        for _, instance in zip(range(settings.login_max_failures), [a, b] * 10, strict=False)
    ]
    assert statuses == [401] * settings.login_max_failures
    # Failures spread over both processes tripped the one shared lock.
    assert _login(a, "alice").status_code == 429
    assert _login(b, "alice").status_code == 429


def test_api_rate_limit_is_shared(settings: Settings, tmp_path: Path) -> None:
    """Limit 6/minute per IP, requests alternating A, B: the 7th is 429 (SECURITY.md §6)."""
    limited = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_PER_IP": "6/minute"}
    pair = (
        Instance(settings, tmp_path / "a", limited),
        Instance(settings, tmp_path / "b", limited),
    )
    try:
        for instance in pair:
            instance.wait_ready()
        statuses = [
            httpx.get(f"{pair[i % 2].base}/api/v1/auth/me", timeout=10).status_code
            for i in range(7)
        ]
        assert statuses[:6] == [401] * 6
        assert statuses[6] == 429
        last = httpx.get(f"{pair[0].base}/api/v1/auth/me", timeout=10)
        assert last.status_code == 429
        assert int(last.headers["Retry-After"]) >= 1
    finally:
        for instance in pair:
            instance.stop()
