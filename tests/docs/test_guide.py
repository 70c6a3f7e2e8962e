"""docs/guide.md works as written: its steps run in a scratch copy of the repository (settings
copied from the starter, `revision` on a fresh database, the server on a free port, the
documented calls with curl), its settings files name real, documented settings, and its MySQL
URLs (`mysql+aiomysql://` and `mysql+asyncmy://`) reach the same MariaDB database.

A FastapiAdmin user following the original project's guide tripped on each of these steps: no
`env/.env.dev.example`, no `requirements.txt`, a traceback from `revision`, `mysql+aiomysql`
refused, port 8000 instead of 8001, `/api/v1/examples` 404 on a default install (issue 15).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core import config
from app.core.config import BASE_DIR, ConfigError, load_settings
from app.core.modules import is_enabled, load_modules
from tests.support.databases import ONCE_PER_CI, server_url, temporary_database
from tests.support.processes import clean_environ
from tests.support.repo_copy import copy_repository
from tests.support.tcp_proxy import free_port

GUIDE = BASE_DIR / "docs" / "guide.md"
ENV_DIR = BASE_DIR / "env"
STARTERS = (".env.dev.example", ".env.prod.example")
ADMIN_PASSWORD = "guide-Passphrase-2026!"
STRONG = "kP3-vZ8qL1xN7wR2tY5uB9mC4dF6gH0jS_eA"
DOCUMENTED_PORT = 8001


def guide_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def guide_line(command: str) -> str:
    """`command`, asserted to be a line of one of the guide's bash blocks, as written there."""
    lines = [line.strip() for block in guide_blocks() for line in block.splitlines()]
    assert command in lines, f"docs/guide.md no longer shows `{command}`"
    return command


def assigned(path: Path) -> dict[str, str]:
    """Every `NAME=value` of a settings file, commented out (`# NAME=`) or not."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.lstrip("# ").partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            found[name] = value.strip()
    return found


def all_settings() -> set[str]:
    """The core's settings and those of every module (`ModuleSpec.settings`, with its prefix)."""
    names = {name.upper() for name in config.Settings.model_fields}
    for spec in load_modules(load_settings("test", modules_disabled=[])):
        if spec.settings is not None:
            prefix = str(spec.settings.model_config.get("env_prefix", ""))
            names |= {f"{prefix}{name}".upper() for name in spec.settings.model_fields}
    return names


def compose_variables() -> set[str]:
    """The `${NAME...}` variables the compose files take from `--env-file env/.env.prod`."""
    text = "".join(path.read_text() for path in BASE_DIR.glob("docker-compose*.yaml"))
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))


# ------------------------------------------------------------------------ settings files --


def test_env_example_documents_exactly_the_settings_that_exist() -> None:
    """env/.env.example is the one reference: every core and module setting, and nothing else
    (a renamed or moved setting cannot leave a stale line behind)."""
    documented = set(assigned(ENV_DIR / ".env.example"))
    settings = all_settings()
    assert not settings - documented, f"undocumented: {sorted(settings - documented)}"
    assert not documented - settings, f"documented, no such setting: {documented - settings}"


@pytest.mark.parametrize("starter", STARTERS)
def test_each_starter_names_only_real_documented_settings(starter: str) -> None:
    names = set(assigned(ENV_DIR / starter))
    assert names, starter
    unknown = names - all_settings() - compose_variables()
    assert not unknown, f"env/{starter} names what is neither a setting nor a compose variable"
    documented = set(assigned(ENV_DIR / ".env.example"))
    assert not (names - compose_variables()) - documented


@pytest.fixture
def env_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty env/ folder for load_settings, and no setting from this process's environment."""
    for name in all_settings():
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "env"
    folder.mkdir()
    monkeypatch.setattr(config, "ENV_DIR", folder)
    return folder


def test_the_dev_starter_copied_as_written_gives_port_8001_and_the_samples(
    env_dir: Path, tmp_path: Path
) -> None:
    guide_line("cp env/.env.dev.example env/.env.dev")
    shutil.copy(ENV_DIR / ".env.dev.example", env_dir / ".env.dev")
    settings = load_settings("dev", data_dir=tmp_path)
    assert settings.port == DOCUMENTED_PORT
    assert settings.db_dialect == "sqlite" and settings.redis_url == ""
    assert is_enabled(settings, "example") and is_enabled(settings, "blog")


