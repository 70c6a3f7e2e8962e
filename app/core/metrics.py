"""Prometheus metrics: HTTP traffic by route template, database pool use, cache errors, job runs,
retries of conflicting transactions.

`GET /metrics` answers the Prometheus text format to the addresses in `METRICS_ALLOWED_IPS` or
to callers presenting `Authorization: Bearer <METRICS_TOKEN>` (docs/metrics.md).

Two modes, chosen when the app is built:

- **one process** (tests, a single worker): each app owns a `CollectorRegistry`, so several
  apps in one process (the test suite builds many) never share or collide on series;
- **several worker processes**: prometheus-client's multiprocess mode. `python main.py run`
  exports `PROMETHEUS_MULTIPROC_DIR` before any worker starts; every process writes its values
  to its own files there and a scrape adds them up, so whichever worker answers reports the
  totals of all of them.

This module sits below the cache layer (the Redis cache counts its errors here), so it must
not import `app.core.errors` or `app.core.cache`.
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import ipaddress
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.access import public
from app.core.config import Settings
from app.core.responses import error_responses

log = structlog.get_logger("app.metrics")

PREFIX = "fastapiadmin_"
METRICS_PATH = "/metrics"
# The route label of requests no route matched (unknown paths, and requests answered before
# routing, such as a rate-limit 429): raw paths would make the label set unbounded.
UNMATCHED = "<unmatched>"
# Any other method a client invents is counted as OTHER, for the same reason.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")

# --- process-wide metrics ----------------------------------------------------------------
# Counted from code that has no app at hand (the cache backend, job runners). Not registered
# anywhere here: each app's registry adds them (one process), or their values go to the
# multiprocess files (several).
CACHE_ERRORS = Counter(
    f"{PREFIX}cache_errors",
    "Cache calls that failed because the backend was unreachable or stalled, by operation.",
    ["operation"],
    registry=None,
)
JOB_RUNS = Counter(
    f"{PREFIX}job_runs",
    "Finished job runs, by final status.",
    ["status"],
    registry=None,
)
TRANSACTION_RETRIES = Counter(
    f"{PREFIX}db_transaction_retries",
    "Requests run again in a new transaction after a deadlock or serialization failure, by "
    "route template.",
    ["route"],
    registry=None,
)


def record_cache_error(operation: str) -> None:
    """Count one failed cache call (`operation` is the cache method name: a bounded set)."""
    CACHE_ERRORS.labels(operation).inc()


def record_job_run(status: str) -> None:
    """Count one finished job run.

    Args:
        status: The run's final status, one of a small fixed set (e.g. `succeeded`, `failed`,
            `cancelled`, `reaped`); never free text, since each value is a new series.
    """
    JOB_RUNS.labels(status).inc()


def record_transaction_retry(route: str) -> None:
    """Count one more attempt of a request whose transaction the database broke (`route` is
    the route template: a bounded set)."""
    TRANSACTION_RETRIES.labels(route).inc()


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, or None in one-process mode.

    The mode is fixed when prometheus-client is first imported; if `PROMETHEUS_MULTIPROC_DIR`
    was set only later, this process keeps its values in memory (and /metrics shows only it).
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    if not getattr(values.ValueClass, "_multiprocess", False):
        log.warning("metrics_multiprocess_unavailable", reason="PROMETHEUS_MULTIPROC_DIR set late")
        return None
    return path


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/system/users/{user_id}`), or `UNMATCHED`.

    FastAPI (>= 0.160) keeps included routers nested: `scope["route"]` is then the route as
    declared in its router (without the prefixes), and the full template is on the effective
    route context it leaves in the scope. Both are attributes computed once per route, so this
    is a few lookups per request.
    """
    context: Any = None
    extension = scope.get("fastapi")
    if isinstance(extension, dict):
        context = extension.get("effective_route_context")
    template = getattr(context if context is not None else scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED


class Metrics:
    """The metrics of one app, and what /metrics exposes.

    Label children are cached per (method, route, status), so a request costs dictionary
    lookups, not label validation.
    """

    def __init__(self, settings: Settings) -> None:
        self.multiprocess_dir = multiprocess_dir()
        if self.multiprocess_dir:
            # Unlabelled metrics open their file when created below.
            Path(self.multiprocess_dir).mkdir(parents=True, exist_ok=True)
        own = None if self.multiprocess_dir else CollectorRegistry()

        self.requests = Counter(
            f"{PREFIX}http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=own,
        )
        self.duration = Histogram(
            f"{PREFIX}http_request_duration_seconds",
            "Time from receiving a request to the end of its response, by method and route.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=own,
        )
        self.in_progress = Gauge(
            f"{PREFIX}http_requests_in_progress",
            "HTTP requests being handled now (all worker processes).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            f"{PREFIX}db_pool_size",
            "Configured database pool size (summed over worker processes).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            f"{PREFIX}db_pool_checked_out",
            "Database connections in use (summed over worker processes).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.pool_overflow = Gauge(
            f"{PREFIX}db_pool_overflow",
            "Database connections open beyond the pool size (summed over worker processes).",
            registry=own,
            multiprocess_mode="livesum",
        )

        if own is None:
            assert self.multiprocess_dir is not None
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            _reap_dead_processes(self.multiprocess_dir)
        else:
            own.register(CACHE_ERRORS)
            own.register(JOB_RUNS)
            own.register(TRANSACTION_RETRIES)
            self.registry = own

        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}
        self._networks = tuple(
            ipaddress.ip_network(item, strict=False) for item in settings.metrics_allowed_ips
        )
        token = settings.metrics_token
        self._token_digest = _digest(token.get_secret_value()) if token is not None else None
        self._proxies_configured = bool(settings.trusted_proxies)

    # --- recording ------------------------------------------------------------------------

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        if method not in _METHODS:
            method = "OTHER"
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self.requests.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self.duration.labels(method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)

    def instrument_pool(self, engine: AsyncEngine) -> None:
        """Keep the pool gauges current from the pool's checkout and checkin events.

        Called when the app starts serving (lifespan), not when it is built: `run` builds the
        app once in its supervisor process as a check, and that process must not add a pool
        to the sums.

        Each event publishes the pool's own counts (nothing is tallied here, so a failed
        checkout cannot make the numbers drift). Pools without a size (SQLite in memory)
        report zeros.
        """
        sync_engine = engine.sync_engine
        pool = sync_engine.pool
        if not isinstance(pool, QueuePool):
            self.pool_size.set(0)
            return
        self.pool_size.set(pool.size())
        checked_out, overflow = self.pool_checked_out, self.pool_overflow

        def publish(returning: int) -> None:
            # A checkin event fires before the connection goes back to the pool: count it as
            # returned already. If the pool is full, that connection is closed on return.
            current = sync_engine.pool
            if not isinstance(current, QueuePool):  # pragma: no cover - the class never changes
                return
            checked_out.set(max(0, current.checkedout() - returning))
            closing = returning if current.checkedin() >= current.size() else 0
            overflow.set(max(0, current.overflow() - closing))

        def on_checkout(*_: object) -> None:
            publish(0)

        def on_checkin(*_: object) -> None:
            publish(1)

        event.listen(sync_engine, "checkout", on_checkout)
        event.listen(sync_engine, "checkin", on_checkin)
        publish(0)

    # --- exposing -------------------------------------------------------------------------

    def render(self, encoder: Callable[[CollectorRegistry], bytes]) -> bytes:
        """The exposition of this app (one process) or of every worker process (several)."""
        if self.multiprocess_dir:
            _reap_dead_processes(self.multiprocess_dir)
        return encoder(self.registry)

    def allows(self, request: Request) -> bool:
        """Whether `request` may read the metrics (see docs/metrics.md)."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            # Credentials that are presented are checked, whatever the address.
            scheme, _, token = authorization.partition(" ")
            return (
                self._token_digest is not None
                and scheme.lower() == "bearer"
                and hmac.compare_digest(_digest(token.strip()), self._token_digest)
            )
        if not self._networks:
            return False
        if not self._proxies_configured and "x-forwarded-for" in request.headers:
            # Forwarded by a proxy that is not in TRUSTED_PROXIES: the address seen is the
            # proxy's (often loopback), not the client's.
            return False
        # Already the real client when the peer is a trusted proxy (ProxyHeadersMiddleware).
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def close(self) -> None:
        """At process exit: drop this process's live gauges (in-progress, pool) from the sums."""
        if self.multiprocess_dir:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


