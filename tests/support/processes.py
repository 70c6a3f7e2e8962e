"""The app as a real `python main.py run` process, configured by environment variables like a
deployment, for tests that need real processes: several instances, signals, worker processes.

    app = AppProcess(tmp_path, settings_env(settings, tmp_path))
    app.start()
    app.wait_ready()            # or: await app.wait_ready_async()
    httpx.get(f"{app.base}/api/v1/health/live")
    app.stop()                  # SIGTERM, then SIGKILL if it does not end

Its output goes to a file (a pipe could fill up and block the server); `log()` reads it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from app.core.config import BASE_DIR, Settings
from tests.support.tcp_proxy import free_port
from tests.support.timing import scaled

READY_PATH = "/api/v1/health/ready"


def clean_environ() -> dict[str, str]:
    """This process's environment without the test suite's own settings."""
    own = ("TEST_", "PYTEST_", "PROMETHEUS_MULTIPROC_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(own)}


def settings_env(settings: Settings, directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a process sharing the test app's database, Redis and secret."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CACHE_PREFIX": settings.cache_prefix,
        "SECRET_KEY": settings.secret,
        "AUTO_MIGRATE": "false",
        "DATA_DIR": str(directory / "data"),
        "FILE_DIR": str(directory / "files"),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "CAPTCHA_MODE": "off",
        "RATE_LIMIT_ENABLED": "false",
        "SCHEDULER_ENABLED": "false",
    }
    env.update(extra)
    return env


class AppProcess:
    def __init__(
        self,
        directory: Path,
        env: Mapping[str, str],
        *,
        args: Sequence[str] = (),
        cwd: Path = BASE_DIR,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "app.log"
        self.env = dict(env)
        self.args = list(args)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AppProcess:
        env = {**clean_environ(), **self.env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "main.py", "run", "--port", str(self.port), *self.args],
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)  # in case the test run is interrupted before teardown
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _check_alive(self) -> None:
        if not self.running:
            raise AssertionError(f"the app process exited:\n{self.log()[-3000:]}")

    def wait_ready(self, within: float = 60.0) -> None:
        """Wait until readiness answers 200 (`within` seconds on an idle machine, scaled:
        tests/support/timing.py); fail with the log if the process died."""
        deadline = time.monotonic() + scaled(within)
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + READY_PATH, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the app did not become ready:\n{self.log()[-3000:]}")

    async def wait_ready_async(self, within: float = 60.0) -> None:
        """`wait_ready` without blocking the test's event loop."""
        deadline = time.monotonic() + scaled(within)
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as http:
            while time.monotonic() < deadline:
                self._check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(READY_PATH)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"the app did not become ready:\n{self.log()[-3000:]}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None, "not started"
        self.process.send_signal(sig)

    async def wait_exit(self, within: float) -> int | None:
        """The exit code once the process has ended, or None if it is still running."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and (code := self.process.poll()) is not None:
                return code
            await asyncio.sleep(0.05)
        return None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crashed host)."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 20 s (never left running)."""
        if not self.running:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
