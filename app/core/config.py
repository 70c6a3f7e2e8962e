"""Application settings, read from environment variables and optional `env/.env.<env>` files.

Every setting is documented in `env/.env.example`. Invalid configuration fails at start with one
line that names the setting (`ConfigError`), never with a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast, get_origin

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BASE_DIR = Path(__file__).resolve().parents[2]
ENV_DIR = BASE_DIR / "env"

Environment = Literal["dev", "test", "prod"]
Dialect = Literal["sqlite", "postgresql", "mysql"]

# Values that must never be a production SECRET_KEY: documentation placeholders and the usual
# defaults copied from tutorials.
KNOWN_WEAK_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "your-secret-key",
        "please-change-me",
        "please-change-this-secret-key-in-production",
        "replace-me-with-a-long-random-string-of-at-least-32-characters",
        "dev",
        "development",
        "test",
    }
)
MIN_SECRET_LENGTH = 32

# Accepted URL schemes and the async driver each one is normalised to, so that operators can
# paste the URL their database provider gives them.
_DRIVER_FOR_SCHEME: dict[str, str] = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
    # aiomysql is the driver other FastAPI guides name: the same MySQL/MariaDB, our driver.
    "mysql+aiomysql": "mysql+asyncmy",
    "mariadb+aiomysql": "mysql+asyncmy",
}

# The sample modules: enabled by default in dev and test, off in production unless asked for
# (MODULES naming them, or MODULES_DISABLED set explicitly, e.g. empty).
SAMPLE_MODULES = ("example", "blog")


class ConfigError(Exception):
    """Raised when the configuration is invalid; its message is one line naming the setting."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().startswith("["):  # read as items '["png"' and '"pdf"]', silently
            raise ValueError("is a list of comma-separated items (e.g. a,b), not JSON")
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """All runtime settings. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        frozen=True,
        # Lists are comma-separated text (`_from_text`), never JSON: one format for all.
        enable_decoding=False,
    )

    app_env: Environment = "dev"
    app_name: str = "FastapiAdmin"
    data_dir: Path = Path("data")

    # --- database -------------------------------------------------------------------------
    database_url: str = ""
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout: float = Field(default=3.0, gt=0, le=60)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    # A pooled connection idle longer than this is pinged before use (0: before every use).
    db_ping_after_idle: float = Field(default=1.0, ge=0, le=3600)
    db_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    db_statement_timeout: float = Field(default=15.0, gt=0, le=3600)
    db_lock_timeout: float = Field(default=5.0, gt=0, le=3600)
    # Attempts in all for a write the database broke as a deadlock or serialization failure
    # (app/core/retry.py); 1: no retry, the client gets the 409 at once.
    db_retry_attempts: int = Field(default=3, ge=1, le=10)
    db_echo: bool = False
    sqlite_busy_timeout: float = Field(default=5.0, gt=0, le=600)

    # --- cache / coordination -------------------------------------------------------------
    redis_url: str = ""
    cache_prefix: str = Field(default="fa:", min_length=1, max_length=64)
    redis_socket_timeout: float = Field(default=1.0, gt=0, le=60)
    redis_connect_timeout: float = Field(default=1.0, gt=0, le=60)
    cache_scan_limit: int = Field(default=100_000, ge=1000, le=10_000_000)

    # --- security -------------------------------------------------------------------------
    secret_key: SecretStr | None = None
    cors_origins: list[str] = []
    cors_allow_credentials: bool = True
    trusted_proxies: list[str] = []
    hsts_enabled: bool | None = None
    demo_mode: bool = False
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = Field(default="1200/minute", pattern=r"^\d+/(second|minute|hour)$")
    rate_limit_per_user: str = Field(default="600/minute", pattern=r"^\d+/(second|minute|hour)$")

    # --- authentication -------------------------------------------------------------------
    access_token_ttl: int = Field(default=900, ge=60, le=86400)
    session_idle_timeout: int = Field(default=1800, ge=60)
    session_absolute_timeout: int = Field(default=43200, ge=300)
    max_sessions_per_user: int = Field(default=10, ge=1, le=1000)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "fastapiadmin"
    jwt_audience: str = "fastapiadmin-api"
    jwt_key_id: str = Field(default="k1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    jwt_retired_keys: list[str] = []
    password_min_length: int = Field(default=8, ge=8, le=64)
    password_max_length: int = Field(default=128, ge=64, le=1024)
    password_require_classes: int = Field(default=0, ge=0, le=4)
    password_hash_memory_kib: int = Field(default=19456, ge=19456)
    password_hash_time_cost: int = Field(default=2, ge=2)
    password_hash_parallelism: int = Field(default=1, ge=1, le=16)
    password_hash_concurrency: int = Field(default=0, ge=0, le=256)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_failure_window: int = Field(default=900, ge=10)
    login_lockout_seconds: int = Field(default=300, ge=1)
    login_max_failures_per_ip: int = Field(default=50, ge=1)
    captcha_mode: Literal["off", "after_failures", "always"] = "after_failures"
    captcha_after_failures: int = Field(default=3, ge=1, le=100)
    captcha_ttl: int = Field(default=300, ge=30, le=3600)
    mfa_issuer: str = ""
    init_admin_password: SecretStr | None = None

    # --- files --------------------------------------------------------------------------
    file_storage: Literal["local", "s3"] = "local"
    file_dir: Path = Path("data/files")
    file_max_size: int = Field(default=10 * 1024 * 1024, ge=1024, le=5 * 1024**3)
    file_allowed_types: list[str] = [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "pdf",
        "txt",
        "csv",
        "xlsx",
        "docx",
        "zip",
    ]
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = ""
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_timeout: float = Field(default=10.0, gt=0, le=300)

    # --- audit and import/export ---------------------------------------------------------
    audit_enabled: bool = True
    audit_flush_interval: float = Field(default=1.0, gt=0, le=60)
    audit_batch_size: int = Field(default=200, ge=1, le=10000)
    audit_max_body_bytes: int = Field(default=16384, ge=0, le=1048576)
    # The purge job never deletes log rows younger than this, whatever its arguments or the
    # parameter log.retention_days say (an environment setting: no API can lower it).
    audit_min_retention_days: int = Field(default=30, ge=1, le=36500)
    import_max_rows: int = Field(default=10000, ge=1, le=1_000_000)
    import_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    # (The scheduler's SCHEDULER_* settings are its own: app/modules/scheduler/settings.py.)

    # --- metrics ------------------------------------------------------------------------
    metrics_enabled: bool = True
    # Client addresses (IPs or CIDR networks) that may read /metrics without a token.
    metrics_allowed_ips: list[str] = ["127.0.0.1/32", "::1/128"]
    metrics_token: SecretStr | None = Field(default=None, min_length=MIN_SECRET_LENGTH)

    # --- HTTP, docs, logging --------------------------------------------------------------
    docs_enabled: bool | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "console", "json"] = "auto"
    gzip_minimum_size: int = Field(default=1000, ge=0)
    health_check_timeout: float = Field(default=2.0, gt=0, le=30)
    # Seconds the response to a request with `Idempotency-Key` is kept for replay (docs/http.md).
    idempotency_ttl: float = Field(default=86400, gt=0, le=30 * 86400)

    # --- process --------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    graceful_shutdown_timeout: int = Field(default=20, ge=1, le=3600)
    auto_migrate: bool | None = None
    # `*`: every package under app/modules; dotted paths add modules from elsewhere.
    modules: list[str] = ["*"]
    # Modules left out even when `*` or a plugin would enable them. Unset: none in dev and
    # test, the sample modules in prod (`_check_consistency`).
    modules_disabled: list[str] = []
    # Also enable modules that installed packages declare (entry-point group
    # `fastapiadmin.modules`); off: only MODULES.
    module_plugins: bool = True
    # Mount /__test/* routes for fault-injection tests (app/core/testing.py); refused in prod.
    enable_test_routes: bool = False

    # ---------------------------------------------------------------------- validators --
    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """One reading of a setting given as text, whatever the setting: a list is
        comma-separated (`FILE_ALLOWED_TYPES=png,jpg`), and an empty value of a setting
        whose default is "not set" (`HSTS_ENABLED=`, `METRICS_TOKEN=`) means not set."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        field = cls.model_fields[info.field_name]
        if get_origin(field.annotation) is list:
            return _split_csv(value)
        if not value.strip() and field.default is None:
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies", "metrics_allowed_ips")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://admin.example.com")
        return [origin.rstrip("/") for origin in value]

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        if not value:
            return value  # filled from data_dir in the model validator
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL") from None
        driver = _DRIVER_FOR_SCHEME.get(url.drivername)
        if driver is None:
            raise ValueError(
                f"unsupported scheme {url.drivername!r}; use sqlite+aiosqlite, "
                "postgresql+asyncpg or mysql+asyncmy"
            )
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.database_url:
            db_file = (self.resolved_data_dir / "fastapiadmin.db").as_posix()
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{db_file}")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError(
                "CORS_ORIGINS: '*' cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
                "list the origins"
            )
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "WORKERS: more than one worker process needs REDIS_URL; the in-process cache "
                "cannot share sessions, revocations and rate limits between processes"
            )
        if self.session_absolute_timeout < self.session_idle_timeout:
            raise ValueError(
                "SESSION_ABSOLUTE_TIMEOUT: must not be shorter than SESSION_IDLE_TIMEOUT"
            )
        if self.password_max_length < self.password_min_length:
            raise ValueError("PASSWORD_MAX_LENGTH: must not be below PASSWORD_MIN_LENGTH")
        for entry in self.jwt_retired_keys:
            kid, sep, key = entry.partition("=")
            if not sep or not kid or len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "JWT_RETIRED_KEYS: each entry is <kid>=<secret of at least 32 characters>"
                )
        if "modules_disabled" not in self.model_fields_set and self.app_env == "prod":
            samples = [name for name in SAMPLE_MODULES if name not in self.modules]
            object.__setattr__(self, "modules_disabled", samples)
        if self.file_storage == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET: required when FILE_STORAGE=s3")
        if self.app_env == "prod":
            self._check_production()
        return self

    def _check_production(self) -> None:
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            raise ValueError("SECRET_KEY: required in production (at least 32 random characters)")
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters")
        if key.lower() in KNOWN_WEAK_SECRETS or len(set(key)) < 10:
            raise ValueError("SECRET_KEY: is a known or low-entropy value; generate a random one")
        if "*" in self.cors_origins:
            raise ValueError("CORS_ORIGINS: '*' is not allowed in production; list the origins")
        if self.init_admin_password is not None:
            password = self.init_admin_password.get_secret_value()
            if len(password) < max(12, self.password_min_length):
                raise ValueError("INIT_ADMIN_PASSWORD: at least 12 characters in production")
        if self.enable_test_routes:
            raise ValueError("ENABLE_TEST_ROUTES: test-only routes are refused in production")
        networks = [ipaddress.ip_network(i, strict=False) for i in self.metrics_allowed_ips]
        if any(network.prefixlen == 0 for network in networks):
            # An address grants access without the token, so a catch-all opens /metrics to all.
            raise ValueError(
                "METRICS_ALLOWED_IPS: a catch-all network is refused in production; list the "
                "scrapers' networks, or give remote scrapers METRICS_TOKEN"
            )

    # What `load_settings` was given for the modules' settings (`SCHEDULER_ENABLED=false` as
    # `scheduler_enabled=False`): `app.core.modules.read_module_settings` applies them.
    _module_overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def module_overrides(self) -> dict[str, Any]:
        return dict(self._module_overrides)

    # ----------------------------------------------------------------------- derived --
    @cached_property
    def resolved_data_dir(self) -> Path:
        """The data folder as an absolute path (relative paths are taken from the project root)."""
        return self.data_dir if self.data_dir.is_absolute() else BASE_DIR / self.data_dir

    @property
    def resolved_file_dir(self) -> Path:
        """The local file storage folder as an absolute path."""
        return self.file_dir if self.file_dir.is_absolute() else BASE_DIR / self.file_dir

    @property
    def db_dialect(self) -> Dialect:
        """`sqlite`, `postgresql` or `mysql` (MariaDB counts as mysql)."""
        name = make_url(self.database_url).get_backend_name()
        if name == "mariadb":
            return "mysql"
        if name not in ("sqlite", "postgresql", "mysql"):  # pragma: no cover - validated above
            raise ValueError(name)
        return name  # type: ignore[return-value]

    @property
    def is_production(self) -> bool:
        return self.app_env == "prod"

    @property
    def docs_on(self) -> bool:
        """Docs are on by default except in production, where they must be enabled explicitly."""
        return self.docs_enabled if self.docs_enabled is not None else not self.is_production

    @property
    def migrate_on_start(self) -> bool:
        """Apply pending migrations on `run`: default on outside production, off in production."""
        return self.auto_migrate if self.auto_migrate is not None else not self.is_production

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.is_production
        return self.log_format == "json"

    @property
    def secret(self) -> str:
        """The signing secret. `load_settings` guarantees it is set."""
        if self.secret_key is None:  # pragma: no cover - load_settings always fills it
            raise ConfigError("SECRET_KEY: not set")
        return self.secret_key.get_secret_value()

    @property
    def readable_secrets(self) -> list[str]:
        """`SECRET_KEY`, then the secrets of `JWT_RETIRED_KEYS`: what data encrypted or hashed
        under an earlier key (MFA seeds, recovery codes) is still read with after a rotation."""
        retired = [entry.partition("=")[2].strip() for entry in self.jwt_retired_keys]
        return [self.secret, *(secret for secret in retired if secret != self.secret)]


