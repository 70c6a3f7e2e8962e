"""The fault-injection harness (docs/security-checklist.md §5.2): the app as a real process
(AppProcess, from
tests/support/processes.py), a bounded load
generator that records every request, and the pass criteria P1-P4 as assertions.

    app = await start_app(database_url, ENABLE_TEST_ROUTES="true")
    async with Load(app.base, {"users": ("/api/v1/system/users", headers)}) as load:
        ...inject a fault, wait, repair it...
    assert_fails_cleanly(load.samples)                       # P1-P3
    assert_recovers(load.samples, "users", after=t_repaired)  # P4

A database outage under load, with those checks, is one call (F1, F4, F7 stopped and frozen):

    outage = await database_outage_under_load(
        app, "F1 PostgreSQL stopped mid-load", break_=server.stop, repair=server.start, hold=3
    )

A target is `(path, headers)` for a GET, or `(path, headers, body)` for a POST whose JSON is
`body(n)` (n = 0, 1, ... per target); each sample keeps what it sent (`Sample.sent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support import fault_stats
from tests.support.private_services import PrivatePostgres
from tests.support.processes import AppProcess
from tests.support.tcp_proxy import free_port

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "Fault-Injection-Harness-7319!"
SECRET_KEY = "resilience-test-secret-key-0123456789-abcdefghijklmnop"

CLIENT_TIMEOUT = 10.0  # per request (docs/security-checklist.md §5.2); hitting it is a hang (P2)
BUDGET = 3.0  # B: an error must come within this (P3)
RECOVERY = 5.0  # R: the first success after the dependency is back (P4)
OUTAGE_MESSAGE = "Service temporarily unavailable"
SUCCESS = frozenset({200, 201, 204})  # what P1/P4 count as an answer that worked


def app_env(
    directory: Path, database_url: str, redis_url: str = "", **extra: str
) -> dict[str, str]:
    """The environment of an app process under test; `extra` adds or overrides settings."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_PREFIX": f"fa-fault-{os.getpid()}-{free_port()}:",
        "SECRET_KEY": SECRET_KEY,
        "AUTO_MIGRATE": "false",  # the test built the schema; a restart must not migrate
        "DATA_DIR": str(directory / "data"),
        "FILE_DIR": str(directory / "files"),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",  # what production writes; console tracebacks are slow
        "CAPTCHA_MODE": "off",
    }
    env.update(extra)
    return env


# ---------------------------------------------------------------------------- load --


@dataclass(frozen=True)
class Sample:
    """One request of the load: when it started (seconds since the load began), how long it
    took, and what came back (`status` None: no HTTP answer at all)."""

    target: str
    start: float
    latency: float
    status: int | None
    retry_after: str | None = None
    body: Any = None
    error: str | None = None
    sent: Any = None  # the JSON body of a POST target

    @property
    def end(self) -> float:
        return self.start + self.latency

    def describe(self) -> str:
        message = self.body.get("message") if isinstance(self.body, dict) else self.body
        return (
            f"{self.target}@{self.start:.2f}s +{self.latency:.2f}s -> "
            f"{self.status or self.error} {message!r}"
        )


Body = Callable[[int], Any]
Target = tuple[str, Mapping[str, str]] | tuple[str, Mapping[str, str], Body]


