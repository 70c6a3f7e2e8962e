"""Prometheus metrics at GET /metrics: what is counted, who may read it, and totals that hold
across several worker processes (docs/metrics.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import QueuePool

from app.core import config
from app.core.cache import CacheUnavailableError, RedisCache
from app.core.config import ConfigError, Settings, load_settings
from app.core.database import create_engine
from app.core.metrics import UNMATCHED, record_job_run
from tests.conftest import make_settings
from tests.support.databases import TEST_REDIS_URL
from tests.support.instances import second_instance
from tests.support.processes import AppProcess, settings_env
from tests.support.startup import shared_fixture
from tests.support.tcp_proxy import TcpProxy, free_port

TOKEN = "metrics-scraper-token-0123456789-abcdefgh"
STRONG = "kP3-vZ8qL1xN7wR2tY5uB9mC4dF6gH0jS_eA"
USERS = "/api/v1/system/users/{user_id}"
LIVE = "/api/v1/health/live"


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of the series `name{labels}` (exact label set), 0 when absent."""
    for family in text_string_to_metric_families(exposition):
        for item in family.samples:
            if item.name == name and item.labels == labels:
                return float(item.value)
    return 0.0


def requests_total(exposition: str, method: str, route: str, status: int) -> float:
    return sample(
        exposition,
        "fastapiadmin_http_requests_total",
        method=method,
        route=route,
        status=str(status),
    )


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def instance(settings: Settings, **overrides: object) -> AbstractAsyncContextManager[FastAPI]:
    """Another app on the test database. It runs no scheduled jobs (none are needed here, and
    an embedded Taskiq worker stopped within a second of starting hangs its shutdown)."""
    return second_instance(settings, scheduler_enabled=False, scheduler_worker=False, **overrides)


def client_for(app: FastAPI, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10)


# --- what is counted ------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    for user_id in (101, 202, 303):  # three raw paths, one template
        assert (await client.get(f"/api/v1/system/users/{user_id}")).status_code == 401
    for _ in range(2):
        assert (await client.get(LIVE)).status_code == 200
    unknown = f"/no/such/{uuid.uuid4().hex}"
    assert (await client.get(unknown)).status_code == 404
    assert (await client.request("BREW", LIVE)).status_code == 405
    after = await scrape(client)

    def delta(method: str, route: str, status: int) -> float:
        return requests_total(after, method, route, status) - requests_total(
            before, method, route, status
        )

    assert delta("GET", USERS, 401) == 3
    assert delta("GET", LIVE, 200) == 2
    assert delta("GET", UNMATCHED, 404) == 1
    assert delta("OTHER", LIVE, 405) == 1  # invented methods cannot grow the label set
    # The scrape before was counted too, under its own template.
    assert delta("GET", "/metrics", 200) == 1
    # Label values are templates only: no raw path, id or random segment ever appears.
    assert "/api/v1/system/users/101" not in after
    assert unknown not in after
    assert "BREW" not in after


