"""`TEST_SCOPE=servers` (CI's PostgreSQL and MariaDB runs) leaves out exactly the tests that
reach neither the database nor the cache under test (tests/support/scope.py); unset, nothing
is left out. Checked by collecting real test files in a subprocess, as CI runs them."""

from __future__ import annotations

import subprocess
import sys

from app.core.config import BASE_DIR
from tests.support.processes import clean_environ

FILES = (
    "tests/core/test_sql.py",  # plain SQL building (out) and queries on the app (in)
    "tests/core/cache/test_cache.py",  # its cache fixture reads TEST_REDIS_URL (in)
    "tests/core/security/test_captcha.py",  # make_settings: Redis when set (in)
    "tests/core/security/test_totp.py",  # pure functions (out)
)


def collect(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *FILES],
        cwd=BASE_DIR,
        env={**clean_environ(), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def collected(**env: str) -> set[str]:
    result = collect(**env)
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


SERVERS = {
    "TEST_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    "TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_the_server_runs_keep_what_reaches_a_server_and_only_that() -> None:
    everything = collected(**SERVERS)
    kept = collected(**SERVERS, TEST_SCOPE="servers")
    left_out = everything - kept
    assert kept < everything
    files = {test.split("::")[0] for test in left_out}
    assert files == {"tests/core/test_sql.py", "tests/core/security/test_totp.py"}, files
    assert not any(test.startswith("tests/core/security/test_totp.py") for test in kept)
    in_kept = {test.split("::")[0] for test in kept}
    assert {"tests/core/cache/test_cache.py", "tests/core/security/test_captcha.py"} <= in_kept
    # test_sql: the app's queries stay, the pure SQL building goes.
    assert "tests/core/test_sql.py" in in_kept
    assert "tests/core/test_sql.py::test_building_one_makes_no_in_list" in left_out


def test_unset_leaves_nothing_out_and_a_typo_is_refused() -> None:
    assert collected() == collected(**SERVERS)
    typo = collect(TEST_SCOPE="server")
    assert typo.returncode != 0
    assert "TEST_SCOPE='server'" in typo.stdout + typo.stderr
