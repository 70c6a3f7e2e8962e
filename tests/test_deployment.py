"""Deployment files (Dockerfile, compose files, nginx, systemd), checked without Docker.

No engine, no network: the files are parsed and compared with the settings and the CLI, so a
renamed setting or a changed default breaks a test here instead of a production deploy.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app.core.config import BASE_DIR, Settings
from main import cli

COMPOSE_FILES = ("docker-compose.yaml", "docker-compose.mysql.yaml")
DOCKERFILE = BASE_DIR / "Dockerfile"
NGINX_CONF = BASE_DIR / "deploy" / "nginx.conf"
SYSTEMD_UNIT = BASE_DIR / "deploy" / "fastapiadmin.service"
APP_IMAGE = "fastapiadmin:latest"
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
# Variables for the interpreter, not for the app.
INTERPRETER_VARIABLES = re.compile(r"^PYTHON[A-Z_]*$")
MULTIPART_OVERHEAD = 64 * 1024
DEFAULT = {name: field.default for name, field in Settings.model_fields.items()}


def load_compose(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((BASE_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this project's image (the app and the one-shot migrate step)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == APP_IMAGE or "build" in service
    }


def without_interpolation(value: str) -> str:
    """`${NAME:?message}` and `${NAME:-default}` replaced by a placeholder value."""
    return re.sub(r"\$\{[^}]*\}", "placeholder", value)


def seconds(value: str) -> float:
    """A compose/systemd duration such as `40s`, `1m30s` or `40`, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|)", value.strip())
    assert parts, value
    return sum(float(number) * units[unit] for number, unit in parts)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_parses_and_every_dependency_exists(name: str) -> None:
    compose = load_compose(name)
    services = compose["services"]
    for service_name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{service_name} depends on unknown {dependency}"
    for volume in (v for s in services.values() for v in s.get("volumes", [])):
        source = volume.split(":", 1)[0]
        if not source.startswith("."):
            assert source in compose["volumes"], f"undeclared volume {source}"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_runs_migrations_once_before_the_app(name: str) -> None:
    services = load_compose(name)["services"]
    migrate, app = services["migrate"], services["app"]
    command = " ".join(migrate["command"])
    assert "python main.py upgrade --env=prod && python main.py init --env=prod" in command
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for dependency, condition in app["depends_on"].items():
        if dependency != "migrate":
            assert condition == {"condition": "service_healthy"}
    # Docker's default is 10 s: shorter than the app's graceful shutdown.
    assert seconds(app["stop_grace_period"]) > DEFAULT["graceful_shutdown_timeout"]
    assert app["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_passes_only_real_settings_with_valid_urls(name: str) -> None:
    compose = load_compose(name)
    services = app_services(compose)
    assert set(services) == {"migrate", "app"}
    for service_name, service in services.items():
        environment = service["environment"]
        assert isinstance(environment, dict), "use the NAME: value form"
        unknown = set(environment) - SETTING_NAMES
        assert not unknown, f"{name} {service_name}: not settings: {sorted(unknown)}"
        assert service["env_file"] == "env/.env.prod"
        url = make_url(without_interpolation(environment["DATABASE_URL"]))
        assert url.drivername in ("postgresql+asyncpg", "mysql+asyncmy")
        assert url.host in compose["services"]
        assert without_interpolation(environment["REDIS_URL"]).startswith("redis://")
        assert make_url(without_interpolation(environment["REDIS_URL"])).host in compose["services"]
        # Only nginx is a trusted proxy.
        nginx_address = compose["services"]["nginx"]["networks"]["backend"]["ipv4_address"]
        assert environment["TRUSTED_PROXIES"] == nginx_address


def test_dockerfile_runs_production_start_as_a_fixed_non_root_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "multi-stage build"
    final = text[text.rfind("\nFROM ") :]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "a fixed numeric uid, so volumes can be prepared for it"
    assert "build-essential" not in final and "gcc" not in final
    cmd = re.findall(r"^CMD\s+(\[.*\])\s*$", final, flags=re.MULTILINE)
    assert cmd, "exec-form CMD, so that SIGTERM reaches the server, not a shell"
    argv = json.loads(cmd[-1])
    assert argv[:3] == ["python", "main.py", "run"]
    assert "--env=prod" in argv
    assert re.search(r"^STOPSIGNAL\s+SIGTERM", final, flags=re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*/api/v1/health/live", final, flags=re.MULTILINE | re.DOTALL)
    for variable in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert variable in final
    # Every path the image copies exists (a rename would only show at `docker build`).
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            assert (BASE_DIR / source).exists(), f"COPY {source}: no such path"


def test_dockerignore_keeps_secrets_and_history_out_of_the_image() -> None:
    ignored = (BASE_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for entry in (".git", "data", "env/.env*", ".venv*"):
        assert entry in ignored


def test_systemd_unit_passes_only_real_settings_and_outwaits_the_graceful_shutdown() -> None:
    text = SYSTEMD_UNIT.read_text(encoding="utf-8")
    names: set[str] = set()
    for line in re.findall(r"^Environment=(.+)$", text, flags=re.MULTILINE):
        names.update(item.split("=", 1)[0] for item in line.split())
    assert names
    unknown = {n for n in names if not INTERPRETER_VARIABLES.match(n)} - SETTING_NAMES
    assert not unknown, f"not settings: {sorted(unknown)}"
    exec_start = re.search(r"^ExecStart=(.+)$", text, flags=re.MULTILINE)
    assert exec_start and "main.py run --env=prod" in exec_start.group(1)
    assert not re.search(r"^ExecStartPre=", text, flags=re.MULTILINE), (
        "migrations are a deploy step, not a per-host start step"
    )
    stop = re.search(r"^TimeoutStopSec=(.+)$", text, flags=re.MULTILINE)
    assert stop and seconds(stop.group(1)) > DEFAULT["graceful_shutdown_timeout"]
    for directive in ("User=", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillSignal=SIGTERM"):
        assert re.search(rf"^{directive}", text, flags=re.MULTILINE), directive
    assert not re.search(r"^User=root$", text, flags=re.MULTILINE)


def nginx_size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, value
    return (
        int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    )


def test_nginx_accepts_the_largest_upload_the_app_accepts() -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    sizes = re.findall(r"^\s*client_max_body_size\s+(\S+);", text, flags=re.MULTILINE)
    assert len(sizes) == 1
    limit = nginx_size(sizes[0])
    assert limit >= DEFAULT["file_max_size"] + MULTIPART_OVERHEAD
    assert limit >= DEFAULT["import_max_bytes"] + MULTIPART_OVERHEAD


def test_nginx_forwards_client_and_request_id_and_hides_metrics() -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert re.search(rf"proxy_set_header\s+{header}\s", text), header
    assert re.search(r"^\s*server_tokens\s+off;", text, flags=re.MULTILINE)
    assert re.search(r"^\s*gzip\s+off;", text, flags=re.MULTILINE)
    assert re.search(r"location\s+=\s+/metrics\s*\{\s*(access_log off;\s*)?deny all;", text)
    # Below uvicorn's keep-alive (5 s in main.py), or nginx reuses connections being closed.
    keepalive = re.search(r"upstream\s+\w+\s*\{[^}]*keepalive_timeout\s+(\d+)s;", text)
    assert keepalive and int(keepalive.group(1)) < 5


def test_run_help_lists_the_production_options() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--workers", "--env", "--host", "--port"):
        assert option in result.output
