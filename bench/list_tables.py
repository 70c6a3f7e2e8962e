"""Size series of every list but users (PostgreSQL): `python bench/list_sizes.py --lists all`.

Each list's table is filled with N generic rows in one `INSERT ... SELECT generate_series`
(foreign keys not checked: `session_replication_role = replica`; values spread so that no
sort column follows `id`: timestamps and numbers are hashed from the row number, strings are
md5 prefixes, `status` is mostly `active` / `published`, a nullable sort column is NULL on one
row in twenty), then analyzed. For each offered sort (the model's `list_sorts`: the default and
each sortable name, descending), page 1 and a deep page (the cursor of the row halfway down;
a sort that cannot carry a cursor, on a nullable or float column, pages by OFFSET) are read with
`fetch_page` as the route does, without its filters, `--repeat` times; every statement of the
page is then run once under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`.

Reported per case: p50 wall clock (on a loaded machine: queueing, not the list), and from the
plans (independent of load), for the page's row read: its database time, the buffers it
touched, the rows its scans read, whether it sorts or scans the whole table; and for the
capped count (`LIMIT 1001`): its time and the rows it read.
"""

# ruff: noqa: S608, T201  (SQL built from the model's own column names and integers; prints)
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    event,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.core.pagination import _base_type

# name: (models module, model, sorts constant, sizes)
GROWING = (10_000, 100_000, 1_000_000)
CATALOGUE = (1_000, 10_000)
LISTS: dict[str, tuple[str, str, str, tuple[int, ...]]] = {
    "roles": ("app.modules.system.role.models", "Role", "ROLE_SORTS", CATALOGUE),
    "departments": ("app.modules.system.dept.models", "Dept", "DEPT_SORTS", CATALOGUE),
    "positions": ("app.modules.system.position.models", "Position", "POSITION_SORTS", CATALOGUE),
    "menus": ("app.modules.system.menu.models", "Menu", "MENU_SORTS", CATALOGUE),
    "dict types": ("app.modules.system.dict.models", "DictType", "DICT_TYPE_SORTS", CATALOGUE),
    "dict data": ("app.modules.system.dict.models", "DictData", "DICT_DATA_SORTS", CATALOGUE),
    "parameters": ("app.modules.system.param.models", "Param", "PARAM_SORTS", CATALOGUE),
    "jobs": ("app.modules.scheduler.models", "Job", "JOB_SORTS", CATALOGUE),
    "notices": ("app.modules.system.notice.models", "Notice", "NOTICE_SORTS", GROWING),
    "files": ("app.modules.files.models", "StoredFile", "FILE_SORTS", GROWING),
    "job runs": ("app.modules.scheduler.models", "JobRun", "JOB_RUN_SORTS", GROWING),
    "articles": ("app.modules.blog.models", "Article", "ARTICLE_SORTS", GROWING),
    "examples": ("app.modules.example.models", "Example", "EXAMPLE_SORTS", GROWING),
    "operation logs": (
        "app.modules.system.operation_log.models",
        "OperationLog",
        "OPERATION_LOG_SORTS",
        GROWING,
    ),
    "login logs": ("app.modules.system.login_log.models", "LoginLog", "LOGIN_LOG_SORTS", GROWING),
}
HASH = "((g::bigint * 2654435761) % 4294967296)"


def _value(table: Table, name: str) -> str:
    column = table.c[name]
    type_ = _base_type(column.type)
    if column.primary_key:
        value = "g"
    elif name == "status":
        common = "published" if table.name == "sys_notice" else "active"
        value = f"CASE WHEN g % 10 = 0 THEN 'draft' ELSE '{common}' END"
    elif name == "type_code":
        value = "'type' || (g % 50)"
    elif isinstance(type_, DateTime):
        value = f"timestamptz '2020-01-01' + {HASH} % 200000000 * interval '1 second'"
    elif isinstance(type_, Date):
        value = f"date '2020-01-01' + ({HASH} % 3650)::int"
    elif isinstance(type_, Boolean):
        value = "g % 2 = 0"
    elif isinstance(type_, Float | Numeric):
        value = f"({HASH} % 100000) / 10.0"
    elif isinstance(type_, Integer | BigInteger):
        value = "g" if column.unique else f"{HASH} % 1000"
    elif isinstance(type_, JSON):
        value = "'{}'::json"
    elif isinstance(type_, Text):
        value = "'text ' || g"
    elif isinstance(type_, String):
        length = type_.length or 32
        value = f"left(md5(g::text), {min(length, 32)})"
        if length < 32 or column.unique:
            value = f"left('v' || g || md5(g::text), {length})"
    else:
        raise ValueError(f"{table.name}.{name}: no generic value for {type_!r}")
    if column.nullable and not column.primary_key:
        return f"CASE WHEN g % 20 = 0 THEN NULL ELSE {value} END"
    return value


