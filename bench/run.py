"""HTTP load benchmark of the app in production shape against a bare baseline server.

    python bench/run.py                      # scale shape: scratch PostgreSQL DB + Redis
    python bench/run.py --shape lite         # SQLite file, in-process cache, 1 worker
    python bench/run.py --duration 10 --connections 32 --workers 2

Steps: create a scratch database (PostgreSQL `bench_<run>` on 127.0.0.1:5432 as `postgres`, or a
temporary SQLite file), `main.py upgrade` + `init`, seed 10k users in a department tree, a
data-scoped role and 1M operation-log rows (COPY on PostgreSQL), start `main.py run --env=prod`
and `bench/baseline.py` with the same number of workers, log in, then load every scenario with
`wrk` on loopback: N connections for `--duration` seconds, then 1 connection for a few seconds.
Writes bench/results/<date>-<shape>.md and .json and prints the table. Every process, the
database, the SQLite file and the Redis keys (a unique CACHE_PREFIX) are removed at the end, also
on failure. Numbers are only meaningful on an otherwise idle machine; never assert them in tests.
"""

# A command-line tool run by hand: it prints, runs wrk/psql/the app as subprocesses on URLs and
# arguments it builds itself, and uses throwaway passwords for a scratch database.
# ruff: noqa: T201, S105, S310, S603, S607

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
# Writes measured again with AUDIT_ENABLED=false (the audit overhead target).
AUDITED = frozenset({"user create", "dept create", "user update"})
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "Quartz7Nimbus4Harbor9Lantern"  # URL-safe: sent as a form field by login.lua
ADMIN_PASSWORD = "Copper5Meadow8Violet3Anchor"
DIVISIONS = 10
TEAMS_PER_DIVISION = 10
LOGIN_USERS = 256  # sign-ins rotate over these accounts (bench/lua/login.lua)


@dataclass
class Seeded:
    scoped_username: str = "bench_scoped"
    login_username: str = "bench_login"
    scoped_dept_id: int = 0
    scoped_dept_path: str = ""
    in_scope_user_id: int = 0
    update_id_min: int = 0
    update_id_max: int = 0
    users: int = 0
    oplog_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------- helpers --
