"""Memory benchmark of the users xlsx export (not a test: run it by hand, see README.md).

    python bench/export_memory.py                       # 100 000 users, fresh SQLite file
    python bench/export_memory.py --rows 20000
    python bench/export_memory.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

1. A child process (`--setup-only`) migrates the database and inserts the users in bulk (one
   precomputed password hash, a department and a role each), so none of that is counted.
2. This process then runs the export through the code path of `GET /users/export?format=xlsx`:
   `service.export_conditions` (superuser, no filters), `transfer.export_rows` and
   `transfer.export_xlsx`, the async generator the route streams, consuming and discarding
   the bytes.
3. Peak RSS is the kernel's high-water mark for this process (`VmHWM`, and `ru_maxrss`); a
   sampler thread also records the largest `VmRSS` seen. The result is PASS when the peak
   stays under the limit (150 MB by default).

The given database is emptied of users first (`--database-url`); use a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from app.core.config import Settings

MB = 1024 * 1024
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - throwaway


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM); 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Records the largest VmRSS seen every `interval` seconds."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak_kib, self.done = interval, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kib = max(self.peak_kib, status_kib("VmRSS"))
            self.done.wait(self.interval)


def settings_for(database_url: str, data_dir: Path) -> Settings:
    from app.core.config import load_settings

    return load_settings(
        "test",
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET,
        redis_url="",
        log_level="WARNING",
    )


# ---------------------------------------------------------------------------- setup --


async def insert_users(database_url: str, rows: int, data_dir: Path) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import delete, insert, literal, select

    from app.core.database import create_engine, utcnow
    from app.modules.system.dept.models import Dept
    from app.modules.system.role.models import Role
    from app.modules.system.user.models import User, user_role

    engine = create_engine(settings_for(database_url, data_dir))
    password_hash = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(
        "bench password that nobody uses"
    )
    now = utcnow()
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(user_role))
            await connection.execute(delete(User))
            await connection.execute(delete(Role).where(Role.code == "bench"))
            await connection.execute(delete(Dept).where(Dept.code.like("bench-%")))
            dept_ids = []
            for i in range(10):
                result = await connection.execute(
                    insert(Dept).values(name=f"Bench {i}", code=f"bench-{i}", path="/")
                )
                dept_ids.append(result.inserted_primary_key[0])  # type: ignore[index]
            role = await connection.execute(insert(Role).values(name="Bench", code="bench"))
            role_id = role.inserted_primary_key[0]  # type: ignore[index]
            chunk = 5000
            for start in range(0, rows, chunk):
                await connection.execute(
                    insert(User),
                    [
                        {
                            "username": f"user{n:06d}",
                            "name": f"User {n}" if n % 97 else f'=HYPERLINK("x","{n}")',
                            "email": f"user{n:06d}@example.com",
                            "phone": f"+1 555 {n:06d}",
                            "status": "active" if n % 10 else "disabled",
                            "dept_id": dept_ids[n % len(dept_ids)],
                            "password_hash": password_hash,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for n in range(start, min(start + chunk, rows))
                    ],
                )
            await connection.execute(
                insert(user_role).from_select(
                    ["user_id", "role_id"], select(User.id, literal(role_id))
                )
            )
    finally:
        await engine.dispose()


def setup(database_url: str, rows: int, data_dir: Path) -> None:
    from app.core import migrations

    migrations.upgrade(database_url)
    asyncio.run(insert_users(database_url, rows, data_dir))


# --------------------------------------------------------------------------- export --


async def export(database_url: str, data_dir: Path) -> tuple[int, int]:
    """Run the route's export generator; returns (rows, bytes)."""
    from app.core.access import DataScope, Principal
    from app.core.database import create_engine, create_sessionmaker
    from app.modules.system.user import service, transfer
    from app.modules.system.user.schemas import UserFilters

    engine = create_engine(settings_for(database_url, data_dir))
    sessionmaker = create_sessionmaker(engine)
    principal = Principal(
        user_id=0,
        username="bench",
        session_id="bench",
        is_superuser=True,
        dept_id=None,
        scope=DataScope(all=True),
    )
    exported = 0

    def progress(_stage: str, done: int) -> None:
        nonlocal exported
        exported = done

    size = 0
    try:
        async with sessionmaker() as db:
            conditions = await service.export_conditions(db, principal, UserFilters())
        rows = transfer.export_rows(sessionmaker, conditions, progress)
        async for chunk in transfer.export_xlsx(rows):
            size += len(chunk)
    finally:
        await engine.dispose()
    return exported, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--limit-mb", type=float, default=150.0)
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fa-bench-") as tmp:
        data_dir = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{(data_dir / 'bench.db').as_posix()}"
        if args.setup_only:
            setup(url, args.rows, data_dir)
            return 0
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - this script, with our own arguments
            [sys.executable, __file__, "--setup-only", "--rows", str(args.rows),
             "--database-url", url],
            check=True,
        )  # fmt: skip
        say(f"setup: {args.rows} users inserted in {time.perf_counter() - started:.1f} s")

        sampler = Sampler()
        sampler.start()
        import app.main  # noqa: F401 - count the application's own footprint, as a server would

        baseline = status_kib("VmRSS") / 1024
        started = time.perf_counter()
        rows, size = asyncio.run(export(url, data_dir))
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()

    peak_kib = max(
        status_kib("VmHWM"), sampler.peak_kib, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )
    peak = peak_kib / 1024
    verdict = "PASS" if peak < args.limit_mb and rows == args.rows else "FAIL"
    python = sys.version.split()[0]
    say(f"rows:            {rows}")
    say(f"bytes:           {size} ({size / MB:.1f} MB xlsx)")
    say(f"seconds:         {seconds:.1f} ({rows / seconds:,.0f} rows/s)")
    say(f"RSS before:      {baseline:.1f} MB (Python + the app's imports)")
    say(f"peak RSS:        {peak:.1f} MB (VmHWM / ru_maxrss, whole process)")
    say(f"result:          {verdict} (limit {args.limit_mb:.0f} MB)")
    say(f"machine:         {os.cpu_count()} CPUs, {os.uname().machine}, Python {python}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