async def seed_table(engine: AsyncEngine, table: Table, n: int) -> None:
    names = list(table.c.keys())
    values = ", ".join(_value(table, name) for name in names)
    statement = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {values} "
        f"FROM generate_series(1, {n}) g"
    )
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(statement))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"VACUUM ANALYZE {table.name}"))


@dataclass
class PlanFigures:
    ms: float = 0.0
    buffers: int = 0
    rows_read: int = 0
    sorts: bool = False
    seq_scans: bool = False


def _walk(node: dict[str, Any], figures: PlanFigures) -> None:
    kind = node.get("Node Type", "")
    if kind in ("Sort", "Incremental Sort"):
        figures.sorts = True
    if kind == "Seq Scan":
        figures.seq_scans = True
    if "Scan" in kind:
        figures.rows_read += int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
        figures.rows_read += int(node.get("Rows Removed by Filter", 0))
    for child in node.get("Plans", []):
        _walk(child, figures)


async def _plan(
    engine: AsyncEngine, statements: list[tuple[str, Any]]
) -> tuple[PlanFigures, PlanFigures]:
    """Plan figures of the page's row read, and of its count (capped at 1,001 rows)."""
    page, count = PlanFigures(), PlanFigures()
    async with engine.connect() as conn:
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith(("EXPLAIN", "SELECT CASE WHEN C.RELTUPLES")):
                continue  # the count estimate: a catalogue read
            figures = count if "count(" in statement.lower() else page
            prefix = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
            row = (await conn.exec_driver_sql(prefix + statement, parameters)).scalar_one()
            plan = row[0] if isinstance(row, list) else row
            figures.ms += float(plan["Execution Time"])
            top = plan["Plan"]
            figures.buffers += int(top.get("Shared Hit Blocks", 0)) + int(
                top.get("Shared Read Blocks", 0)
            )
            _walk(top, figures)
    return page, count


async def measure_list(
    engine: AsyncEngine, name: str, size: int, repeat: int, page_size: int = 20
) -> list[str]:
    from app.core.pagination import LARGE_LIST_EXACT_COUNT, encode_cursor, fetch_page, pagination

    module, model_name, sorts_name, _ = LISTS[name]
    models = import_module(module)
    model, sorts = getattr(models, model_name), getattr(models, sorts_name)
    dependency = pagination(sorts=sorts, exact_count_limit=LARGE_LIST_EXACT_COUNT)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    seen: list[tuple[str, Any]] = []

    def record(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    lines: list[str] = []
    specs = [sorts.default] + [f"-{n}" for n in sorts.sortable if n != sorts.default.lstrip("-")]
    for spec in specs:
        first = await dependency(page=1, page_size=page_size, sort=spec, cursor=None)
        half = size // 2
        if first.keyset:
            async with sessions() as db:
                key = (
                    await db.execute(
                        select(*(p.expression for p in first.keyset))
                        .order_by(*(p.clause for p in first.keyset))
                        .offset(half)
                        .limit(1)
                    )
                ).one()
            cursor = encode_cursor(first.sort, tuple(key))
            deep = await dependency(page=1, page_size=page_size, sort=spec, cursor=cursor)
            deep_label = "deep (cursor)"
        else:
            deep_page = half // page_size + 1
            deep = await dependency(page=deep_page, page_size=page_size, sort=spec, cursor=None)
            deep_label = f"deep (OFFSET {deep.offset:,})"
        for label, params in (("page 1", first), (deep_label, deep)):
            times = []
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            try:
                async with sessions() as db:
                    for _ in range(repeat):
                        seen.clear()
                        started = time.perf_counter()
                        await fetch_page(db, select(model), params, tiebreaker=[model.id])
                        times.append((time.perf_counter() - started) * 1000)
                        await db.rollback()
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", record)
            statements = list(seen)
            plan, count = await _plan(engine, statements)
            flags = ", ".join(
                flag for flag, on in (("sort", plan.sorts), ("seq scan", plan.seq_scans)) if on
            )
            lines.append(
                f"| {name} | {size:,} | {spec} | {label} | {statistics.median(times):.1f} | "
                f"{plan.ms:.2f} | {plan.buffers} | {plan.rows_read:,} | {flags or '-'} | "
                f"{count.ms:.2f} | {count.rows_read:,} |"
            )
            print(lines[-1], flush=True)
    return lines


HEADER = [
    "| list | rows | sort | page | p50 ms (loaded) | page query: DB ms | buffers | rows read | "
    "sort / seq scan | count: DB ms | count: rows read |",
    "|---|---:|---|---|---:|---:|---:|---:|---|---:|---:|",
]
