"""Other app instances on the test database: in this process (`second_instance`: its own
engine, cache client and memory) or as real `main.py run` processes (`Instance`, and
`running_pair` for two of them on two ports, docs/security-checklist.md §6)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.support.processes import AppProcess, settings_env
from tests.support.timing import LIFESPAN_TIMEOUT


@asynccontextmanager
async def second_instance(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    other = create_app(make_settings(settings.database_url, **overrides))
    async with LifespanManager(
        other, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ):
        yield other


class Instance(AppProcess):
    """The app as a real `main.py run` process on the test database, Redis and secret
    (`extra_env` adds or overrides settings); started at once, `wait_ready()` before use."""

    def __init__(
        self, settings: Settings, directory: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(directory, settings_env(settings, directory, **(extra_env or {})))
        self.start()


@contextmanager
def running_pair(
    settings: Settings, directory: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[tuple[Instance, Instance]]:
    """Two instances, A and B, started together on two ports with the same settings and each
    its own folder (`directory/a`, `directory/b`: own local `FILE_DIR`, own `app.log`);
    both ready when the block starts, both stopped (SIGTERM) when it ends."""
    pair = (
        Instance(settings, directory / "a", extra_env),
        Instance(settings, directory / "b", extra_env),
    )
    try:
        for instance in pair:
            instance.wait_ready()
        yield pair
    finally:
        stop_all(pair)


def stop_all(processes: Iterable[AppProcess], within: float = 20.0) -> None:
    """SIGTERM to every process at once, then wait for each (SIGKILL after `within` s): the
    graceful shutdowns overlap instead of adding up."""
    running = [process for process in processes if process.running]
    for process in running:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + within
    for process in running:
        assert process.process is not None
        try:
            process.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
