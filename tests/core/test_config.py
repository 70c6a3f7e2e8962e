"""Settings: defaults, normalisation, and one clear line naming the setting on bad input."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from app.core import config
from app.core.config import ConfigError, load_settings
from app.core.modules import read_module_settings

STRONG = "kP3-vZ8qL1xN7wR2tY5uB9mC4dF6gH0jS_eA"


@pytest.fixture(autouse=True)
def _no_env_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "ENV_DIR", tmp_path / "env")
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CORS_ORIGINS", "WORKERS"):
        monkeypatch.delenv(name, raising=False)


def test_default_is_sqlite_file_in_data_dir_and_in_process_cache(tmp_path: Path) -> None:
    settings = load_settings("dev", data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/fastapiadmin.db"
    assert settings.db_dialect == "sqlite"
    assert settings.redis_url == ""
    assert settings.docs_on is True
    assert settings.migrate_on_start is True


def test_dev_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings("dev", data_dir=tmp_path).secret
    second = load_settings("dev", data_dir=tmp_path).secret
    assert first == second
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("mariadb://root@db:3306/app", "mysql+asyncmy://root@db:3306/app"),
        ("mysql+asyncmy://root@db/app", "mysql+asyncmy://root@db/app"),
        # The guide's URL (issue 15): aiomysql's scheme, the same database on our driver.
        (
            "mysql+aiomysql://u:p@db:3306/app?charset=utf8mb4",
            "mysql+asyncmy://u:p@db:3306/app?charset=utf8mb4",
        ),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_is_normalised_to_the_async_driver(given: str, expected: str) -> None:
    assert load_settings("test", database_url=given).database_url == expected


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"database_url": "oracle://x/y"}, "DATABASE_URL"),
        ({"database_url": "not a url"}, "DATABASE_URL"),
        ({"redis_url": "http://cache:6379"}, "REDIS_URL"),
        ({"db_pool_size": 0}, "DB_POOL_SIZE"),
        ({"port": 70000}, "PORT"),
        ({"log_level": "LOUD"}, "LOG_LEVEL"),
        ({"trusted_proxies": "10.0.0.1,not-an-ip"}, "TRUSTED_PROXIES"),
        ({"cors_origins": "admin.example.com"}, "CORS_ORIGINS"),
        ({"cors_origins": "*"}, "CORS_ORIGINS"),  # '*' with credentials
        ({"workers": 2}, "WORKERS"),  # more than one process needs Redis
    ],
)
def test_invalid_setting_fails_with_one_line_naming_it(
    overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings("test", **overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {setting}"), message


def test_several_workers_are_allowed_with_redis() -> None:
    settings = load_settings("test", workers=4, redis_url="redis://127.0.0.1:6379/0")
    assert settings.workers == 4


@pytest.mark.parametrize(
    "secret",
    [None, "short-but-random-8Yq", "please-change-this-secret-key-in-production", "a" * 40],
)
def test_production_refuses_missing_short_known_or_low_entropy_secret(secret: str | None) -> None:
    overrides = {"secret_key": secret} if secret else {}
    with pytest.raises(ConfigError, match=r"^invalid setting SECRET_KEY: "):
        load_settings("prod", **overrides)


def test_production_defaults_are_closed() -> None:
    """docs/security-checklist.md §0 #15 (no `*` CORS with credentials), ASVS 13.4.5 (docs off),
    API8."""
    settings = load_settings("prod", secret_key=STRONG)
    assert settings.docs_on is False
    assert settings.migrate_on_start is False
    assert settings.json_logs is True
    assert settings.cors_origins == []
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings("prod", secret_key=STRONG, cors_origins="*", cors_allow_credentials=False)
    assert load_settings("prod", secret_key=STRONG, docs_enabled=True).docs_on is True


def test_env_file_is_read_and_environment_variables_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / ".env.test").write_text("APP_NAME=From File\nDB_POOL_SIZE=7\n", encoding="utf-8")
    monkeypatch.setattr(config, "ENV_DIR", env_dir)
    monkeypatch.setenv("DB_POOL_SIZE", "9")
    settings = load_settings("test")
    assert settings.app_name == "From File"
    assert settings.db_pool_size == 9


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^invalid setting APP_ENV"):
        load_settings("staging")


def test_csv_lists_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, https://b.example.com/")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    settings = load_settings("test")
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    """The core settings and every local module's own (`ModuleSpec.settings`), each with the
    prefix its environment variables carry."""
    from app.core.modules import load_module, local_modules

    found: list[tuple[str, type[BaseSettings]]] = [("", config.Settings)]
    for name in local_modules():
        cls = load_module(name).settings
        if cls is not None:
            found.append((str(cls.model_config.get("env_prefix", "")).upper(), cls))
    return found


def reader_of(name: str) -> tuple[type[BaseSettings], str] | None:
    """The settings class that reads environment variable `name`, and its field."""
    for prefix, cls in settings_classes():
        if prefix and name.startswith(prefix) and name[len(prefix) :].lower() in cls.model_fields:
            return cls, name[len(prefix) :].lower()
        if not prefix and name.lower() in cls.model_fields:
            return cls, name.lower()
    return None


def test_env_example_documents_every_setting_and_each_is_read() -> None:
    """Every setting of the core and of the modules is documented, and every documented one
    is read by the core or a module (a setting moved to a module keeps its name)."""
    example = (config.BASE_DIR / "env" / ".env.example").read_text(encoding="utf-8")
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].strip().isupper()
    }
    names = {
        prefix + field.upper() for prefix, cls in settings_classes() for field in cls.model_fields
    }
    missing = names - documented
    assert not missing, f"env/.env.example does not document: {sorted(missing)}"
    unread = sorted(name for name in documented if reader_of(name) is None)
    assert not unread, f"documented but read by no module or the core: {unread}"
    configuration = (config.BASE_DIR / "docs" / "configuration.md").read_text(encoding="utf-8")
    unread = sorted(
        name
        for name in set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", configuration)) & documented
        if reader_of(name) is None
    )
    assert not unread, unread


def documented_settings() -> list[tuple[str, str]]:
    """Every `# NAME=value` line of env/.env.example: the setting and its documented format."""
    example = (config.BASE_DIR / "env" / ".env.example").read_text(encoding="utf-8")
    found = []
    for line in example.splitlines():
        name, sep, value = line.lstrip("# ").partition("=")
        if sep and name.isupper() and name.replace("_", "").isalnum():
            found.append((name, value.strip()))
    return found


@pytest.mark.parametrize(("name", "value"), documented_settings(), ids=lambda v: str(v))
def test_each_documented_setting_is_read_from_the_environment_in_its_documented_format(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """FILE_ALLOWED_TYPES in the documented `png,jpg,...` form used to be refused, and an empty
    `HSTS_ENABLED=` too: every list setting is comma-separated, every empty optional unset."""
    monkeypatch.setenv(name, value)
    settings = load_settings("test")
    if name == "APP_ENV":
        return
    reader = reader_of(name)
    assert reader is not None, f"{name} is read by no module or the core"
    cls, field = reader
    fields: dict[str, Any] = dict(cls.model_fields)
    if cls is not config.Settings:  # a module's own settings (ModuleSpec), same format rules
        read = getattr(read_module_settings(cls, settings), field)
        if value == "":  # empty is unset: the default, never a path "."
            assert read == fields[field].default, (name, read)
            return
    else:
        read = getattr(settings, field)
    if isinstance(read, list):
        assert read == [item.strip() for item in value.split(",") if item.strip()]
    elif value == "":
        if name == "SECRET_KEY":  # empty is unset: a key is generated, never ""
            assert len(settings.secret) >= config.MIN_SECRET_LENGTH
        elif fields[field].default is None:
            assert read is None, (name, read)

    elif hasattr(read, "get_secret_value"):
        assert read.get_secret_value() == value
    else:
        assert str(read).lower().removesuffix(".0") == value.lower(), (name, read)


def test_every_list_setting_takes_the_same_comma_separated_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "FILE_ALLOWED_TYPES": ("png, pdf", ["png", "pdf"]),
        "MODULES_DISABLED": ("blog", ["blog"]),
        "METRICS_ALLOWED_IPS": ("10.0.0.0/8,::1/128", ["10.0.0.0/8", "::1/128"]),
        "TRUSTED_PROXIES": ("", []),
    }
    lists = {
        name.upper()
        for name, field in config.Settings.model_fields.items()
        if getattr(field.annotation, "__origin__", None) is list
    }
    assert {"FILE_ALLOWED_TYPES", "CORS_ORIGINS", "JWT_RETIRED_KEYS", "MODULES"} <= lists
    for name, (text, _) in values.items():
        monkeypatch.setenv(name, text)
    settings = load_settings("test")
    for name, (_, expected) in values.items():
        assert getattr(settings, name.lower()) == expected


def test_a_list_setting_given_as_json_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`FILE_ALLOWED_TYPES=["png","pdf"]` used to be read as the items `["png"` and `"pdf"]`:
    no upload matched and nothing said why. Every list setting refuses it, naming itself."""
    lists = [
        name.upper()
        for name, field in config.Settings.model_fields.items()
        if getattr(field.annotation, "__origin__", None) is list
    ]
    for name in lists:
        monkeypatch.setenv(name, '["a", "b"]')
        with pytest.raises(config.ConfigError, match=f"{name}: .*comma-separated"):
            load_settings("test")
        monkeypatch.delenv(name)
