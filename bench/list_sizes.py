"""Size series of the users list: does a page cost more when the table grows?

    python bench/list_sizes.py --sizes 10000,100000,1000000            # PostgreSQL
    python bench/list_sizes.py --database mariadb --sizes 10000,100000
    python bench/list_sizes.py --database sqlite --sizes 10000 --explain
    python bench/list_sizes.py --lists all            # the other lists (bench/list_tables.py)

For each size: a scratch database (dropped afterwards) migrated to head, 111 departments (root,
10 divisions, 100 teams) and N users spread over the teams, seeded in one `INSERT ... SELECT`
(`generate_series` on PostgreSQL, a recursive CTE elsewhere), then analyzed. Then for the
superuser and for a scoped user (data scope: division 0 and its teams, a tenth of the users),
for the default sort and each offered sort, page 1 and a deep cursor page (the row halfway
down): the route's own service call (`service.list_users`, the same SQL as the HTTP route)
`--repeat` times in sequence on one connection. Prints p50 per case, the statements per page,
and with `--explain` the plan of every statement of the page (PostgreSQL: EXPLAIN ANALYZE
BUFFERS, rows and buffers touched; MariaDB/SQLite: EXPLAIN). Writes
`bench/results/<date>-list-sizes-<database>.md`.

No HTTP: the series isolates how the database work grows; `run.py` measures the whole stack.
"""

# ruff: noqa: T201  (a script: prints its table)
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import seed_users  # noqa: E402

SERVERS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306",
}
SORTS = [None, "username", "-username", "name", "-name", "created_at", "id", "-id"]
PAGE_SIZE = 20
SIZES = "10000,100000,1000000"


async def _explain(conn: Any, dialect: str, statement: str, parameters: Any) -> str:
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if dialect == "postgresql" else "EXPLAIN "
    if dialect == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    result = await conn.exec_driver_sql(prefix + statement, parameters)
    return "\n".join("  ".join(str(v) for v in row) for row in result.all())


async def _measure(url: str, scoped_depts: frozenset[int], args: argparse.Namespace) -> list[str]:
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from app.core.access import DataScope, Principal
    from app.core.pagination import encode_cursor
    from app.modules.system.user import repository as repo
    from app.modules.system.user import service
    from app.modules.system.user.router import users_page
    from app.modules.system.user.schemas import UserFilters

    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    dialect = engine.dialect.name
    seen: list[tuple[str, Any]] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, parameters, *_: seen.append((statement, parameters)),
    )
    principals = {
        "superuser": Principal(1, "admin", "s", True, None),
        "scoped": Principal(2, "scoped", "s", False, None, scope=DataScope(dept_ids=scoped_depts)),
    }
    lines: list[str] = []
    try:
        for who, principal in principals.items():
            for sort in SORTS:
                first = await users_page(page=1, page_size=PAGE_SIZE, sort=sort, cursor=None)
                async with sessions() as db:
                    whole = await service.list_users(
                        db,
                        principal,
                        UserFilters(),
                        await users_page(page=1, page_size=1, sort=sort, cursor=None),
                    )
                    # The cursor of the row halfway down (read once, not timed).
                    half = min(whole.total, args.deep_limit) // 2
                    conditions = await repo.scoped_conditions(db, principal, UserFilters())
                    key_cols = [p.expression for p in first.keyset]
                    row = (
                        await db.execute(
                            repo.list_statement(conditions)
                            .with_only_columns(*key_cols)
                            .order_by(*(p.clause for p in first.keyset))
                            .offset(half)
                            .limit(1)
                        )
                    ).one()
                cursor = encode_cursor(first.sort, tuple(row))
                deep = await users_page(page=1, page_size=PAGE_SIZE, sort=sort, cursor=cursor)
                for label, params in (("page 1", first), ("deep", deep)):
                    times = []
                    async with sessions() as db:
                        for _ in range(args.repeat):
                            seen.clear()
                            start = time.perf_counter()
                            page = await service.list_users(db, principal, UserFilters(), params)
                            times.append((time.perf_counter() - start) * 1000)
                            await db.rollback()
                        statements = list(seen)
                    p50 = statistics.median(times)
                    lines.append(
                        f"| {who} | {sort or '-created_at (default)'} | {label} | {p50:.2f} | "
                        f"{len(statements)} | {page.total}{'' if page.total_exact else ' ~'} |"
                    )
                    print(lines[-1], flush=True)
                    if args.explain:
                        async with engine.connect() as conn:
                            for statement, parameters in statements:
                                if statement.lstrip().upper().startswith("EXPLAIN"):
                                    continue  # the count estimate's own EXPLAIN
                                plan = await _explain(conn, dialect, statement, parameters)
                                lines.append(f"\n```\n{statement}\n--\n{plan}\n```\n")
    finally:
        await engine.dispose()
    return lines