def test_the_prod_starter_must_be_filled_in_then_keeps_the_samples_off(
    env_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guide_line("cp env/.env.prod.example env/.env.prod")
    shutil.copy(ENV_DIR / ".env.prod.example", env_dir / ".env.prod")
    with pytest.raises(ConfigError, match=r"^invalid setting SECRET_KEY: required"):
        load_settings("prod")
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings("prod")
    assert settings.port == DOCUMENTED_PORT and settings.host != "127.0.0.1"
    assert not is_enabled(settings, "example") and not is_enabled(settings, "blog")
    monkeypatch.setenv("MODULES", "*,example")  # asked for by name
    assert is_enabled(load_settings("prod"), "example")


def test_requirements_install_the_project_and_repeat_no_version() -> None:
    """`pip install -r requirements.txt` installs the project; its pins stay in pyproject."""
    guide_line("pip install -r requirements.txt")
    lines = (BASE_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
    entries = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert entries == ["-e ."]  # the project next to it, with pyproject.toml's dependencies
    assert (BASE_DIR / "pyproject.toml").read_text().count('name = "fastapiadmin"') == 1


# ---------------------------------------------------------------- the guide, as written --


def _guide_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A user's shell: no test or settings variables of this run, no PYTHONPATH."""
    env = {k: v for k, v in clean_environ().items() if k not in all_settings()}
    env.pop("PYTHONPATH", None)
    # Where the user edits env/.env.dev, the test sets the same names in the environment.
    env.update(PORT=str(port), INIT_ADMIN_PASSWORD=ADMIN_PASSWORD, HOME=str(tmp_path))
    return env


def _shell(repo: Path, script: str, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 0, f"{script}\nexit {result.returncode}\n{output}"
    return result.stdout


def _documents(text: str) -> list[Any]:
    """The JSON documents curl printed one after the other."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while index < len(text.rstrip()):
        document, index = decoder.raw_decode(text, index)
        found.append(document)
        index += len(text[index:]) - len(text[index:].lstrip())
    return found


def _wait_ready(process: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/api/v1/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the server did not become ready (exit code {process.poll()})")


@ONCE_PER_CI  # SQLite in the scratch copy, whatever the suite's database
@pytest.mark.timeout(900)
def test_the_guide_runs_as_written_in_a_scratch_copy(tmp_path: Path) -> None:
    repo = copy_repository(tmp_path / "repo")
    port = free_port()
    env = _guide_env(tmp_path, port)
    python = str(Path(sys.executable).parent)
    env["PATH"] = f"{python}{os.pathsep}{env.get('PATH', '')}"  # this run's venv is `python`

    # 1. Install: `test_requirements_install_the_project_and_repeat_no_version` (building the
    # project's wheel needs the network or `wheel`; this run's environment has the project).

    # 2. Settings.
    _shell(repo, guide_line("cp env/.env.dev.example env/.env.dev"), env)
    assert (repo / "env" / ".env.dev").read_text() == (ENV_DIR / ".env.dev.example").read_text()

    # 3. `revision` on the fresh database: migrated first, then nothing to write, in one line.
    line = guide_line('python main.py revision "Initial migration" --env=dev')
    result = subprocess.run(
        ["bash", "-c", line], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stdout.startswith("the database was empty: upgraded to "), result.stdout
    assert result.stderr.count("\n") == 1 and "nothing to migrate" in result.stderr
    assert not list((repo / "migrations" / "versions").glob("*initial_migration*"))

    # 4. The server, on the port the environment gives (the guide's 8001 is the default).
    line = guide_line("python main.py run --env=dev")
    server = subprocess.Popen(
        ["bash", "-c", f"exec {line}"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_ready(server, f"http://127.0.0.1:{port}")
        # 5. The calls of the guide's block, with curl, against that port.
        block = next(block for block in guide_blocks() if "/api/v1/examples" in block)
        assert f"127.0.0.1:{DOCUMENTED_PORT}" in block
        script = block.replace(f"127.0.0.1:{DOCUMENTED_PORT}", f"127.0.0.1:{port}")
        script = re.sub(r"export ADMIN_PASSWORD=.*\n", "", script)
        answers = _shell(repo, script, {**env, "ADMIN_PASSWORD": ADMIN_PASSWORD})
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert "Traceback" not in output, output
    ready, listed, created = _documents(answers)
    assert ready["code"] == 200, ready
    assert listed["code"] == 200 and listed["data"]["items"] == [], listed
    assert created["code"] == 201 and created["data"]["name"] == "first", created


def test_the_default_port_is_8001_everywhere() -> None:
    """The code's default, the docs, the image, nginx and the console's dev proxy agree."""
    assert config.Settings.model_fields["port"].default == DOCUMENTED_PORT
    for path in (
        "Dockerfile",
        "deploy/nginx.conf",
        "docs/deployment.md",
        "README.md",
        "console/vite.config.ts",
        "env/.env.example",
    ):
        text = (BASE_DIR / path).read_text(encoding="utf-8")
        assert str(DOCUMENTED_PORT) in text, path
        assert not re.search(r"(?<![\d.])8000(?!\d)", text), f"{path} still names port 8000"


# ------------------------------------------------------------------ MySQL URLs, MariaDB --


@pytest.mark.skipif(
    (server_url() or make_url("sqlite://")).get_backend_name() != "mysql",
    reason="needs TEST_DATABASE_URL on MariaDB / MySQL",
)
def test_aiomysql_and_asyncmy_urls_reach_the_same_mariadb_database(tmp_path: Path) -> None:
    guide_line("DATABASE_URL=mysql+aiomysql://user:password@127.0.0.1:3306/fastapiadmin")
    guide_line("DATABASE_URL=mysql+asyncmy://user:password@127.0.0.1:3306/fastapiadmin")
    env = _guide_env(tmp_path, free_port())
    env["DATA_DIR"] = str(tmp_path / "data")
    with temporary_database(tmp_path, "guide") as url:

        def cli(driver: str, *args: str) -> str:
            database = make_url(url).set(drivername=driver).render_as_string(hide_password=False)
            result = subprocess.run(
                [sys.executable, "main.py", *args, "--env=dev"],
                cwd=BASE_DIR,
                env={**env, "DATABASE_URL": database},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr
            return result.stdout

        assert cli("mysql+aiomysql", "upgrade").startswith("upgraded to ")
        for driver in ("mysql+asyncmy", "mysql+aiomysql"):
            assert "status: up to date" in cli(driver, "current"), driver