class Load:
    """A bounded load: one loop per target, each sending its request, recording it, pausing
    `pause` seconds, until `stop()` or `max_requests` requests in all. Loopback only.

    `keepalive=False` opens a new connection per request, so a request that fails on a killed
    process was certainly accepted by it (F13)."""

    def __init__(
        self,
        base: str,
        targets: Mapping[str, Target],
        *,
        pause: float = 0.05,
        max_requests: int = 1500,
        keepalive: bool = True,
    ) -> None:
        self.base = base
        self.targets = dict(targets)
        self.pause = pause
        self.max_requests = max_requests
        self.keepalive = keepalive
        self.samples: list[Sample] = []
        self._t0 = 0.0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    def now(self) -> float:
        """Seconds since the load began (the clock of `Sample.start`)."""
        return time.monotonic() - self._t0

    async def __aenter__(self) -> Load:
        self._http = httpx.AsyncClient(
            base_url=self.base,
            timeout=CLIENT_TIMEOUT,
            limits=httpx.Limits(
                max_connections=len(self.targets) + 2,
                max_keepalive_connections=None if self.keepalive else 0,
            ),
        )
        self._t0 = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._loop(name, target[0], target[1], _body(target)))
            for name, target in self.targets.items()
        ]
        return self

    async def _loop(
        self, name: str, path: str, headers: Mapping[str, str], body: Body | None
    ) -> None:
        assert self._http is not None
        count = 0
        while not self._stopping.is_set() and len(self.samples) < self.max_requests:
            sent = None if body is None else body(count)
            count += 1
            start = self.now()
            try:
                if body is None:
                    response = await self._http.get(path, headers=dict(headers))
                else:
                    response = await self._http.post(path, json=sent, headers=dict(headers))
            except httpx.HTTPError as exc:  # timeouts and transport errors: no answer
                self.samples.append(
                    Sample(
                        name, start, self.now() - start, None, error=type(exc).__name__, sent=sent
                    )
                )
            else:
                answer: Any = None
                if response.headers.get("content-type", "").startswith("application/json"):
                    answer = response.json()
                self.samples.append(
                    Sample(
                        name,
                        start,
                        self.now() - start,
                        response.status_code,
                        response.headers.get("retry-after"),
                        answer,
                        sent=sent,
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.pause)

    async def first_success(self, target: str, after: float, within: float) -> Sample | None:
        """Wait (at most `within` s) for a success on `target` sent at or after `after`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for sample in self.of(target):
                if sample.start >= after and sample.status in SUCCESS:
                    return sample
            await asyncio.sleep(0.05)
        return None

    def of(self, target: str) -> list[Sample]:
        return [s for s in self.samples if s.target == target]

    async def stop(self) -> list[Sample]:
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        if self._http is not None:
            await self._http.aclose()
        return self.samples

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _body(target: Target) -> Body | None:
    return target[2] if len(target) == 3 else None


# ------------------------------------------------------------------- pass criteria --


def _listing(samples: Iterable[Sample]) -> str:
    return "\n".join(s.describe() for s in samples)


def assert_fails_cleanly(
    samples: list[Sample], *, budget: float = BUDGET, component: str | None = None
) -> None:
    """P1-P3: every request got an HTTP answer (no hang, no reset) within `budget`; nothing is
    a 500; every error is a 503 with the JSON envelope and `Retry-After` (successes: 200, 201,
    204). With `component`, the 503s of outage-mapped errors name it (`...: database`,
    `...: cache`)."""
    assert samples, "the load sent nothing"
    unanswered = [s for s in samples if s.status is None]
    assert not unanswered, f"requests without an answer (P2):\n{_listing(unanswered)}"
    slow = [s for s in samples if s.latency > budget]
    assert not slow, f"answers slower than {budget}s (P3):\n{_listing(slow)}"
    wrong = [s for s in samples if s.status not in SUCCESS and s.status != 503]
    assert not wrong, f"answers other than 2xx/503 (P1):\n{_listing(wrong)}"
    for sample in (s for s in samples if s.status == 503):
        body = sample.body
        assert isinstance(body, dict), sample.describe()
        assert body.get("code") == 503 and body.get("data") is None, sample.describe()
        assert str(body.get("message", "")).startswith(("Not ready", OUTAGE_MESSAGE)), (
            sample.describe()
        )
        if component is not None and sample.target != "ready":
            assert body["message"] == f"{OUTAGE_MESSAGE}: {component}", sample.describe()
        assert sample.retry_after is not None and int(sample.retry_after) > 0, sample.describe()


def assert_recovers(
    samples: list[Sample], target: str, *, after: float, within: float = RECOVERY
) -> Sample:
    """P4: a request to `target` sent after `after` succeeded within `within` seconds, and every
    request sent after that first success succeeded too (no relapse)."""
    later = sorted((s for s in samples if s.target == target and s.start >= after), key=_start)
    first = next((s for s in later if s.status in SUCCESS), None)
    assert first is not None, f"{target}: no success after the repair:\n{_listing(later)}"
    assert first.end - after <= within, (
        f"{target}: first success {first.end - after:.2f}s after the repair (R = {within}s)"
    )
    relapses = [s for s in later if s.start > first.end and s.status not in SUCCESS]
    assert not relapses, f"{target}: failures after recovering:\n{_listing(relapses)}"
    return first


def _start(sample: Sample) -> float:
    return sample.start


def assert_all(samples: list[Sample], status: int, what: str) -> None:
    """Every one of `samples` (at least one) answered `status`."""
    assert samples, f"no request: {what}"
    other = [s for s in samples if s.status != status]
    assert not other, f"{what}: expected {status} from all, got:\n{_listing(other)}"


def window(samples: Iterable[Sample], target: str, start: float, end: float) -> list[Sample]:
    """The requests to `target` sent and answered entirely within [start, end]."""
    return [s for s in samples if s.target == target and s.start >= start and s.end <= end]


async def admin_headers(app: AppProcess) -> dict[str, str]:
    """Sign in as the initial admin over HTTP; a bearer header."""
    async with httpx.AsyncClient(base_url=app.base, timeout=CLIENT_TIMEOUT) as http:
        response = await http.post(
            "/api/v1/auth/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# ---------------------------------------------------------------- database outages --

USERS = "/api/v1/system/users?page_size=5"  # authenticated and database-backed
# Timeouts under which a frozen database fails within B: 2 x (0.3 + 1) = 2.6 s (F4, F7 frozen;
# docs/resilience.md).
FROZEN_DB_TIMEOUTS = {"DB_STATEMENT_TIMEOUT": "0.3", "DB_CONNECT_TIMEOUT": "1"}
DATABASE_TARGETS = ("users", "ready")  # the targets that need the database ("live" does not)


def database_targets(headers: Mapping[str, str]) -> dict[str, Target]:
    """The load of the database outage tests: the user list, liveness and readiness."""
    return {
        "users": (USERS, headers),
        "live": ("/api/v1/health/live", {}),
        "ready": ("/api/v1/health/ready", {}),
    }


@dataclass(frozen=True)
class Outage:
    """What `database_outage_under_load` saw; times on the load's clock (`Load.now`)."""

    samples: list[Sample]
    broken: float  # the fault was in place
    repairing: float  # the repair began
    repaired: float  # the repair was done
    live_worst_latency: float  # the slowest /health/live answer (recorded, not asserted)


async def database_outage_under_load(
    app: AppProcess,
    name: str,
    *,
    break_: Callable[[], object],
    repair: Callable[[], object],
    hold: float,
    state: str = "down",
) -> Outage:
    """Break the database under load (user list, liveness, readiness), keep it broken `hold`
    seconds, repair it, wait for the first success; the app is never restarted. `break_` and
    `repair` run in a thread (stop / start, freeze / thaw); the repair runs even if the test
    fails meanwhile. Records the figures as `name` (with the slowest liveness answer), then
    asserts:

    - P1-P3: every request answered within B, 2xx or a clean 503 (never a hang, never a 500);
    - liveness answered 200 throughout (it needs no database);
    - healthy before the fault: everything sent and answered before it got 200;
    - the user list and readiness answered 503 throughout the fault (`state` names it in
      messages: "down", "frozen");
    - P4: both succeed again within R of the repair, with no relapse.
    """
    headers = await admin_headers(app)
    async with Load(app.base, database_targets(headers)) as load:
        await asyncio.sleep(1.0)
        breaking = load.now()
        await asyncio.to_thread(break_)
        try:
            broken = load.now()
            await asyncio.sleep(hold)
        finally:
            repairing = load.now()
            await asyncio.to_thread(repair)
        repaired = load.now()
        await load.first_success("users", after=repaired, within=RECOVERY + 3)
        await asyncio.sleep(0.5)
    samples = load.samples
    live = load.of("live")
    worst = max((s.latency for s in live), default=0.0)
    fault_stats.record_samples(name, samples, live_worst_latency=worst)

    assert_fails_cleanly(samples, budget=BUDGET)
    assert_all(live, 200, "liveness must not depend on the database")
    before = [s for s in samples if s.end < breaking and s.target != "live"]
    assert before and all(s.status == 200 for s in before), "healthy before the fault"
    for target in DATABASE_TARGETS:
        during = window(samples, target, broken, repairing)
        assert_all(during, 503, f"{target} while the database was {state}")
        assert_recovers(samples, target, after=repaired)
    return Outage(samples, broken, repairing, repaired, worst)


def assert_no_open_transactions(postgres: PrivatePostgres, *, within: float = 3.0) -> None:
    """P5: the app left no session `idle in transaction` behind. A transaction seen between two
    of its statements (a scheduler tick) is not left behind: it must end within `within` s."""
    deadline = time.monotonic() + within
    while True:
        left = postgres.psql(
            "SELECT count(*) || ' ' || coalesce(string_agg(left(query, 100), ' | '), '') "
            "FROM pg_stat_activity "
            "WHERE application_name = 'fastapiadmin' AND state LIKE 'idle in transaction%'"
        )
        if left == "0" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == "0", f"sessions idle in transaction: {left}"
