"""Latency of the operation-log list at one connection, with 1M rows on PostgreSQL.

    python bench/oplog_latency.py                     # create, seed, measure, drop
    python bench/oplog_latency.py --keep              # ... and keep the database (prints its name)
    python bench/oplog_latency.py --database NAME     # measure an existing seeded database

Creates a scratch database `oplat_<run>` on 127.0.0.1:5432 (user `postgres`), runs `main.py
upgrade` + `init`, seeds `--rows` operation-log rows with bench/run.py's COPY (same shape) and as
many login-log rows, starts `main.py run --env=prod --workers 1`, signs in `admin` and times
`--requests` sequential GETs per scenario through httpx (one connection, keep-alive): page 1,
a deep OFFSET page, the same depth through `cursor`, and a few filtered lists. Prints p50/p90.
The server, the temporary folder, the Redis keys (a unique CACHE_PREFIX) and the database
(unless `--keep`) are removed at the end. Numbers only mean something on an otherwise idle machine.
"""

# A command-line tool run by hand: it prints, runs the app and psql as subprocesses, and
# drops a scratch database.
# ruff: noqa: T201, S603, S607

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402  (needs ROOT on sys.path)
    ADMIN_PASSWORD,
    REDIS_URL,
    _copy_oplog,
    app_env,
    cleanup,
    free_port,
    stop,
    wait_ready,
)

LOGIN_COLUMNS = (
    "username",
    "user_id",
    "event",
    "success",
    "reason",
    "ip",
    "user_agent",
    "browser",
    "os",
    "device",
    "request_id",
    "created_at",
)


async def _copy_login_log(database_url: str, rows: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / max(rows, 1)

    def records(lo: int, hi: int):  # type: ignore[no-untyped-def]
        for i in range(lo, hi):
            ok = i % 20 != 0
            yield (
                f"u{i % 10_000:05d}",
                1 + i % 10_000,
                "login" if i % 10 else "logout",
                ok,
                None if ok else "bad_credentials",
                f"10.0.{i % 256}.{i % 253}",
                "Mozilla/5.0 (bench)",
                "Firefox 128",
                "Linux",
                "pc",
                f"req-{i:08x}",
                start + step * i,
            )

    try:
        for lo in range(0, rows, 200_000):
            await conn.copy_records_to_table(
                "sys_login_log", records=records(lo, min(rows, lo + 200_000)), columns=LOGIN_COLUMNS
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def timed(http: httpx.Client, url: str, headers: dict[str, str], n: int) -> list[float]:
    response = http.get(url, headers=headers)  # warm-up, and a check it answers 200
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = http.get(url, headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--database", default="", help="reuse this seeded database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--seed-only", action="store_true", help="create and seed, then stop")
    args = parser.parse_args()

    run_id = datetime.now(UTC).strftime("%H%M%S") + secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix=f"oplat-{run_id}-"))
    db_name = args.database or f"oplat_{run_id}"
    prefix = f"oplat{run_id}:"
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db_name}"
    env = app_env(database_url, REDIS_URL, prefix, tmp)
    created = False
    app: subprocess.Popen[bytes] | None = None
    try:
        if not args.database:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db_name}"],
                check=True,
            )
            created = True
            for command in ("upgrade", "init"):
                subprocess.run(
                    [sys.executable, "main.py", command, "--env=prod"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            t0 = time.monotonic()
            asyncio.run(_copy_oplog(database_url, args.rows))
            asyncio.run(_copy_login_log(database_url, args.rows))
            print(f"seeded {args.rows:,} + {args.rows:,} rows in {time.monotonic() - t0:.0f}s")
            if args.seed_only:
                print(f"database {db_name} kept")
                created = False
                return 0
        port = free_port()
        log_path = tmp / "app.log"
        with log_path.open("wb") as out:
            app = subprocess.Popen(
                [
                    sys.executable,
                    "main.py",
                    "run",
                    "--env=prod",
                    "--workers",
                    "1",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/api/v1/health/live", app, log_path)
        with httpx.Client(base_url=base, timeout=60) as http:
            login = http.post(
                "/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            size = args.page_size
            deep = max(1, int(args.rows * 0.8) // size)
            lists = "/api/v1/system/operation-logs"
            scenarios = [
                ("reference: auth/me", "/api/v1/auth/me"),
                ("page 1", f"{lists}?page=1&page_size={size}"),
                (f"page {deep} (OFFSET)", f"{lists}?page={deep}&page_size={size}"),
            ]
            before = http.get(f"{lists}?page={deep - 1}&page_size={size}", headers=headers)
            cursor = before.json()["data"].get("next_cursor")
            if cursor:
                scenarios.append(
                    (f"page {deep} (cursor)", f"{lists}?cursor={cursor}&page_size={size}")
                )
            since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            scenarios += [
                ("user_id=77", f"{lists}?user_id=77&page_size={size}"),
                ("success=false", f"{lists}?success=false&page_size={size}"),
                ("method=DELETE", f"{lists}?method=DELETE&page_size={size}"),
                (f"since {since[:10]}", f"{lists}?since={since}&page_size={size}"),
                ("login log page 1", f"/api/v1/system/login-logs?page_size={size}"),
                ("login log user_id=77", f"/api/v1/system/login-logs?user_id=77&page_size={size}"),
            ]
            print(f"{'scenario':<28} {'p50 ms':>8} {'p90 ms':>8}  total (exact)")
            for name, url in scenarios:
                times = timed(http, url, headers, args.requests)
                data = http.get(url, headers=headers).json()["data"]
                p50 = statistics.median(times)
                p90 = statistics.quantiles(times, n=10)[-1]
                total = (
                    f"{data['total']:,} ({data.get('total_exact', True)})"
                    if "total" in data
                    else ""
                )
                print(f"{name:<28} {p50:>8.1f} {p90:>8.1f}  {total}")
        return 0
    finally:
        stop(app)
        if args.keep and created:
            print(f"database {db_name} kept")
            created = False
        cleanup(False, created, db_name, prefix)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
