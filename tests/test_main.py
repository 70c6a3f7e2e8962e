"""The command line (`main.py`), run as a user would: in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import BASE_DIR
from tests.support.databases import temporary_database
from tests.support.tcp_proxy import free_port

STRONG = "Zq8-wP2xL5nV9cB1mK7jH3gF6dS4aT0yR_uE"


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WORKERS", "APP_ENV"):
        clean.pop(name, None)
    clean["DATA_DIR"] = str(tmp_path / "data")
    return clean


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with temporary_database(tmp_path, "cli") as url:
        yield url


def test_help_lists_every_command(env: dict[str, str]) -> None:
    result = cli("--help", env=env)
    assert result.returncode == 0
    for command in (
        "run",
        "upgrade",
        "downgrade",
        "revision",
        "current",
        "history",
        "check",
        "init",
        "reset-password",
        "reset-mfa",
    ):
        assert command in result.stdout


def test_migration_commands(env: dict[str, str], database: str) -> None:
    env["DATABASE_URL"] = database
    behind = cli("current", "--env=test", env=env)
    assert behind.returncode == 0, behind.stderr
    assert "database: (empty)" in behind.stdout
    assert "behind" in behind.stdout
    assert cli("upgrade", "--env=test", env=env).returncode == 0
    now = cli("current", "--env=test", env=env)
    assert "status: up to date" in now.stdout
    checked = cli("check", "--env=test", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "agree" in checked.stdout
    assert "0001" in cli("history", "--env=test", env=env).stdout
    assert cli("init", "--env=test", env=env).returncode == 0
    assert cli("init", "--env=test", env=env).returncode == 0  # idempotent


def test_invalid_setting_is_one_clear_line(env: dict[str, str]) -> None:
    env["DB_POOL_SIZE"] = "lots"
    result = cli("current", "--env=test", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: invalid setting DB_POOL_SIZE:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_database_that_refuses_is_not_called_unreachable(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A reachable database that fails (here: a file that is not a database) is named a
    database error, not an outage, in one line; an outage keeps "database unreachable"
    (tests/resilience/test_process_faults.py)."""
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"this is not an SQLite file" * 200)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{broken}"
    result = cli("upgrade", "--env=test", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: database error: DatabaseError:"), lines[0]
    assert "Traceback" not in result.stderr


def test_prod_refuses_a_weak_secret(env: dict[str, str]) -> None:
    env["SECRET_KEY"] = "secret"
    result = cli("run", "--env=prod", env=env)
    assert result.returncode == 2
    assert "invalid setting SECRET_KEY" in result.stderr


def test_several_workers_need_redis(env: dict[str, str]) -> None:
    result = cli("run", "--env=dev", "--workers", "2", env=env)
    assert result.returncode == 2
    assert "WORKERS" in result.stderr
    assert "REDIS_URL" in result.stderr


def test_prod_refuses_a_database_that_is_behind(env: dict[str, str], database: str) -> None:
    env.update(SECRET_KEY=STRONG, DATABASE_URL=database)
    result = cli("run", "--env=prod", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "python main.py upgrade --env=prod" in result.stderr


def test_run_on_the_lite_default_serves_ready_and_docs_then_stops_cleanly(
    env: dict[str, str],
) -> None:
    """The README's run command on a fresh data folder: migrates, loads data, serves."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "main.py", "run", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{base}/api/v1/health/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, "server did not become ready"
        assert httpx.get(f"{base}/api/v1/docs", timeout=5).status_code == 200
        assert httpx.get(f"{base}/api/v1/redoc", timeout=5).status_code == 200
        assert (Path(env["DATA_DIR"]) / "fastapiadmin.db").exists()
        assert (Path(env["DATA_DIR"]) / "secret_key").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    # uvicorn finishes the shutdown, then re-raises SIGTERM so supervisors see why it exited.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output, output
    # The startup line names the modules `*` enabled and those left out, not "['*']".
    startup = next(line for line in output.splitlines() if "startup" in line and "modules=" in line)
    assert "'*'" not in startup, startup
    # dev and test enable the sample modules by default (prod leaves them out: test_config.py).
    assert "'scheduler'" in startup and "'example'" in startup, startup
    assert "modules_disabled=[]" in startup, startup
    assert "setup plugin" not in output  # Alembic's plugin lines are not logged


def test_operator_commands(env: dict[str, str], database: str) -> None:
    """init (idempotent, prints a one-time admin password once), createsuperuser, reset-password."""
    env["DATABASE_URL"] = database
    assert cli("upgrade", "--env=test", env=env).returncode == 0
    first = cli("init", "--env=test", env=env)
    assert first.returncode == 0, first.stderr
    assert "one-time password" in first.stdout
    second = cli("init", "--env=test", env=env)
    assert second.returncode == 0
    assert "one-time password" not in second.stdout  # the admin exists: nothing printed again

    created = subprocess.run(
        [
            sys.executable,
            "main.py",
            "createsuperuser",
            "--env=test",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        cwd=BASE_DIR,
        env=env,
        input="a long enough passphrase\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    again = cli("createsuperuser", "--env=test", "--username", "ops", env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    reset = cli("reset-password", "ops", "--env=test", env=env)
    assert reset.returncode == 0, reset.stderr
    assert "one-time password for 'ops'" in reset.stdout
    missing = cli("reset-password", "nobody", "--env=test", env=env)
    assert missing.returncode == 1


async def _mfa_rows(database: str, *, enrol: bool) -> tuple[bool, str | None, int, int]:
    """Give `ops` MFA, recovery codes and a live session (`enrol`), then read them back:
    (mfa_enabled, mfa_secret, recovery codes, live sessions)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, insert, select, update
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.modules.system.auth.models import AuthSession, RecoveryCode
    from app.modules.system.user.models import User

    engine = create_async_engine(database)
    try:
        async with engine.begin() as connection:
            user_id = (
                await connection.execute(select(User.id).where(User.username == "ops"))
            ).scalar_one()
            if enrol:
                await connection.execute(
                    update(User).where(User.id == user_id).values(mfa_enabled=True, mfa_secret="x")
                )
                await connection.execute(
                    insert(RecoveryCode).values(user_id=user_id, code_hash="h" * 64)
                )
                later = datetime.now(UTC) + timedelta(hours=1)
                await connection.execute(
                    insert(AuthSession).values(
                        id="s" * 32, user_id=user_id, idle_expires_at=later, expires_at=later
                    )
                )
            user = (await connection.execute(select(User).where(User.id == user_id))).one()
            codes = (
                await connection.execute(
                    select(func.count())
                    .select_from(RecoveryCode)
                    .where(RecoveryCode.user_id == user_id)
                )
            ).scalar_one()
            live = (
                await connection.execute(
                    select(func.count())
                    .select_from(AuthSession)
                    .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return bool(user.mfa_enabled), user.mfa_secret, int(codes), int(live)


def test_reset_mfa_command(env: dict[str, str], database: str) -> None:
    """`reset-mfa USERNAME`: the operator's way back in for someone who lost their
    authenticator (the last superuser included): MFA off, recovery codes gone, sessions
    ended. Errors are one line, never a traceback (docs/security-checklist.md §1.1 MFA, ASVS
    6.5.6)."""
    import asyncio

    env["DATABASE_URL"] = database
    assert cli("upgrade", "--env=test", env=env).returncode == 0
    created = subprocess.run(
        [sys.executable, "main.py", "createsuperuser", "--env=test", "--username", "ops"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert asyncio.run(_mfa_rows(database, enrol=True)) == (True, "x", 1, 1)

    reset = cli("reset-mfa", "ops", "--env=test", env=env)
    assert reset.returncode == 0, reset.stderr
    assert "MFA of 'ops' reset" in reset.stdout
    assert asyncio.run(_mfa_rows(database, enrol=False)) == (False, None, 0, 0)

    again = cli("reset-mfa", "ops", "--env=test", env=env)
    assert again.returncode == 0, again.stderr
    assert "has no MFA to reset" in again.stdout

    missing = cli("reset-mfa", "nobody", "--env=test", env=env)
    assert missing.returncode == 1
    assert missing.stderr == "error: no user 'nobody'\n"
    assert "Traceback" not in missing.stderr + missing.stdout
