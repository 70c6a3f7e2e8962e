"""Revocation reaches every process that serves the API at once, whoever revokes: the command
line (a second process) or the API, in the lite shape (in-process cache: the revocation epoch
in the database carries it) and the scale shape (Redis).

docs/security-checklist.md §0 #8 (ASVS 7.4.1-7.4.3): a password reset ends the sessions; the
session leaves the online list and its token stops working together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import BASE_DIR
from tests.support.databases import TEST_REDIS_URL, temporary_database
from tests.support.processes import AppProcess, clean_environ
from tests.support.tcp_proxy import free_port

ADMIN_PASSWORD = "Cross-Process-Revocation-4417!"
USER_PASSWORD = "another long passphrase 8812"
SECRET_KEY = "cross-process-revocation-secret-0123456789-abcdefghij"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppProcess]:
    with temporary_database(tmp_path, "revoke") as database_url:
        env = {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": TEST_REDIS_URL,
            "CACHE_PREFIX": f"fa-revoke-{os.getpid()}-{free_port()}:",
            "SECRET_KEY": SECRET_KEY,
            "AUTO_MIGRATE": "true",  # `run` migrates and loads the initial data itself
            "INIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DATA_DIR": str(tmp_path / "data"),
            "FILE_DIR": str(tmp_path / "files"),
            "LOG_LEVEL": "WARNING",
            "CAPTCHA_MODE": "off",
            "RATE_LIMIT_ENABLED": "false",
        }
        app = AppProcess(tmp_path / "app", env).start()
        try:
            app.wait_ready()
            yield app
        finally:
            app.stop()


def cli(app: AppProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`python main.py ...` as an operator runs it next to the server: same settings."""
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=BASE_DIR,
        env={**clean_environ(), **app.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sign_in(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/login", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def online_usernames(http: httpx.Client, admin: dict[str, str]) -> list[str]:
    response = http.get("/api/v1/monitor/sessions?page_size=100", headers=admin)
    assert response.status_code == 200, response.text
    return [item["username"] for item in response.json()["data"]["items"]]


def create_user(http: httpx.Client, admin: dict[str, str], username: str) -> int:
    response = http.post(
        "/api/v1/system/users",
        headers=admin,
        json={
            "username": username,
            "name": username,
            "password": USER_PASSWORD,
            "must_change_password": False,
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["data"]["id"])


def test_reset_password_from_the_command_line_ends_the_servers_sessions_at_once(
    server: AppProcess,
) -> None:
    with httpx.Client(base_url=server.base, timeout=10) as http:
        admin = sign_in(http, "admin", ADMIN_PASSWORD)
        create_user(http, admin, "carol")
        carol = sign_in(http, "carol", USER_PASSWORD)
        assert http.get("/api/v1/auth/me", headers=carol).status_code == 200  # warm: cached
        assert "carol" in online_usernames(http, admin)

        reset = cli(server, "reset-password", "carol")
        assert reset.returncode == 0, reset.stderr
        assert "Traceback" not in reset.stderr

        # The very next request, on the server process the CLI never talked to.
        assert http.get("/api/v1/auth/me", headers=carol).status_code == 401
        assert "carol" not in online_usernames(http, admin)
        # The admin's own session is untouched.
        assert http.get("/api/v1/auth/me", headers=admin).status_code == 200


def test_reset_password_through_the_api_ends_the_token_and_the_online_entry_together(
    server: AppProcess,
) -> None:
    with httpx.Client(base_url=server.base, timeout=10) as http:
        admin = sign_in(http, "admin", ADMIN_PASSWORD)
        dave_id = create_user(http, admin, "dave")
        dave = sign_in(http, "dave", USER_PASSWORD)
        assert http.get("/api/v1/auth/me", headers=dave).status_code == 200
        reset = http.post(f"/api/v1/system/users/{dave_id}/reset-password", headers=admin)
        assert reset.status_code == 200, reset.text
        assert "dave" not in online_usernames(http, admin)
        assert http.get("/api/v1/auth/me", headers=dave).status_code == 401