async def _scratch(database: str) -> tuple[str, Any]:
    """A fresh database URL and the coroutine function that drops it."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if database == "sqlite":
        folder = tempfile.mkdtemp(prefix="list-sizes-")
        path = Path(folder) / "bench.sqlite"

        async def drop_file() -> None:
            path.unlink(missing_ok=True)

        return f"sqlite+aiosqlite:///{path}", drop_file
    name = f"bench_lists_{uuid.uuid4().hex[:8]}"
    admin_db = "postgres" if database == "postgresql" else "mysql"
    admin = create_async_engine(f"{SERVERS[database]}/{admin_db}", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))

    async def drop() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        await admin.dispose()

    return f"{SERVERS[database]}/{name}", drop


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database", choices=("postgresql", "mariadb", "sqlite"), default="postgresql"
    )
    parser.add_argument("--sizes", default=SIZES)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--deep-limit", type=int, default=10_000_000)
    parser.add_argument("--explain", action="store_true", help="plans of every statement")
    parser.add_argument(
        "--lists",
        default="users",
        help="users (default), or the other lists: 'all' or comma-separated names of "
        "bench/list_tables.py LISTS (PostgreSQL; each at its own sizes)",
    )
    args = parser.parse_args()
    if args.lists != "users":
        await other_lists(args)
        return
    from app.core import migrations

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Users list size series, {args.database}, {stamp}\n"]
    for size in (int(s) for s in args.sizes.split(",")):
        url, drop = await _scratch(args.database)
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            started = time.perf_counter()
            scoped = await seed_users(url, size)
            print(f"## {size} users (seeded in {time.perf_counter() - started:.0f} s)", flush=True)
            out += [
                f"\n## {size:,} users\n",
                "| caller | sort | page | p50 ms | statements | total |",
                "|---|---|---|---:|---:|---:|",
            ]
            out += await _measure(url, scoped, args)
        finally:
            await drop()
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    target = results / f"{datetime.now(UTC):%Y-%m-%d}-list-sizes-{args.database}.md"
    target.write_text("\n".join(out) + "\n")
    print(f"wrote {target}")


async def other_lists(args: argparse.Namespace) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.core import migrations
    from app.core.database import Base
    from bench.list_tables import HEADER, LISTS, measure_list, seed_table

    if args.database != "postgresql":
        raise SystemExit("--lists: PostgreSQL only (generic seeding with generate_series)")
    names = list(LISTS) if args.lists == "all" else [n.strip() for n in args.lists.split(",")]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# List size series, postgresql, {stamp}\n", *HEADER]
    sizes = {name: LISTS[name][3] for name in names}
    if args.sizes != SIZES:  # one series for every list
        sizes = {name: tuple(int(s) for s in args.sizes.split(",")) for name in names}
    for size in sorted({size for name in names for size in sizes[name]}):
        url, drop = await _scratch("postgresql")
        engine = create_async_engine(url)
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            for name in (n for n in names if size in sizes[n]):
                module, model, _, _ = LISTS[name]
                table = Base.metadata.tables[
                    getattr(__import__(module, fromlist=[model]), model).__tablename__
                ]
                started = time.perf_counter()
                await seed_table(engine, table, size)
                print(
                    f"## {name}: {size:,} rows ({time.perf_counter() - started:.0f} s)", flush=True
                )
                out += await measure_list(engine, name, size, args.repeat)
        finally:
            await engine.dispose()
            await drop()
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    target = results / f"{datetime.now(UTC):%Y-%m-%d}-list-sizes-other-lists.md"
    target.write_text("\n".join(out) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    asyncio.run(main())