async def test_duration_histogram_and_in_progress_gauge(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = await scrape(client)
    for _ in range(3):
        await client.get(LIVE)
    after = await scrape(client)
    labels = {"method": "GET", "route": LIVE}
    name = "fastapiadmin_http_request_duration_seconds"
    count = sample(after, f"{name}_count", **labels) - sample(before, f"{name}_count", **labels)
    assert count == 3
    inf = sample(after, f"{name}_bucket", le="+Inf", **labels)
    assert inf == sample(after, f"{name}_count", **labels)
    assert sample(after, f"{name}_sum", **labels) > sample(before, f"{name}_sum", **labels)
    # The scrape itself is the one request in flight.
    assert sample(after, "fastapiadmin_http_requests_in_progress") == 1

    # A request whose body has not finished arriving is in progress until it ends.
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"username=nobody"
        await release.wait()
        yield b"&password=x"

    pending = asyncio.create_task(
        client.post(
            "/api/v1/auth/login",
            content=slow_body(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            during = await scrape(client)
            if sample(during, "fastapiadmin_http_requests_in_progress") == 2:
                break
            assert time.monotonic() < deadline, "the slow request never showed as in progress"
            await asyncio.sleep(0.05)
    finally:
        release.set()
        await asyncio.wait_for(pending, 10)
    assert sample(await scrape(client), "fastapiadmin_http_requests_in_progress") == 1


async def pool_gauges(http: httpx.AsyncClient, expected: tuple[float, float, float]) -> None:
    """Wait (briefly) until (size, checked out, overflow) are `expected`: background work of
    the app's own (audit writers, the scheduler) may hold a connection for a moment."""
    deadline = time.monotonic() + 5
    while True:
        exposition = await scrape(http)
        seen = tuple(
            sample(exposition, f"fastapiadmin_db_pool_{name}")
            for name in ("size", "checked_out", "overflow")
        )
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"pool gauges {seen}, expected {expected}"
        await asyncio.sleep(0.05)


async def test_pool_gauges_follow_checked_out_connections(settings: Settings) -> None:
    async with instance(settings, db_pool_size=2, db_max_overflow=2) as app:
        size = app.state.engine.sync_engine.pool.size()
        async with client_for(app) as http:
            await pool_gauges(http, (size, 0, 0))
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(size + 1):  # one beyond the pool: an overflow connection
                    connection: AsyncConnection = await stack.enter_async_context(
                        app.state.engine.connect()
                    )
                    await connection.execute(text("SELECT 1"))
                await pool_gauges(http, (size, size + 1, 1))
            # The pool was full when the last one came back, so that one was closed.
            await pool_gauges(http, (size, 0, 0))


async def test_job_runs_are_counted(client: httpx.AsyncClient) -> None:
    name = "fastapiadmin_job_runs_total"
    before = await scrape(client)
    record_job_run("succeeded")
    record_job_run("succeeded")
    record_job_run("failed")
    after = await scrape(client)
    assert sample(after, name, status="succeeded") - sample(before, name, status="succeeded") == 2
    assert sample(after, name, status="failed") - sample(before, name, status="failed") == 1


async def test_cache_errors_are_counted_per_operation(client: httpx.AsyncClient) -> None:
    name = "fastapiadmin_cache_errors_total"
    # A Redis on a port nothing listens on: every call is refused at once.
    dead = RedisCache(f"redis://127.0.0.1:{free_port()}/0", prefix="fa-test-dead:")
    before = await scrape(client)
    try:
        for call in (dead.get("k"), dead.set("k", "v"), dead.get("k")):
            with pytest.raises(CacheUnavailableError):
                await call
    finally:
        await dead.close()
    after = await scrape(client)
    assert sample(after, name, operation="get") - sample(before, name, operation="get") == 2
    assert sample(after, name, operation="set") - sample(before, name, operation="set") == 1


async def test_cache_errors_are_counted_when_redis_goes_down(settings: Settings) -> None:
    if not TEST_REDIS_URL:
        pytest.skip("needs a real Redis to stop (set TEST_REDIS_URL)")
    target = make_url(settings.redis_url)
    proxy = await TcpProxy(target.host or "127.0.0.1", target.port or 6379).start()
    redis_url = f"redis://127.0.0.1:{proxy.port}/{target.database or 0}"
    try:
        async with instance(settings, redis_url=redis_url) as app, client_for(app) as http:
            name = "fastapiadmin_cache_errors_total"
            before = sample(await scrape(http), name, operation="ping")
            await proxy.stop()
            try:
                assert (await http.get("/api/v1/health/ready")).status_code == 503
                after = sample(await scrape(http), name, operation="ping")
            finally:
                await proxy.resume()  # let the app shut down cleanly
            assert after - before >= 1
    finally:
        await proxy.stop()


# --- who may read it ------------------------------------------------------------------------


@shared_fixture("the metrics app behind a proxy", scope="module")
async def guarded_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Behind a trusted proxy (10.0.0.1), default allowlist (loopback), and a scraper token."""
    async with instance(settings, trusted_proxies="10.0.0.1", metrics_token=TOKEN) as app:
        yield app


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("203.0.113.9", {}, 403),
        ("203.0.113.9", {"authorization": f"Bearer {TOKEN}"}, 200),
        ("203.0.113.9", {"authorization": f"bearer {TOKEN}"}, 200),
        ("203.0.113.9", {"authorization": f"Bearer {TOKEN[:-1]}x"}, 403),
        ("203.0.113.9", {"authorization": f"Bearer {TOKEN}x"}, 403),
        ("203.0.113.9", {"authorization": "Bearer "}, 403),
        ("203.0.113.9", {"authorization": f"Basic {TOKEN}"}, 403),
        # Presented credentials are checked even from an allowed address.
        ("127.0.0.1", {"authorization": "Bearer wrong-token"}, 403),
        # An untrusted peer cannot claim to be loopback.
        ("203.0.113.9", {"x-forwarded-for": "127.0.0.1"}, 403),
        # Through the trusted proxy, the client's own claim is ignored: the proxy appended
        # the real address, and that one is judged.
        ("10.0.0.1", {"x-forwarded-for": "127.0.0.1, 203.0.113.9"}, 403),
        # The trusted proxy itself vouches for a loopback client.
        ("10.0.0.1", {"x-forwarded-for": "127.0.0.1"}, 200),
    ],
)
async def test_access_by_address_and_token(
    guarded_app: FastAPI, peer: str, headers: dict[str, str], expected: int
) -> None:
    async with client_for(guarded_app, peer) as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == expected, response.text
    if expected == 403:
        body = response.json()
        assert body["code"] == 403
        assert body["data"] is None
        assert body["message"] == "Metrics are not available to this client"
        assert "fastapiadmin_" not in response.text
    else:
        assert "fastapiadmin_http_requests_total" in response.text


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("::ffff:127.0.0.1", {}, 200),  # IPv4 loopback through a dual-stack socket
        ("203.0.113.9", {}, 403),
        # No TRUSTED_PROXIES: a forwarded request came through a proxy we know nothing about
        # (say nginx on the same host): its loopback address says nothing about the client.
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, 403),
        # No METRICS_TOKEN configured: no bearer token can be right.
        ("203.0.113.9", {"authorization": f"Bearer {TOKEN}"}, 403),
    ],
)
async def test_access_without_proxies_or_token(
    app: FastAPI, peer: str, headers: dict[str, str], expected: int
) -> None:
    async with client_for(app, peer) as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == expected, response.text


async def test_token_only_when_no_address_is_allowed(settings: Settings) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with (
        instance(settings, metrics_allowed_ips="", metrics_token=TOKEN) as app,
        client_for(app, "127.0.0.1") as http,
    ):
        assert (await http.get("/metrics")).status_code == 403
        assert (await http.get("/metrics", headers=bearer)).status_code == 200


async def test_disabled_means_no_route_and_no_counting(settings: Settings) -> None:
    async with instance(settings, metrics_enabled=False) as app:
        assert app.state.metrics is None
        paths = {context.path for context in iter_route_contexts(app.routes)}
        assert "/metrics" not in paths
        async with client_for(app) as http:
            assert (await http.get(LIVE)).status_code == 200
            assert (await http.get("/metrics")).status_code == 404


# --- settings -------------------------------------------------------------------------------


@pytest.fixture
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "ENV_DIR", tmp_path / "env")
    for name in ("METRICS_ENABLED", "METRICS_ALLOWED_IPS", "METRICS_TOKEN", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("_clean_env")
def test_metrics_settings_defaults_and_parsing() -> None:
    settings = load_settings("test")
    assert settings.metrics_enabled is True
    assert settings.metrics_allowed_ips == ["127.0.0.1/32", "::1/128"]
    assert settings.metrics_token is None
    parsed = load_settings(
        "test", metrics_allowed_ips=" 10.0.0.0/8, 192.168.1.5 ", metrics_token=""
    )
    assert parsed.metrics_allowed_ips == ["10.0.0.0/8", "192.168.1.5"]
    assert parsed.metrics_token is None  # METRICS_TOKEN= means no token


@pytest.mark.usefixtures("_clean_env")
@pytest.mark.parametrize(
    ("env", "overrides", "setting"),
    [
        ("test", {"metrics_token": "too-short"}, "METRICS_TOKEN"),
        ("test", {"metrics_allowed_ips": "10.0.0.0/8,not-an-ip"}, "METRICS_ALLOWED_IPS"),
        ("prod", {"metrics_allowed_ips": "0.0.0.0/0"}, "METRICS_ALLOWED_IPS"),
        ("prod", {"metrics_allowed_ips": "10.0.0.0/8,::/0"}, "METRICS_ALLOWED_IPS"),
        # A token does not make a catch-all safe: an allowed address needs no token.
        (
            "prod",
            {"metrics_allowed_ips": "0.0.0.0/0", "metrics_token": TOKEN},
            "METRICS_ALLOWED_IPS",
        ),
    ],
)
def test_bad_metrics_settings_are_refused(
    env: str, overrides: dict[str, str], setting: str
) -> None:
    with pytest.raises(ConfigError, match=f"^invalid setting {setting}"):
        load_settings(env, secret_key=STRONG, **overrides)


@pytest.mark.usefixtures("_clean_env")
def test_production_accepts_private_networks_and_a_token() -> None:
    settings = load_settings(
        "prod", secret_key=STRONG, metrics_allowed_ips="10.0.0.0/8", metrics_token=TOKEN
    )
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == TOKEN


# --- several worker processes ---------------------------------------------------------------


class Server(AppProcess):
    """`python main.py run --workers 2`, as an operator starts it."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.tmp = tmp_path / "tmp"  # where `run` makes its metrics directory
        self.tmp.mkdir()
        env = settings_env(settings, tmp_path, DB_POOL_SIZE="3", TMPDIR=str(self.tmp))
        super().__init__(tmp_path, env, args=["--workers", "2"])
        self.start()

    def metrics(self) -> str:
        response = httpx.get(f"{self.base}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def wait_until(self, what: str, check: Callable[[], bool], within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"server exited: {self.log()[-2000:]}")
            try:
                if check():
                    return
            except (httpx.TransportError, AssertionError):
                pass
            time.sleep(0.2)
        pytest.fail(f"timed out waiting until {what}: {self.log()[-2000:]}")

    def metrics_dir(self) -> Path:
        found = list(self.tmp.glob("fastapiadmin-metrics-*"))
        assert len(found) == 1, found
        return found[0]


def per_worker(directory: Path, route: str) -> dict[int, float]:
    """Requests to `route` (GET, 200) recorded by each worker process, from its own file."""
    counts: dict[int, float] = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(file)]):  # type: ignore[no-untyped-call]
            for item in metric.samples:
                if item.name == "fastapiadmin_http_requests_total" and item.labels == {
                    "method": "GET",
                    "route": route,
                    "status": "200",
                }:
                    counts[pid] = item.value
    return counts


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    if not TEST_REDIS_URL:
        pytest.skip("several worker processes need Redis (set TEST_REDIS_URL)")
    running = Server(settings, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_totals_are_exact_across_two_worker_processes(settings: Settings, server: Server) -> None:
    engine = create_engine(make_settings(settings.database_url, db_pool_size=3))
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    pool_size = pool.size()  # what each worker's pool holds
    asyncio.run(engine.dispose())

    # Both workers built their app: each adds its pool to the live sum.
    server.wait_until(
        "both workers are up",
        lambda: sample(server.metrics(), "fastapiadmin_db_pool_size") == 2 * pool_size,
    )
    directory = server.metrics_dir()

    # Fresh connections, a few at a time, until each worker has answered some of them.
    sent = 0

    async def burst() -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=limits) as http:
            responses = await asyncio.gather(*(http.get(LIVE) for _ in range(10)))
        assert all(r.status_code == 200 for r in responses)

    deadline = time.monotonic() + 30
    while len(per_worker(directory, LIVE)) < 2:
        assert time.monotonic() < deadline, f"one worker answered everything: {sent} requests"
        asyncio.run(burst())
        sent += 10

    # A worker counts a request just after sending its response: allow it that moment.
    server.wait_until(
        "every request is counted", lambda: sum(per_worker(directory, LIVE).values()) >= sent, 5
    )
    counts = per_worker(directory, LIVE)
    assert len(counts) == 2 and all(value > 0 for value in counts.values()), counts
    assert sum(counts.values()) == sent
    # One worker answers the scrape; its total includes what the other one counted.
    exposition = server.metrics()
    assert requests_total(exposition, "GET", LIVE, 200) == sent
    duration = "fastapiadmin_http_request_duration_seconds_count"
    assert sample(exposition, duration, method="GET", route=LIVE) == sent

    # A worker killed outright: its live gauges leave the sums once the supervisor has
    # replaced it; what it counted stays in the totals (counters never go backwards).
    victim = next(iter(counts))
    os.kill(victim, signal.SIGKILL)
    server.wait_until(
        "the killed worker is replaced and dropped from the live sums",
        lambda: (
            sample(server.metrics(), "fastapiadmin_db_pool_size") == 2 * pool_size
            and not (directory / f"gauge_livesum_{victim}.db").exists()
        ),
    )
    assert requests_total(server.metrics(), "GET", LIVE, 200) == sent

    server.stop()
    assert not directory.exists(), "run removes its metrics directory when it stops"