def env_file_for(env: str) -> Path:
    """The optional settings file for an environment: `env/.env.<env>`."""
    return ENV_DIR / f".env.{env}"


def _format_validation_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    loc = [str(part) for part in error.get("loc", ())]
    if loc:
        return f"invalid setting {loc[0].upper()}: {message}"
    # Model-level errors start with the setting name already.
    return f"invalid setting {message}"


def _dev_secret(data_dir: Path) -> str:
    """A secret generated once per machine for dev and kept in the data folder (mode 0600)."""
    path = data_dir / "secret_key"
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= MIN_SECRET_LENGTH:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def load_settings(env: str | None = None, **overrides: Any) -> Settings:
    """Build the settings for `env` (default: `APP_ENV`, else `dev`).

    Precedence: explicit overrides > environment variables > `env/.env.<env>` > defaults.
    Overrides that are not core settings are kept for the modules' settings
    (`Settings.module_overrides`).

    Raises:
        ConfigError: one line naming the invalid setting.
    """
    chosen = env or os.environ.get("APP_ENV") or "dev"
    if chosen not in ("dev", "test", "prod"):
        raise ConfigError(f"invalid setting APP_ENV: {chosen!r} is not one of dev, test, prod")
    env_file = env_file_for(chosen)
    core = {name: value for name, value in overrides.items() if name in Settings.model_fields}
    try:
        settings = Settings(
            _env_file=env_file if env_file.is_file() else None,
            app_env=cast(Environment, chosen),
            **core,
        )
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    settings._module_overrides = {k: v for k, v in overrides.items() if k not in core}
    if settings.secret_key is None:
        # Production was refused above; dev keeps a generated key across restarts, tests get
        # a fresh one per process unless they set SECRET_KEY.
        secret = (
            _dev_secret(settings.resolved_data_dir)
            if settings.app_env == "dev"
            else secrets.token_urlsafe(48)
        )
        settings = settings.model_copy(update={"secret_key": SecretStr(secret)})
    return settings