def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, *, token: str = "", body: bytes | None = None, form: bool = False
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = (
            "application/x-www-form-urlencoded" if form else "application/json"
        )
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw[:200]


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited ({proc.returncode}); see {log_path}:\n{tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout:.0f}s; see {log_path}:\n{tail(log_path)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the server (uvicorn stops its own workers), then SIGKILL its tree if needed."""
    if proc is None or proc.poll() is not None:
        return
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


def cpu_snapshot(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            out[pid] = times.user + times.system
        except psutil.Error:
            pass
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds of the processes alive at both ends (short-lived ones are not counted)."""
    return sum(max(0.0, after[pid] - before[pid]) for pid in before.keys() & after.keys())


def tree(proc: subprocess.Popen[bytes]) -> list[int]:
    try:
        return [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    except psutil.Error:
        return [proc.pid]


def named(*names: str) -> list[int]:
    pids = []
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in names:
            pids.append(p.pid)
    return pids


# ---------------------------------------------------------------------- database set-up --
async def seed(database_url: str, oplog_rows: int) -> Seeded:
    """Bulk-insert departments, users, a data-scoped role and operation-log rows."""
    from argon2 import PasswordHasher as Argon2
    from sqlalchemy import func, insert, select, update
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.core.config import Settings
    from app.modules.system.dept.models import Dept
    from app.modules.system.menu.models import Menu
    from app.modules.system.role.models import Role, role_menu
    from app.modules.system.user.models import User, user_role

    settings = Settings()
    out = Seeded()
    pw_hash = Argon2(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        hash_len=32,
        salt_len=16,
    ).hash(PASSWORD)
    dept_t, user_t, role_t = Dept.__table__, User.__table__, Role.__table__
    engine = create_async_engine(database_url)
    started = time.monotonic()
    try:
        async with engine.begin() as conn:
            root_id, root_path = (
                await conn.execute(
                    select(dept_t.c.id, dept_t.c.path).where(dept_t.c.code == "root")
                )
            ).one()
            teams: list[int] = []
            for d in range(DIVISIONS):
                div_id = (
                    await conn.execute(
                        insert(dept_t)
                        .values(parent_id=root_id, name=f"Division {d}", code=f"div-{d}", path="/")
                        .returning(dept_t.c.id)
                    )
                ).scalar_one()
                div_path = f"{root_path}{div_id}/"
                await conn.execute(
                    update(dept_t).where(dept_t.c.id == div_id).values(path=div_path)
                )
                if d == 0:
                    out.scoped_dept_id, out.scoped_dept_path = div_id, div_path
                for t in range(TEAMS_PER_DIVISION):
                    team_id = (
                        await conn.execute(
                            insert(dept_t)
                            .values(
                                parent_id=div_id,
                                name=f"Team {d}.{t}",
                                code=f"team-{d}-{t}",
                                path="/",
                            )
                            .returning(dept_t.c.id)
                        )
                    ).scalar_one()
                    await conn.execute(
                        update(dept_t)
                        .where(dept_t.c.id == team_id)
                        .values(path=f"{div_path}{team_id}/")
                    )
                    teams.append(team_id)

            # A non-superuser role: list + read users, data scope = its department and below.
            menu_ids = (
                await conn.execute(
                    select(Menu.id).where(
                        Menu.permission.in_(["system:user:list", "system:user:read"])
                    )
                )
            ).scalars()
            role_id = (
                await conn.execute(
                    insert(role_t)
                    .values(
                        name="Bench viewer", code="bench-viewer", data_scope="dept_and_children"
                    )
                    .returning(role_t.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(role_menu), [{"role_id": role_id, "menu_id": m} for m in set(menu_ids)]
            )
            std_role = (
                await conn.execute(select(role_t.c.id).where(role_t.c.code == "user"))
            ).scalar_one()

            now = datetime.now(UTC)
            rows = []
            for i in range(10_000):
                rows.append(
                    {
                        "username": f"u{i:05d}",
                        "name": f"User {i}",
                        "email": f"u{i:05d}@bench.example.com",
                        "phone": f"+1555{i:07d}",
                        "status": "active" if i % 20 else "disabled",
                        "dept_id": teams[i % len(teams)],
                        "password_hash": pw_hash,
                        "created_at": now - timedelta(minutes=i),
                        "updated_at": now - timedelta(minutes=i),
                    }
                )
            logins = [(f"{out.login_username}{n:03d}", root_id) for n in range(LOGIN_USERS)]
            for name, dept in [(out.scoped_username, out.scoped_dept_id), *logins]:
                rows.append(
                    {
                        "username": name,
                        "name": name,
                        "email": f"{name}@bench.example.com",
                        "phone": None,
                        "status": "active",
                        "dept_id": dept,
                        "password_hash": pw_hash,
                        "created_at": now - timedelta(days=30),
                        "updated_at": now - timedelta(days=30),
                    }
                )
            await conn.execute(insert(user_t), rows)
            ids = dict(
                (
                    await conn.execute(
                        select(user_t.c.username, user_t.c.id).where(
                            user_t.c.username.in_(
                                [out.scoped_username, *(n for n, _ in logins), "u00000", "u09999"]
                            )
                        )
                    )
                ).all()
            )
            await conn.execute(
                insert(user_role),
                [
                    {"user_id": ids[out.scoped_username], "role_id": role_id},
                    *({"user_id": ids[n], "role_id": std_role} for n, _ in logins),
                ],
            )
            out.in_scope_user_id = ids["u00000"]  # team 0 of division 0: inside the scope
            out.update_id_min, out.update_id_max = ids["u00000"], ids["u09999"]
            out.users = int(
                (await conn.execute(select(func.count()).select_from(user_t))).scalar_one()
            )
        out.seconds["users"] = time.monotonic() - started

        started = time.monotonic()
        if engine.dialect.name == "postgresql":
            await _copy_oplog(database_url, oplog_rows)
        else:
            async with engine.begin() as conn:
                await _sqlite_oplog(conn, oplog_rows)
        out.oplog_rows = oplog_rows
        out.seconds["operation_log"] = time.monotonic() - started
    finally:
        await engine.dispose()
    return out


OPLOG_COLUMNS = (
    "request_id",
    "user_id",
    "username",
    "module",
    "action",
    "method",
    "route",
    "path",
    "query",
    "body",
    "status_code",
    "success",
    "error_message",
    "ip",
    "user_agent",
    "duration_ms",
    "created_at",
)
METHODS = ("GET", "GET", "GET", "POST", "PATCH", "DELETE")


async def _copy_oplog(database_url: str, rows: int) -> None:
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / max(rows, 1)

    def records(lo: int, hi: int) -> Any:
        for i in range(lo, hi):
            method = METHODS[i % len(METHODS)]
            ok = i % 50 != 0
            yield (
                f"req-{i:08x}",
                1 + i % 10_000,
                f"u{i % 10_000:05d}",
                "system",
                f"{method.lower()} users",
                method,
                "/api/v1/system/users/{user_id}",
                f"/api/v1/system/users/{1 + i % 10_000}",
                '{"page": "1"}' if method == "GET" else None,
                '{"remark": "x"}' if method in ("POST", "PATCH") else None,
                200 if ok else 409,
                ok,
                None if ok else "Conflict",
                f"10.0.{i % 256}.{i % 253}",
                "Mozilla/5.0 (bench)",
                float(i % 97) + 0.5,
                start + step * i,
            )

    try:
        chunk = 200_000
        for lo in range(0, rows, chunk):
            await conn.copy_records_to_table(
                "sys_operation_log",
                records=records(lo, min(rows, lo + chunk)),
                columns=OPLOG_COLUMNS,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _sqlite_oplog(conn: Any, rows: int) -> None:
    from sqlalchemy import text

    # One INSERT ... SELECT over a recursive counter: all in SQLite's C code.
    await conn.execute(
        text(
            """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows)
            INSERT INTO sys_operation_log (request_id, user_id, username, module, action,
                method, route, path, query, body, status_code, success, error_message, ip,
                user_agent, duration_ms, created_at)
            SELECT printf('req-%08x', i), 1 + i % 10000, printf('u%05d', i % 10000), 'system',
                'users', CASE WHEN i % 6 = 3 THEN 'POST' WHEN i % 6 = 4 THEN 'PATCH'
                    WHEN i % 6 = 5 THEN 'DELETE' ELSE 'GET' END,
                '/api/v1/system/users/{user_id}', '/api/v1/system/users/' || (1 + i % 10000),
                '{"page": "1"}', NULL, CASE WHEN i % 50 = 0 THEN 409 ELSE 200 END,
                i % 50 != 0, NULL, '10.0.' || (i % 256) || '.' || (i % 253),
                'Mozilla/5.0 (bench)', (i % 97) + 0.5,
                strftime('%Y-%m-%d %H:%M:%S', 'now', '-365 days',
                         printf('+%d seconds', i * 31536000 / :rows)) || '.000000'
            FROM n
            """
        ),
        {"rows": rows},
    )
    await conn.execute(text("ANALYZE"))


def app_env(
    database_url: str, redis_url: str, prefix: str, tmp: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of an app started in production shape for a measurement: a fresh
    secret, this run's database, cache prefix and directories, no rate limits."""
    return {
        **os.environ,
        "APP_ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_PREFIX": prefix,
        "INIT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RATE_LIMIT_ENABLED": "false",
        "DATA_DIR": str(tmp / "data"),
        "FILE_DIR": str(tmp / "files"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **(extra or {}),
    }


def argon2_hash_seconds() -> float:
    """Median seconds of one argon2id hash at the app's default parameters (one thread)."""
    from app.core.config import Settings
    from app.core.security.passwords import PasswordHasher

    hasher = PasswordHasher(Settings())
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        hasher._argon2.hash(PASSWORD)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _verify_for(seconds: float) -> int:
    from app.core.config import Settings
    from app.core.security.passwords import PasswordHasher

    argon2 = PasswordHasher(Settings())._argon2
    digest = argon2.hash(PASSWORD)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        argon2.verify(digest, PASSWORD)
        done += 1
    return done


def argon2_parallel_rps(processes: int, seconds: float = 4.0) -> float:
    """argon2id verifications per second with every core verifying at once: the measured
    hash-bound ceiling (memory-hard hashing slows when the cores share caches and memory)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        counts = list(pool.map(_verify_for, [seconds] * processes))
    return sum(counts) / seconds


# ------------------------------------------------------------------------------ measuring --
@dataclass
class Scenario:
    name: str
    method: str
    path: str
    script: str
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)
    target: str = "app"  # or "baseline"
    expect: int = 200
    note: str = ""


def run_wrk(
    url: str, script: Path, env: dict[str, str], connections: int, threads: int, duration: float
) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=duration + 60
    )
    match = re.search(r"^WRKJSON (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    stats: dict[str, Any] = json.loads(match.group(1))
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def measure(
    sc: Scenario,
    base_url: str,
    script: Path,
    server_pids: list[int],
    args: argparse.Namespace,
    phase: str,
) -> dict[str, Any]:
    env = {"TOKEN": sc.token, **sc.env}
    url = base_url + sc.path
    # Warm-up and a check that the scenario answers what it should (not a 401/403/422).
    if "PREFIX" in env:
        env["PREFIX"] = f"{env['PREFIX']}{phase}w"
    warm = run_wrk(url, script, env, 2, 1, 1)
    if warm["status_errors"] or warm["requests"] == 0:
        raise RuntimeError(f"{sc.name}: {warm['status_errors']} error responses in the warm-up")
    db_pids = named("postgres", "redis-server")
    pg = [p for p in db_pids if psutil.Process(p).name() == "postgres"]
    rd = [p for p in db_pids if p not in pg]
    before = (cpu_snapshot(server_pids), cpu_snapshot(pg), cpu_snapshot(rd))
    machine_before = psutil.cpu_times()
    if "PREFIX" in env:
        env["PREFIX"] = f"{sc.env['PREFIX']}{phase}c"
    loaded = run_wrk(url, script, env, args.connections, args.wrk_threads, args.duration)
    after = (cpu_snapshot(server_pids), cpu_snapshot(pg), cpu_snapshot(rd))
    machine_after = psutil.cpu_times()
    if "PREFIX" in env:
        env["PREFIX"] = f"{sc.env['PREFIX']}{phase}s"
    single = run_wrk(url, script, env, 1, 1, args.single_duration)
    wall = loaded["duration_us"] / 1e6
    n = max(loaded["requests"], 1)
    app_cpu, pg_cpu, redis_cpu = (cpu_used(b, a) for b, a in zip(before, after, strict=True))
    from bench.pairs import worker_cpu

    return {
        "workers_cpu_s": worker_cpu(before[0], after[0], server_pids[0]),
        # Share of all cores busy during the loaded run (every process: wrk, servers, databases).
        "machine_busy": round(
            1
            - (machine_after.idle - machine_before.idle)
            / max(sum(machine_after) - sum(machine_before), 1e-9),
            3,
        ),
        "scenario": sc.name,
        "request": f"{sc.method} {sc.path}",
        "server": sc.target,
        "note": sc.note,
        "rps": round(loaded["rps"], 1),
        "p50_ms": loaded["p50_us"] / 1000,
        "p99_ms": loaded["p99_us"] / 1000,
        "requests": loaded["requests"],
        "errors": loaded["status_errors"] + loaded["socket_errors"] + loaded["timeouts"],
        "single_p50_ms": single["p50_us"] / 1000,
        "single_p99_ms": single["p99_us"] / 1000,
        "single_rps": round(single["rps"], 1),
        "server_cpu_cores": round(app_cpu / wall, 2),
        "server_cpu_ms_per_req": round(app_cpu * 1000 / n, 3),
        "postgres_cpu_ms_per_req": round(pg_cpu * 1000 / n, 3),
        "redis_cpu_ms_per_req": round(redis_cpu * 1000 / n, 3),
    }


def script_for(name: str, tmp: Path) -> Path:
    path = tmp / f"{name}.lua"
    if not path.exists():
        path.write_text((LUA / f"{name}.lua").read_text() + "\n" + (LUA / "report.lua").read_text())
    return path


# ---------------------------------------------------------------------------------- main --
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--shape", choices=["scale", "lite"], default="scale")
    parser.add_argument("--duration", type=float, default=8, help="seconds per loaded run")
    parser.add_argument("--single-duration", type=float, default=3, help="seconds at 1 connection")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--oplog-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--no-audit-compare",
        action="store_true",
        help="skip the second app start with AUDIT_ENABLED=false",
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="measure me, both users pages and health as N alternating app/baseline pairs, "
        "plus the ceiling (static route, the database's own rate); other scenarios once",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="profile N sequential superuser users-page requests in-process (pyinstrument)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    lite = args.shape == "lite"
    if lite:
        args.workers = 1  # no Redis: one process (the app refuses more)

    run_id = datetime.now(UTC).strftime("%H%M%S") + secrets.token_hex(3)
    stem = f"{datetime.now(UTC):%Y-%m-%d}-{args.shape}"
    if args.pairs:
        stem += f"-w{args.workers}-pairs-{datetime.now(UTC):%H%M}"
    tmp = Path(tempfile.mkdtemp(prefix=f"fastapiadmin-bench-{run_id}-"))
    db_name = f"bench_{run_id}"
    prefix = f"bench{run_id}:"
    if lite:
        database_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        baseline_dsn = f"sqlite:///{tmp / 'bench.db'}"
    else:
        database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db_name}"
        baseline_dsn = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    env = app_env(
        database_url,
        "" if lite else REDIS_URL,
        prefix,
        tmp,
        {"ACCESS_TOKEN_TTL": "7200", "SESSION_IDLE_TIMEOUT": "7200", "LOG_LEVEL": "INFO"},
    )
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    python = sys.executable
    procs: dict[str, subprocess.Popen[bytes] | None] = {"app": None, "baseline": None}
    db_created = False
    try:
        if not lite:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db_name}"],
                check=True,
            )
            db_created = True
        log(f"{args.shape} shape, database {database_url}, cache prefix {prefix!r}")
        for command in ("upgrade", "init"):
            subprocess.run(
                [python, "main.py", command, "--env=prod"],
                cwd=ROOT,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        seeded = asyncio.run(seed(database_url, args.oplog_rows))
        log(
            f"seeded {seeded.users} users in {seeded.seconds['users']:.1f}s, "
            f"{seeded.oplog_rows} operation-log rows in {seeded.seconds['operation_log']:.1f}s"
        )

        def start_app(extra: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
            port = free_port()
            path = tmp / f"app-{port}.log"
            with path.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        python,
                        "main.py",
                        "run",
                        "--env=prod",
                        "--workers",
                        str(args.workers),
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env={**env, **extra},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs["app"] = proc
            url = f"http://127.0.0.1:{port}"
            wait_ready(url + "/api/v1/health/live", proc, path)
            time.sleep(1.0)  # let every worker finish its start-up
            return url, proc

        app_url, app_proc = start_app({})
        port = free_port()
        base_log = tmp / "baseline.log"
        with base_log.open("wb") as out:
            procs["baseline"] = subprocess.Popen(
                [
                    python,
                    "-m",
                    "uvicorn",
                    "baseline:app",
                    "--app-dir",
                    str(BENCH),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env={**env, "BENCH_DSN": baseline_dsn, "BENCH_DEPT_PATH": seeded.scoped_dept_path},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url + "/users", procs["baseline"], base_log)

        def login(username: str, password: str) -> str:
            body = urllib.parse.urlencode({"username": username, "password": password}).encode()
            status, data = http("POST", app_url + "/api/v1/auth/login", body=body, form=True)
            if status != 200:
                raise RuntimeError(f"login {username}: {status} {data}")
            return str(data["access_token"])

        admin = login("admin", ADMIN_PASSWORD)
        scoped = login(seeded.scoped_username, PASSWORD)
        status, data = http(
            "GET", app_url + "/api/v1/system/users?page=1&page_size=20", token=scoped
        )
        scoped_total = data["data"]["total"] if status == 200 else None
        log(f"scoped user sees {scoped_total} users (status {status})")

        deep_page = max(2, int(seeded.oplog_rows * 0.8) // 20)
        # A deep page is read by cursor (docs/http.md, "Lists"): one OFFSET request to the
        # page before it hands out the cursor that wrk then requests over and over.
        status, data = http(
            "GET",
            app_url + f"/api/v1/system/operation-logs?page={deep_page - 1}&page_size=20",
            token=admin,
        )
        deep_cursor = data["data"]["next_cursor"] if status == 200 else None
        if not deep_cursor:
            raise RuntimeError(f"no cursor for the deep operation-log page: {status} {data}")
        audit_env = {
            "PREFIX": f"b{run_id}",
            "PASSWORD": PASSWORD,
            "DEPT": str(seeded.scoped_dept_id),
        }
        upd_env = {"ID_MIN": str(seeded.update_id_min), "ID_MAX": str(seeded.update_id_max)}
        scenarios = [
            Scenario(
                "baseline",
                "GET",
                "/users",
                "get",
                scoped,
                target="baseline",
                note="JWT check + 20 rows, raw driver",
            ),
            Scenario("me", "GET", "/api/v1/auth/me", "get", scoped, note="data-scoped user"),
            Scenario(
                "users list",
                "GET",
                "/api/v1/system/users?page=1&page_size=20",
                "get",
                scoped,
                note=f"data-scoped user (dept_and_children, {scoped_total} rows)",
            ),
            Scenario(
                "users list (superuser)",
                "GET",
                SUPERUSER_PAGE,
                "get",
                admin,
                note=f"superuser, the console's query, all {seeded.users:,} users",
            ),
            Scenario("health", "GET", "/api/v1/health/live", "get", note="no token"),
            Scenario(
                "user read",
                "GET",
                f"/api/v1/system/users/{seeded.in_scope_user_id}",
                "get",
                scoped,
                note="data-scoped user, row in scope",
            ),
            Scenario(
                "user create",
                "POST",
                "/api/v1/system/users",
                "create_user",
                admin,
                env=audit_env,
                expect=201,
                note="superuser, audit on, argon2id hash",
            ),
            Scenario(
                "dept create",
                "POST",
                "/api/v1/system/depts",
                "create_dept",
                admin,
                env={"PREFIX": f"d{run_id}", "DEPT": str(seeded.scoped_dept_id)},
                expect=201,
                note="superuser, audit on, no password hash",
            ),
            Scenario(
                "user update",
                "PATCH",
                "/api/v1/system/users/{id}",
                "update_user",
                admin,
                env=upd_env,
                note="superuser, audit on",
            ),
            Scenario(
                "login",
                "POST",
                "/api/v1/auth/login",
                "login",
                env={
                    "USERNAME": seeded.login_username,
                    "LOGIN_USERS": str(LOGIN_USERS),
                    "PASSWORD": PASSWORD,
                },
                note=f"form login over {LOGIN_USERS} accounts, argon2id verify",
            ),
            Scenario(
                "op-log page 1",
                "GET",
                "/api/v1/system/operation-logs?page=1&page_size=20",
                "get",
                admin,
                note=f"superuser, {seeded.oplog_rows:,} rows",
            ),
            Scenario(
                "op-log deep page",
                "GET",
                f"/api/v1/system/operation-logs?cursor={deep_cursor}&page_size=20",
                "get",
                admin,
                note=f"the rows of page {deep_page} ({(deep_page - 1) * 20:,} rows in), by cursor",
            ),
        ]
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        if only:
            scenarios = [s for s in scenarios if s.name in only or s.name == "baseline"]

        results: list[dict[str, Any]] = []
        paired: list[dict[str, Any]] = []
        ceiling: dict[str, Any] = {}
        if args.pairs:
            from bench.pairs import run_pairs

            for sc in [s for s in scenarios if s.name in PAIRED]:
                base_sc = Scenario(
                    f"baseline {PAIRED[sc.name]}", "GET", PAIRED[sc.name], "get", scoped
                )

                def one(side: str, sc: Scenario = sc, base_sc: Scenario = base_sc) -> Any:
                    if side == "app":
                        return measure(
                            sc, app_url, script_for("get", tmp), tree(app_proc), args, "a"
                        )
                    base = procs["baseline"]
                    assert base is not None
                    return measure(base_sc, base_url, script_for("get", tmp), tree(base), args, "b")

                paired.append(run_pairs(one, sc.name, args.pairs))
            ceiling = measure_ceiling(args, lite, db_name, tmp, seeded, paired, base_url)
            scenarios = [s for s in scenarios if s.name not in PAIRED]
        for sc in scenarios:
            target = base_url if sc.target == "baseline" else app_url
            proc = procs["baseline"] if sc.target == "baseline" else app_proc
            assert proc is not None
            path = sc.path.replace("/{id}", "/0") if "{id}" in sc.path else sc.path
            row = measure(
                Scenario(**{**sc.__dict__, "path": path}),
                target,
                script_for(sc.script, tmp),
                tree(proc),
                args,
                "a",
            )
            row["request"] = f"{sc.method} {sc.path}"
            results.append(row)
            log(
                f"{sc.name}: {row['rps']} req/s, p50 {row['p50_ms']:.1f} ms, "
                f"p99 {row['p99_ms']:.1f} ms, 1-conn p50 {row['single_p50_ms']:.1f} ms"
            )

        if not args.no_audit_compare and (not only or only & AUDITED):
            stop(app_proc)
            app_url, app_proc = start_app({"AUDIT_ENABLED": "false"})
            admin = login("admin", ADMIN_PASSWORD)
            for sc in scenarios:
                if sc.name not in AUDITED:
                    continue
                path = sc.path.replace("/{id}", "/0")
                row = measure(
                    Scenario(
                        **{
                            **sc.__dict__,
                            "path": path,
                            "token": admin,
                            "name": f"{sc.name} (audit off)",
                            "note": "AUDIT_ENABLED=false",
                        }
                    ),
                    app_url,
                    script_for(sc.script, tmp),
                    tree(app_proc),
                    args,
                    "n",
                )
                row["request"] = f"{sc.method} {sc.path}"
                results.append(row)
                log(f"{row['scenario']}: {row['rps']} req/s")

        baseline_rps = results[0]["rps"] if results and results[0]["server"] == "baseline" else 0
        for row in results:
            row["ratio"] = round(row["rps"] / baseline_rps, 3) if baseline_rps else None
        if args.profile:
            from bench.pairs import profile_users_page

            stop(procs["app"])
            stop(procs["baseline"])
            profile = profile_users_page(
                SUPERUSER_PAGE,
                "admin",
                ADMIN_PASSWORD,
                args.profile,
                RESULTS / f"{stem}-profile.txt",
            )
        hash_s = argon2_hash_seconds()
        parallel_rps = argon2_parallel_rps(os.cpu_count() or 1)
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "shape": args.shape,
            "machine": machine(),
            "settings": {
                "workers": args.workers,
                "connections": args.connections,
                "wrk_threads": args.wrk_threads,
                "duration_s": args.duration,
                "single_duration_s": args.single_duration,
            },
            "data": {
                "users": seeded.users,
                "operation_log_rows": seeded.oplog_rows,
                "scoped_user_visible_users": scoped_total,
                "seed_seconds": {k: round(v, 1) for k, v in seeded.seconds.items()},
            },
            "argon2id_hash_ms": round(hash_s * 1000, 1),
            "login_ceiling_rps": round((os.cpu_count() or 1) / hash_s, 1),
            "login_ceiling_parallel_rps": round(parallel_rps, 1),
            "results": results,
            "pairs": paired,
            "ceiling": ceiling,
            "profile": profile if args.profile else None,
            "stem": stem,
        }
        write_report(report)
        return 0
    except BaseException:
        for path in sorted(tmp.glob("*.log")):
            print(f"--- last lines of {path.name}:\n{tail(path, 8)}", file=sys.stderr)
        raise
    finally:
        stop(procs["app"])
        stop(procs["baseline"])
        cleanup(lite, db_created, db_name, prefix)
        shutil.rmtree(tmp, ignore_errors=True)


SUPERUSER_PAGE = "/api/v1/system/users?page=1&page_size=20&sort=-created_at"
# Paired scenarios and the baseline route each is compared with.
PAIRED = {
    "me": "/users",
    "users list": "/users",
    "users list (superuser)": "/users",
    "health": "/static",
}


def measure_ceiling(
    args: argparse.Namespace,
    lite: bool,
    db_name: str,
    tmp: Path,
    seeded: Seeded,
    paired: list[dict[str, Any]],
    base_url: str,
) -> dict[str, Any]:
    """What bounds the baseline: the server's own rate (`/static`) and the database's."""
    from bench.pairs import SCOPED_SQL, UNSCOPED_SQL, pgbench_tps, sqlite_qps

    sql = SCOPED_SQL.format(pattern=seeded.scoped_dept_path + "%")
    out: dict[str, Any] = {"connections": args.connections}
    static = [p for p in paired if p["scenario"] == "health"]
    if static:
        out["static_rps"] = static[0]["base_rps"]
    else:
        row = run_wrk(
            base_url + "/static",
            script_for("get", tmp),
            {"TOKEN": ""},
            args.connections,
            args.wrk_threads,
            args.duration,
        )
        out["static_rps"] = round(row["rps"], 1)
    users = [p for p in paired if PAIRED[p["scenario"]] == "/users"]
    if users:
        out["baseline_rps"] = statistics.median(
            pair["baseline"]["rps"] for p in users for pair in p["pairs"]
        )
    if lite:
        path = os.environ["DATABASE_URL"].split("///", 1)[1]
        out["database"] = "sqlite3, one thread, in this process"
        out["database_qps"] = round(sqlite_qps(path, sql, args.duration), 1)
    else:
        out["database"] = f"pgbench -M prepared -c {args.connections}"
        out["database_qps"] = pgbench_tps(db_name, sql, args.connections, int(args.duration), tmp)
        out["database_qps_unscoped"] = pgbench_tps(
            db_name, UNSCOPED_SQL, args.connections, int(args.duration), tmp
        )
    log(f"ceiling: {out}")
    return out


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "postgresql": pg,
        "wrk": (wrk.stdout or wrk.stderr or "wrk").splitlines()[0].split(" [")[0],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def cleanup(lite: bool, db_created: bool, db_name: str, prefix: str) -> None:
    if db_created:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)",
            ],
            check=False,
        )
    if not lite:
        try:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
            client.close()
        except Exception as exc:  # cleanup must not hide the real error
            print(f"redis cleanup failed: {exc}", file=sys.stderr)


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Each target of issue 7 with what this run measured (None: scenario not run)."""
    rows = {r["scenario"]: r for r in report["results"]}
    out: list[tuple[str, str, bool | None]] = []

    pairs = {p["scenario"]: p for p in report.get("pairs") or []}

    def ratio(name: str, goal: float) -> None:
        row = rows.get(name)
        value = row["ratio"] if row else None
        if name in pairs:
            value = pairs[name]["ratio_median"]
        out.append(
            (
                f"{name}: >= {goal} x baseline",
                "-" if value is None else f"{value:.2f}",
                None if value is None else value >= goal,
            )
        )

    ratio("users list", 0.6)
    ratio("users list (superuser)", 0.6)
    ratio("me", 0.7)
    ratio("dept create", 0.35)
    ratio("user update", 0.35)
    for name in sorted(AUDITED):
        on, off = rows.get(name), rows.get(f"{name} (audit off)")
        if on and off and off["rps"]:
            cost = 1 - on["rps"] / off["rps"]
            out.append((f"{name}: audit costs <= 15 %", f"{cost:.0%}", cost <= 0.15))
    login = rows.get("login")
    if login:
        share = login["rps"] / report["login_ceiling_rps"]
        out.append(
            (
                "login: >= 85 % of the hash-bound ceiling",
                f"{share:.0%} of {report['login_ceiling_rps']} req/s",
                share >= 0.85,
            )
        )
        parallel = report.get("login_ceiling_parallel_rps")
        if parallel:
            out.append(
                (
                    "login vs argon2id verifications/s measured on all cores at once",
                    f"{login['rps'] / parallel:.0%} of {parallel} req/s",
                    None,
                )
            )
    create = rows.get("user create")
    if create:
        share = create["rps"] / report["login_ceiling_rps"]
        out.append(
            (
                "user create (hashes a password): share of the hash-bound ceiling",
                f"{share:.0%}",
                None,
            )
        )
    for name in ("op-log page 1", "op-log deep page"):
        row = rows.get(name)
        if row:
            p50 = row["single_p50_ms"]
            out.append((f"{name}: p50 <= 10 ms at 1 connection", f"{p50:.1f} ms", p50 <= 10))
    return out


def write_report(report: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    stem = report["stem"]
    m, d = report["machine"], report["data"]
    lines = [
        f"# Bench {report['shape']} shape, {report['date']}",
        "",
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"PostgreSQL {m['postgresql'] or '-'}, {m['wrk']}. "
        f"{report['settings']['workers']} app worker(s), same for the baseline; "
        f"{report['settings']['connections']} connections for "
        f"{report['settings']['duration_s']:g} s, then 1 connection for "
        f"{report['settings']['single_duration_s']:g} s. {d['users']:,} users, "
        f"{d['operation_log_rows']:,} operation-log rows. One argon2id hash: "
        f"{report['argon2id_hash_ms']} ms, so the login ceiling is "
        f"{report['login_ceiling_rps']} req/s (all cores verifying at once measured "
        f"{report.get('login_ceiling_parallel_rps', '-')} verifications/s).",
        "",
        "| scenario | request | req/s @32 | p50 ms | p99 ms | vs baseline | p50 ms @1 | "
        "app CPU cores | app CPU ms/req | PG CPU ms/req | Redis CPU ms/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        lines.append(
            f"| {r['scenario']} | `{r['request']}` | {r['rps']:,.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {ratio} | {r['single_p50_ms']:.1f} | {r['server_cpu_cores']} | "
            f"{r['server_cpu_ms_per_req']:.2f} | {r['postgres_cpu_ms_per_req']:.2f} | "
            f"{r['redis_cpu_ms_per_req']:.2f} | {r['errors']} |"
        )
    lines += ["", "| target (issue 7) | measured | status |", "|---|---|---|"]
    for target, measured, met in targets(report):
        status = "-" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {target} | {measured} | {status} |")
    lines += pairs_lines(report)
    text = "\n".join(lines) + "\n"
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(text)
    print(f"written: {RESULTS / stem}.md and .json")


def pairs_lines(report: dict[str, Any]) -> list[str]:
    """The alternating pairs, the ceiling and the profile, when the run made them."""
    lines: list[str] = []
    if report.get("pairs"):
        lines += [
            "",
            f"Alternating pairs ({len(report['pairs'][0]['pairs'])} per scenario, app then "
            "baseline; medians over the pairs; ratio per pair):",
            "",
            "| scenario | app req/s | baseline req/s | ratio median (min-max) | ratios per pair | "
            "app p50 / p99 ms @32 | baseline p50 / p99 ms @32 | app p50 / p99 ms @1 | "
            "baseline p50 / p99 ms @1 | server CPU ms/req app / baseline | "
            "PG CPU ms/req app / baseline | machine busy app / baseline | "
            "app CPU s per worker | errors |",
            "|---|---:|---:|---|---|---|---|---|---|---|---|---|---|---:|",
        ]
        for p in report["pairs"]:
            per = ", ".join(f"{r['ratio']:.2f}" for r in p["pairs"])
            lines.append(
                f"| {p['scenario']} vs `{p['pairs'][0]['baseline']['request']}` | "
                f"{p['app_rps']:,.0f} | {p['base_rps']:,.0f} | {p['ratio_median']:.2f} "
                f"({p['ratio_min']:.2f}-{p['ratio_max']:.2f}) | {per} | "
                f"{p['app_p50_ms']:.1f} / {p['app_p99_ms']:.1f} | "
                f"{p['base_p50_ms']:.1f} / {p['base_p99_ms']:.1f} | "
                f"{p['app_single_p50_ms']:.1f} / {p['app_single_p99_ms']:.1f} | "
                f"{p['base_single_p50_ms']:.1f} / {p['base_single_p99_ms']:.1f} | "
                f"{p['app_server_cpu_ms_per_req']:.2f} / {p['base_server_cpu_ms_per_req']:.2f} | "
                f"{p['app_postgres_cpu_ms_per_req']:.2f} / "
                f"{p['base_postgres_cpu_ms_per_req']:.2f} | "
                f"{p['app_machine_busy']:.0%} / {p['base_machine_busy']:.0%} | "
                f"{p['app_workers_cpu_s']} | {p['errors']} |"
            )
    c = report.get("ceiling")
    if c:
        lines += [
            "",
            f"Ceiling at {c['connections']} connections: baseline `/users` "
            f"{c.get('baseline_rps', 0):,.0f} req/s; the same server's `/static` (fixed body, "
            f"no token, no database) {c['static_rps']:,.0f} req/s; the database alone "
            f"({c['database']}) {c['database_qps']:,.0f} queries/s of the baseline's query"
            + (
                f", {c['database_qps_unscoped']:,.0f} of the same without the scope filter"
                " (the superuser's 20 newest users)."
                if "database_qps_unscoped" in c
                else "."
            ),
        ]
    prof = report.get("profile")
    if prof:
        lines += [
            "",
            f"Profile: {prof['requests']} sequential superuser users-page requests in-process "
            f"(pyinstrument, no HTTP server), {prof['ms_per_request']} ms each; tree in "
            f"`{prof['tree']}`.",
            "",
            "| where (innermost recognised frame) | ms per request |",
            "|---|---:|",
        ]
        for where, ms in prof["split_ms_per_request"].items():
            lines.append(f"| {where} | {ms:.2f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