def _digest(token: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison constant-time whatever the lengths.
    return hashlib.sha256(token.encode()).digest()


def _reap_dead_processes(path: str) -> None:
    """Drop the live gauges of worker processes that died without shutting down (SIGKILL)."""
    own = os.getpid()
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.match(os.path.basename(file))
        if match is None or int(match.group(1)) == own or _alive(int(match.group(1))):
            continue
        mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (plain ASGI, outermost)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app fails before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_progress.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.in_progress.dec()
            metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - start
            )


async def get_metrics_state(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics_state)]


async def require_metrics_access(request: Request, metrics: MetricsDep) -> None:
    """Only METRICS_ALLOWED_IPS or the METRICS_TOKEN bearer; 403 for anyone else."""
    if not metrics.allows(request):
        # starlette's HTTPException (rendered as the error envelope by the one handler):
        # app.core.errors imports the cache layer, which imports this module.
        raise HTTPException(403, "Metrics are not available to this client")


router = APIRouter(tags=["monitor"])


@router.get(
    METRICS_PATH,
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **error_responses(403),
    },
    # Not a user-facing API: no JWT. Guarded by network policy or a scraper token instead.
    dependencies=[Depends(public), Depends(require_metrics_access)],
)
async def get_metrics(request: Request, metrics: MetricsDep) -> Response:
    """Prometheus metrics, totals over every worker process."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    # Reading the multiprocess files is blocking I/O.
    body = await run_in_threadpool(metrics.render, encoder)
    return Response(body, media_type=content_type)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Add the metrics middleware (outermost) and the /metrics route to `app`.

    Call before the app starts; its lifespan then calls `instrument_pool` and, at shutdown,
    `close`. `app.state.metrics` is None when `METRICS_ENABLED=false` (no route, no
    middleware, no pool listeners).
    """
    if not settings.metrics_enabled:
        app.state.metrics = None
        return
    metrics = Metrics(settings)
    app.state.metrics = metrics
    # Outermost: also counts what the outer layers answer themselves (500, 429, 403 demo).
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(router)
