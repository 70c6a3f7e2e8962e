"""Alternating pairs, the ceiling evidence and the profile for `bench/run.py --pairs N`.

- Pairs: each paired scenario is measured app, baseline, app, baseline, ... N times; every pair
  gives its own ratio, and the table shows their median and spread (min-max).
- Ceiling: beside the baseline, `wrk` of the baseline server's `/static` route (a fixed body,
  no token, no database: the rate of uvicorn + Starlette itself) and the database's own rate
  for the baseline's query (PostgreSQL: `pgbench` with the query as a custom script at the same
  connection count; SQLite: the query in a loop in one thread). The baseline is at the ceiling
  of whichever of the two it is closest to.
- Workers: CPU seconds of each worker process during a loaded run (psutil), so an uneven
  spread of connections over the workers shows.
- Profile: the superuser's users page requested in sequence in-process (the ASGI app called
  directly, no HTTP server) under pyinstrument; the samples are split by what the innermost
  recognised frame is doing.
"""

# ruff: noqa: S603, S607, T201
from __future__ import annotations

import asyncio
import re
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

# The baseline's query (bench/baseline.py) with its parameter: scoped (division 0's tree).
SCOPED_SQL = """SELECT u.id, u.username, u.name, u.email, u.phone, u.status, u.dept_id,
 u.is_superuser, u.created_at, u.updated_at FROM sys_user u JOIN sys_dept d ON d.id = u.dept_id
 WHERE d.path LIKE '{pattern}' ORDER BY u.created_at DESC, u.id DESC LIMIT 20"""
UNSCOPED_SQL = """SELECT u.id, u.username, u.name, u.email, u.phone, u.status, u.dept_id,
 u.is_superuser, u.created_at, u.updated_at FROM sys_user u
 ORDER BY u.created_at DESC, u.id DESC LIMIT 20"""


def worker_cpu(before: dict[int, float], after: dict[int, float], master: int) -> list[float]:
    """CPU seconds of each child of the server (its workers), largest first."""
    try:
        kids = {c.pid for c in psutil.Process(master).children(recursive=True)}
    except psutil.Error:
        kids = set()
    kids = kids or {master}  # one worker: uvicorn serves in the main process
    used = [
        round(after[pid] - before[pid], 2)
        for pid in kids & before.keys() & after.keys()
        if after[pid] - before[pid] > 0.05
    ]
    return sorted(used, reverse=True)


def run_pairs(
    measure_one: Callable[[str], dict[str, Any]], name: str, pairs: int
) -> dict[str, Any]:
    """`measure_one("app")` / `measure_one("baseline")` alternately; one ratio per pair."""
    rows: list[dict[str, Any]] = []
    for i in range(pairs):
        app = measure_one("app")
        base = measure_one("baseline")
        ratio = app["rps"] / base["rps"] if base["rps"] else 0.0
        rows.append({"pair": i + 1, "app": app, "baseline": base, "ratio": round(ratio, 3)})
        print(
            f"  {name} pair {i + 1}: app {app['rps']:.0f} req/s, baseline "
            f"{base['rps']:.0f} req/s, ratio {ratio:.2f}",
            flush=True,
        )
    ratios = [r["ratio"] for r in rows]

    def med(side: str, key: str) -> float:
        return round(statistics.median(r[side][key] for r in rows), 2)

    return {
        "scenario": name,
        "pairs": rows,
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        **{f"app_{k}": med("app", k) for k in ("rps", "p50_ms", "p99_ms", "single_p50_ms")},
        **{f"base_{k}": med("baseline", k) for k in ("rps", "p50_ms", "p99_ms", "single_p50_ms")},
        "app_single_p99_ms": med("app", "single_p99_ms"),
        **{
            f"{side}_{k}": med(full, k)
            for side, full in (("app", "app"), ("base", "baseline"))
            for k in ("server_cpu_ms_per_req", "postgres_cpu_ms_per_req", "machine_busy")
        },
        "base_single_p99_ms": med("baseline", "single_p99_ms"),
        "errors": sum(r["app"]["errors"] + r["baseline"]["errors"] for r in rows),
        "app_workers_cpu_s": rows[-1]["app"].get("workers_cpu_s", []),
        "base_workers_cpu_s": rows[-1]["baseline"].get("workers_cpu_s", []),
    }


