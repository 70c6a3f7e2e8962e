"""Every command-line failure is one line saying what happened and what to do, never a
traceback; each test runs the real command in a subprocess (docs/cli.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import migrations
from app.core.config import BASE_DIR
from tests.support.databases import temporary_database
from tests.support.tcp_proxy import free_port

STRONG = "Zq8-wP2xL5nV9cB1mK7jH3gF6dS4aT0yR_uE"


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=BASE_DIR,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def one_line_failure(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The failure's single line (asserting exit code, one line, no traceback)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == code, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "WORKERS", "APP_ENV", "MODULES"):
        clean.pop(name, None)
    clean["DATA_DIR"] = str(tmp_path / "data")
    clean["APP_ENV"] = "test"
    return clean


@pytest.fixture
def database(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """A fresh, empty database (SQLite, or the server under test) in the CLI's environment."""
    with temporary_database(tmp_path, "cli") as url:
        env["DATABASE_URL"] = url
        yield url


HEAD = ", ".join(sorted(migrations.heads()))


# ------------------------------------------------------------------------- migrations --


def test_revision_and_check_on_a_fresh_database_say_to_upgrade_first(
    env: dict[str, str], database: str
) -> None:
    """Where `run` does not migrate by itself (prod, AUTO_MIGRATE=false), `revision` on a fresh
    database says to upgrade first, in one line."""
    versions = sorted((BASE_DIR / "migrations" / "versions").glob("*.py"))
    env["AUTO_MIGRATE"] = "false"
    line = one_line_failure(cli("revision", "add invoices", env=env))
    assert "run `python main.py upgrade` first" in line
    line = one_line_failure(cli("check", env=env))
    assert "run `python main.py upgrade` first" in line
    assert sorted((BASE_DIR / "migrations" / "versions").glob("*.py")) == versions


def test_revision_on_a_fresh_dev_database_brings_it_to_head_first(
    env: dict[str, str], database: str
) -> None:
    """The guide's `python main.py revision "Initial migration"` on a fresh database used to
    stop (an Alembic traceback in the original); where `run` migrates by itself it upgrades
    first, then writes nothing when the models and the migrations agree."""
    versions = sorted((BASE_DIR / "migrations" / "versions").glob("*.py"))
    result = cli("revision", "Initial migration", env=env)
    line = one_line_failure(result)
    assert result.stdout == f"the database was empty: upgraded to {HEAD} first\n"
    assert "nothing to migrate, no file written" in line
    assert cli("current", env=env).stdout.count("up to date") == 1
    assert sorted((BASE_DIR / "migrations" / "versions").glob("*.py")) == versions


def test_unknown_revisions_are_one_line(env: dict[str, str], database: str) -> None:
    line = one_line_failure(cli("upgrade", "nope", env=env))
    assert "unknown revision 'nope'" in line and "history" in line
    assert cli("upgrade", env=env).returncode == 0
    line = one_line_failure(cli("downgrade", "nope", env=env))
    assert "unknown revision 'nope'" in line


def test_upgrade_and_downgrade_minus_one_name_the_revision_reached(
    env: dict[str, str], database: str
) -> None:
    """`downgrade -1`, as the README and --help write it, is a revision, not an option."""
    upgraded = cli("upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    # Nothing else: no Alembic lines, no MariaDB driver notes ("Name 'pk_x' ignored").
    assert upgraded.stdout == f"upgraded to {HEAD}\n"
    assert upgraded.stderr == ""
    downgraded = cli("downgrade", "-1", env=env)
    assert downgraded.returncode == 0, downgraded.stderr
    previous = downgraded.stdout.strip().removeprefix("downgraded to ")
    assert previous and previous != HEAD
    assert downgraded.stdout == f"downgraded to {previous}\n"
    assert cli("upgrade", env=env).stdout == f"upgraded to {HEAD}\n"


def test_revision_that_would_be_empty_writes_nothing(env: dict[str, str], database: str) -> None:
    assert cli("upgrade", env=env).returncode == 0
    versions = sorted((BASE_DIR / "migrations" / "versions").glob("*.py"))
    line = one_line_failure(cli("revision", "nothing changed", env=env))
    assert "nothing to migrate, no file written" in line and "--empty" in line
    assert sorted((BASE_DIR / "migrations" / "versions").glob("*.py")) == versions


def test_upgrade_in_production_needs_no_secret_key(env: dict[str, str], database: str) -> None:
    """Migrations sign nothing: `upgrade --env=prod` without SECRET_KEY works; `run` still
    refuses (tests/test_main.py)."""
    result = cli("upgrade", "--env=prod", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"upgraded to {HEAD}\n"
    assert cli("current", "--env=prod", env=env).returncode == 0


def test_init_on_an_empty_database_says_to_upgrade(env: dict[str, str], database: str) -> None:
    line = one_line_failure(cli("init", env=env))
    assert "run `python main.py upgrade` first" in line


# ------------------------------------------------------------------------ operators --


def test_weak_init_admin_password_names_the_setting(env: dict[str, str], database: str) -> None:
    assert cli("upgrade", env=env).returncode == 0
    env["INIT_ADMIN_PASSWORD"] = "short"
    line = one_line_failure(cli("init", "--env=dev", env=env))
    assert "INIT_ADMIN_PASSWORD" in line


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("with space", None, "username"),
        ("x", None, "username"),
        ("u" * 100, None, "username"),
        ("valid_name", "not-an-email", "email"),
    ],
    ids=["space", "one-character", "100-characters", "bad-email"],
)
def test_createsuperuser_validates_as_the_api_does(
    env: dict[str, str], database: str, username: str, email: str | None, field: str
) -> None:
    """The CLI calls the API's own `UserCreate` schema: what the API refuses, it refuses."""
    assert cli("upgrade", env=env).returncode == 0
    args = ["createsuperuser", "--username", username, "--name", "Ops"]
    if email:
        args += ["--email", email]
    line = one_line_failure(cli(*args, env=env))
    assert f"{field} " in line
    # In the API's words: never a pattern, pydantic's wording or the value given.
    for wording in ("String should", "pattern", "^[", "value is not", username, email or "@@"):
        assert wording not in line, line


