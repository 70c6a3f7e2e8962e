"""Settings of the console module (environment variables with the `CONSOLE_` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from app.console import DIST_DIR


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", env_ignore_empty=True)

    # Where the console's build is; the packaged one by default.
    dist_dir: Path = DIST_DIR