def pgbench_tps(db_name: str, sql: str, clients: int, seconds: int, tmp: Path) -> float:
    """Transactions per second of `pgbench` running `sql` (one statement per transaction)."""
    script = tmp / "users_page.sql"
    script.write_text(" ".join(sql.split()) + ";\n")
    done = subprocess.run(
        [
            "pgbench",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-f",
            str(script),
            db_name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial", done.stdout)
    if not match:
        raise RuntimeError(f"pgbench failed: {done.stderr or done.stdout}")
    return float(match.group(1))


def sqlite_qps(path: str, sql: str, seconds: float) -> float:
    """Queries per second of `sql` on one sqlite3 connection in one thread."""
    conn = sqlite3.connect(path)
    try:
        done, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            conn.execute(sql).fetchall()
            done += 1
    finally:
        conn.close()
    return done / seconds


# ------------------------------------------------------------------------------ profile --
# Where a sample is: the innermost frame matching one of these (function, then file) decides,
# so a query run by the auth dependency counts as a query. Samples outside the request (the
# event loop between callbacks) are split into waiting (epoll) and the rest.
PHASES: list[tuple[str, str]] = [
    ("middleware (the app's stack, outside the route)", r"^call .*bench/pairs\.py"),
    ("routing + FastAPI request handling", r"fastapi/routing\.py|starlette/routing\.py"),
    ("dependencies: page, sort, filters, permission", r"^solve_dependencies "),
    ("dependencies: auth (token, session, principal)", r"app/core/guard\.py|/auth/deps\.py"),
    ("endpoint: service code (scope, page, links)", r"^run_endpoint_function "),
    ("the queries: SQLAlchemy + asyncpg", r"sqlalchemy/|asyncpg|aiosqlite"),
    ("Redis client (session, principal)", r"redis/"),
    ("pydantic: building the models", r"pydantic"),
    ("response: validation + serialisation", r"^(serialize_response|_prepare_response|render) "),
    ("waiting for I/O (epoll)", r"^(select|poll) |selectors\.py"),
]


def classify(stack: list[str]) -> str:
    for frame in reversed(stack):
        for phase, pattern in reversed(PHASES):
            if re.search(pattern, frame):
                return phase
    return "event loop and the rest"


async def _profile(path: str, username: str, password: str, requests: int) -> tuple[Any, float]:
    from pyinstrument import Profiler

    from app.main import create_app

    app = create_app()

    async def call(method: str, url: str, body: bytes = b"", headers: Any = ()) -> bytes:
        raw_path, _, query = url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(chunks)

    import orjson

    async with app.router.lifespan_context(app):
        form = f"username={username}&password={password}".encode()
        answer = orjson.loads(
            await call(
                "POST",
                "/api/v1/auth/login",
                form,
                [(b"content-type", b"application/x-www-form-urlencoded")],
            )
        )
        auth = [(b"authorization", f"Bearer {answer['access_token']}".encode())]
        for _ in range(50):  # warm caches (principal, statement cache, route lookup)
            await call("GET", path, headers=auth)
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        started = time.perf_counter()
        profiler.start()
        for _ in range(requests):
            await call("GET", path, headers=auth)
        profiler.stop()
        elapsed = time.perf_counter() - started
    return profiler, elapsed


def profile_users_page(
    path: str, username: str, password: str, requests: int, out: Path
) -> dict[str, Any]:
    """Profile `requests` sequential requests of `path`; write the pyinstrument text tree to
    `out` and return the split of the sampled time by category."""
    profiler, elapsed = asyncio.run(_profile(path, username, password, requests))
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    split: dict[str, float] = {}
    total = 0.0

    def walk(frame: Any, stack: list[str]) -> None:
        nonlocal total
        here = [*stack, f"{frame.function} {frame.file_path or ''}"]
        own = frame.total_self_time  # includes its synthetic (hidden/await) children
        if own > 0:
            where = classify(here)
            split[where] = split.get(where, 0.0) + own
            total += own
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, here)

    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is not None:
        walk(root, [])
    return {
        "requests": requests,
        "ms_per_request": round(elapsed * 1000 / requests, 2),
        "split_ms_per_request": {
            k: round(v * 1000 / requests, 3) for k, v in sorted(split.items(), key=lambda x: -x[1])
        },
        "sampled_s": round(total, 2),
        "tree": out.name,
    }