def test_createsuperuser_refuses_a_case_variant_with_a_conflict_line(
    env: dict[str, str], database: str
) -> None:
    assert cli("upgrade", env=env).returncode == 0
    assert cli("createsuperuser", "--username", "Operator", env=env).returncode == 0
    line = one_line_failure(cli("createsuperuser", "--username", "operator", env=env))
    assert "already exists" in line
    assert "IntegrityError" not in line


def test_createsuperuser_without_username_does_not_prompt(env: dict[str, str]) -> None:
    line = one_line_failure(cli("createsuperuser", env=env), code=2)
    assert "--username" in line


def test_usage_mistakes_are_one_line(env: dict[str, str]) -> None:
    assert "No such command 'nope'" in one_line_failure(cli("nope", env=env), code=2)
    assert "--bogus" in one_line_failure(cli("downgrade", "--bogus", env=env), code=2)


def test_help_shows_whole_option_names_on_a_narrow_terminal(env: dict[str, str]) -> None:
    env["COLUMNS"] = "50"
    result = cli("generate", "--help", env=env)
    assert result.returncode == 0
    for option in ("--down-revision", "--from-table", "--rev-id", "--dry-run", "--force"):
        assert option in result.stdout, result.stdout


# ------------------------------------------------------------------- start-up checks --


def test_a_busy_port_is_reported_first_and_nothing_is_migrated(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_failure(cli("run", "--port", str(port), env=env))
    assert f"127.0.0.1:{port}" in line and "--port" in line
    assert not (Path(env["DATA_DIR"]) / "fastapiadmin.db").exists()


def test_production_refuses_to_start_without_redis_naming_it(
    env: dict[str, str], database: str
) -> None:
    """docs/deployment.md: with REDIS_URL set and Redis down, `run` and `worker` stop at once
    with one line naming the address (as for a dead database), never start to answer 503."""
    dead = free_port()
    env.update(SECRET_KEY=STRONG, REDIS_URL=f"redis://:hunter2-password@127.0.0.1:{dead}/0")
    for args in (["run", "--env=prod", "--port", str(free_port())], ["worker", "--env=prod"]):
        line = one_line_failure(cli(*args, env=env))
        assert f"127.0.0.1:{dead}" in line and "REDIS_URL" in line
        assert "hunter2" not in line


def test_worker_accepts_the_default_modules(env: dict[str, str]) -> None:
    """The default MODULES is `*`: the scheduler is enabled, so the worker goes on to its
    next check (here: Redis, which is not running on this port) instead of refusing."""
    env.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    line = one_line_failure(cli("worker", "--env=dev", env=env))
    assert "not enabled" not in line
    assert "cache unreachable" in line
    env["MODULES_DISABLED"] = "scheduler,example,blog"
    line = one_line_failure(cli("worker", "--env=dev", env=env), code=2)
    assert "scheduler" in line


def test_importing_an_export_names_the_missing_column_once(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """An export has no password column, so it cannot be imported as it is: the line says
    which column is missing, once (it used to repeat "password missing column" after it)."""
    assert cli("upgrade", env=env).returncode == 0
    assert cli("init", env=env).returncode == 0
    exported = tmp_path / "users.xlsx"
    assert cli("export-users", str(exported), env=env).returncode == 0
    line = one_line_failure(cli("import-users", str(exported), "--dry-run", env=env))
    assert "Missing column: password" in line
    assert line.count("password") == 1, line


def test_a_worker_s_schema_check_logs_no_alembic_plugin_lines(env: dict[str, str]) -> None:
    """Issue 14 item 10: each worker process of `run --env=prod --workers N` sets up logging,
    then its schema check imports Alembic, whose seven "setup plugin" lines were logged (by
    every worker). This runs that order in a process of its own."""
    script = (
        "from app.core.config import load_settings\n"
        "from app.core.logging import configure_logging\n"
        "configure_logging(load_settings('dev', log_level='INFO'))\n"
        "from app.core import migrations\n"
        "migrations.heads()\n"
        "import structlog; structlog.get_logger('probe').info('probe_line')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "probe_line" in output  # INFO lines are shown...
    assert "setup plugin" not in output, output  # ...but not Alembic's plugin lines


def test_a_list_setting_written_as_json_is_one_line_naming_it(env: dict[str, str]) -> None:
    env["FILE_ALLOWED_TYPES"] = '["png", "pdf"]'
    line = one_line_failure(cli("current", env=env), code=2)
    assert "FILE_ALLOWED_TYPES" in line and "comma-separated" in line, line
