"""Settings of the scheduler module (environment variables with the `SCHEDULER_` prefix, read
from the environment and env/.env.<env> like the core settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.config import Settings
from app.core.modules import read_module_settings


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCHEDULER_",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        env_ignore_empty=True,
    )

    # This process competes for the scheduler leader lease (one leader fires due jobs).
    enabled: bool = True
    # This process executes job runs (in-process in the lite shape; a Taskiq worker on the
    # Redis queue in the scale shape). `python main.py worker` runs a dedicated one.
    worker: bool = True
    tick_seconds: float = Field(default=1.0, ge=0.05, le=60)
    lease_seconds: float = Field(default=10.0, ge=0.5, le=600)
    heartbeat_seconds: float = Field(default=10.0, ge=0.2, le=600)
    concurrency: int = Field(default=4, ge=1, le=256)
    shutdown_grace: float = Field(default=10.0, ge=0, le=3600)


def scheduler_settings(settings: Settings) -> SchedulerSettings:
    """The scheduler's settings, for code that holds the core settings (worker, job targets)."""
    return read_module_settings(SchedulerSettings, settings)
