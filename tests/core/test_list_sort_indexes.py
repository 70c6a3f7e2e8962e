"""Every offered sort of every list has its index, and no list index is left unused
(docs/performance.md, "Lists at any size"; `app/core/sorts.py`).

Derived from the list routes: each list's `pagination()` declaration names its sorts; for the
default sort and each sortable name (in either direction: one index read forwards or backwards
serves both), behind each filter its callers always apply (`leads`), the migrated database
must hold an index (or key) starting with the page's cursor order. A new sort without its
index, or a list that declares its sorts outside its model (`list_sorts`), fails here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Table, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SAWarning

from app.core.database import Base
from app.core.pagination import ListDeclaration
from app.core.sorts import ListSorts, index_columns, list_sorts
from app.modules.example.models import Example
from app.modules.system.operation_log.models import OperationLog
from tests.core.test_list_declarations import EXEMPT, _declarations, _lists
from tests.support.identity import superuser_headers

Key = tuple[str, tuple[str, ...]]  # table, index columns


def _declared(app: FastAPI) -> list[tuple[str, ListDeclaration]]:
    found = []
    for path, dependant in _lists(app):
        if path in EXEMPT:
            continue
        for declaration in _declarations(dependant):
            found.append((str(path), declaration))
    return found


def _needed(sorts: ListSorts) -> set[Key]:
    needed = set()
    for columns in sorts.index_keys():
        table = columns[0].table
        assert isinstance(table, Table)
        needed.add((table.name, tuple(c.name for c in columns)))
    return needed


def _keys_in_database(connection: Connection, tables: set[str]) -> dict[str, list[tuple[str, ...]]]:
    """Per table: the column lists of its indexes, primary key and unique constraints."""
    inspector = inspect(connection)
    with warnings.catch_warnings():  # "Skipped unsupported reflection of expression-based index"
        warnings.simplefilter("ignore", SAWarning)
        return _keys(inspector, tables)


def _keys(inspector: Any, tables: set[str]) -> dict[str, list[tuple[str, ...]]]:
    keys: dict[str, list[tuple[str, ...]]] = {}
    for table in tables:
        found = [tuple(inspector.get_pk_constraint(table)["constrained_columns"])]
        found += [
            tuple(str(c) for c in index["column_names"])
            for index in inspector.get_indexes(table)
            if None not in index["column_names"]  # an expression index (`lower(code)`)
        ]
        found += [
            tuple(str(c) for c in u["column_names"])
            for u in inspector.get_unique_constraints(table)
        ]
        keys[table] = found
    return keys


def missing_indexes(needed: set[Key], keys: dict[str, list[tuple[str, ...]]]) -> list[Key]:
    """The needed orders that no index or key of the table starts with."""
    return sorted(
        (table, columns)
        for table, columns in needed
        if not any(existing[: len(columns)] == columns for existing in keys.get(table, []))
    )


def _all_needed(app: FastAPI) -> tuple[set[Key], list[str]]:
    needed: set[Key] = set()
    undeclared = []
    for path, declaration in _declared(app):
        if declaration.sorts is None:
            undeclared.append(path)  # sorts declared in the router: no index behind them
            continue
        needed |= _needed(declaration.sorts)
    return needed, undeclared


async def test_every_offered_sort_has_its_index_in_the_migrated_database(app: FastAPI) -> None:
    needed, undeclared = _all_needed(app)
    assert undeclared == []
    assert len(needed) >= 40  # the walk finds the lists' sorts
    async with app.state.engine.connect() as connection:
        keys = await connection.run_sync(_keys_in_database, {table for table, _ in needed})
    assert missing_indexes(needed, keys) == []


def test_no_list_index_is_left_unused(app: FastAPI) -> None:
    """Every index that ends with a list's cursor key (`..., id`) is one a list's sort needs,
    and no index is only the first columns of another (the longer one serves it)."""
    needed, _ = _all_needed(app)
    list_tables = {table for table, _ in needed}
    unused, shadowed = [], []
    for table in Base.metadata.sorted_tables:
        if table.name not in list_tables:
            continue
        indexes = [
            tuple(c.name for c in index.columns)
            for index in table.indexes
            if all(isinstance(e, Column) for e in index.expressions) and not index.unique
        ]
        for columns in indexes:
            if columns[-1] == "id" and (table.name, columns) not in needed:
                unused.append((table.name, columns))
            if any(other != columns and other[: len(columns)] == columns for other in indexes):
                shadowed.append((table.name, columns))
    assert unused == []
    assert shadowed == []


def test_the_check_reports_an_offered_sort_without_an_index() -> None:
    """The checks above can fail: a sort whose column has no index is reported, and a lead
    filter turns the needed index into `(lead, sort column, id)`."""
    from app.modules.system.user.models import User

    sorts = ListSorts({"phone": User.phone, "id": User.id}, "phone", User.id)
    needed = _needed(sorts)
    assert needed == {("sys_user", ("phone", "id")), ("sys_user", ("id",))}
    no_index = [("sys_user", ("phone", "id"))]
    assert missing_indexes(needed, {"sys_user": [("id",), ("phone",)]}) == no_index
    assert missing_indexes(needed, {"sys_user": [("id",), ("phone", "id", "name")]}) == []
    led = ListSorts({"phone": User.phone, "id": User.id}, "-phone", User.id, ((), (User.dept_id,)))
    assert ("sys_user", ("dept_id", "phone", "id")) in _needed(led)
    assert ("sys_user", ("dept_id", "id")) in _needed(led)  # sort=id behind the lead
    assert index_columns(led, "id") == (User.__table__.c.id,)


def test_list_sorts_adds_only_missing_indexes() -> None:
    """`list_sorts` leaves alone an order a key already serves (the primary key, a unique
    column) and attaches one index for the rest, named after its columns."""
    from sqlalchemy import Integer, MetaData, String

    table = Table(
        "t_probe_sorts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("code", String(10), unique=True, nullable=False),
        Column("name", String(10), nullable=False),
    )
    list_sorts(
        sortable={"id": table.c.id, "code": table.c.code, "name": table.c.name},
        default="name",
        cursor_key=table.c.id,
    )
    assert {index.name for index in table.indexes} == {"ix_t_probe_sorts_name_id"}


@contextmanager
def _captured(app: FastAPI) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


PAGES = [
    ("/api/v1/system/users", None, "sys_user"),
    ("/api/v1/system/users", "name", "sys_user"),
    ("/api/v1/system/roles", "-name", "sys_role"),
    ("/api/v1/system/dict-data", None, "sys_dict_data"),
    ("/api/v1/files", "-size", "sys_file"),
    ("/api/v1/system/notices", "title", "sys_notice"),
    ("/api/v1/system/operation-logs", "-created_at", "sys_operation_log"),
    # Sorts that page by OFFSET (no cursor on a float or a nullable column) end with the key
    # in their own direction, whatever tiebreaker the route passes: still read from the index.
    ("/api/v1/system/operation-logs", "-duration_ms", "sys_operation_log"),
    ("/api/v1/examples", "-description", "example"),
]


@pytest.mark.parametrize(("path", "sort", "table"), PAGES)
async def test_postgresql_reads_a_page_from_the_index_without_sorting(
    app: FastAPI, client: Any, path: str, sort: str | None, table: str
) -> None:
    """PostgreSQL's plan of the page query reads an index in order and sorts nothing. The
    tables are nearly empty, so sequential scans and sorts are priced out (`enable_seqscan`,
    `enable_sort` off): a plan that still sorts has no index to read the order from."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("the plan check is PostgreSQL's")
    headers = await superuser_headers(app)
    async with app.state.sessionmaker() as db, db.begin():  # an OFFSET page needs a row to read
        db.add(OperationLog(method="GET", path="/", status_code=200, success=True, duration_ms=1))
        db.add(Example(name="a", description="b"))
    params = {"page_size": "5"} | ({"sort": sort} if sort else {})
    with _captured(app) as seen:
        response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page = [
        (s, p)
        for s, p in seen
        if f"FROM {table}" in s and "ORDER BY" in s and "LIMIT" in s and "count(" not in s
    ]
    assert page, seen
    statement, parameters = page[0]
    async with app.state.engine.connect() as connection:
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        await connection.execute(text("SET LOCAL enable_sort = off"))
        plan = (await connection.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
    text_plan = "\n".join(str(row[0]) for row in plan)
    assert "Index" in text_plan and "Sort" not in text_plan, text_plan
