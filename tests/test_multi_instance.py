"""Two real app processes sharing one database and one Redis (SECURITY.md §6, §0 #8, #20).

Each process has its own memory; only the database and Redis are shared. What one process
decides about sessions and throttling must hold on the other at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import BASE_DIR, Settings
from tests.support.databases import TEST_REDIS_URL
from tests.support.identity import DEFAULT_PASSWORD, create_role, create_user
from tests.support.tcp_proxy import free_port

pytestmark = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="several processes need Redis (set TEST_REDIS_URL)"
)


class Instance:
    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
        env.update(
            APP_ENV="test",
            DATABASE_URL=settings.database_url,
            REDIS_URL=settings.redis_url,
            CACHE_PREFIX=settings.cache_prefix,
            SECRET_KEY=settings.secret,
            AUTO_MIGRATE="false",
            DATA_DIR=str(data_dir),
            LOG_LEVEL="WARNING",
            CAPTCHA_MODE="off",
        )
        self.process = subprocess.Popen(
            [sys.executable, "main.py", "run", "--port", str(self.port)],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"instance exited: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            try:
                if httpx.get(f"{self.base}/api/v1/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail("instance did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


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
