"""`in_values` selects exactly what `IN` selects, on the suite's database, including when
the compiled statement is reused from SQLAlchemy's cache with other values; PostgreSQL gets one
array parameter, the others an expanded IN list, and building it makes no IN list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, event, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.operators import ColumnOperators

from app.core.sql import in_values
from app.modules.system.dept.models import Dept
from tests.support.identity import create_dept


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL and parameters the driver receives while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    sync: Engine = engine.sync_engine
    event.listen(sync, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", record)


async def test_in_values_matches_in_for_every_shape_of_list(app: FastAPI) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        ids = [(await create_dept(db)).id for _ in range(6)]
    cases = [ids[:2], [ids[3]], ids[1:6], [], [ids[2], ids[2], ids[0]], [10**12], ids, []]
    async with app.state.sessionmaker() as db:
        for values in cases:  # one statement shape: the second and later hit the cache
            statement = select(Dept.id).where(in_values(Dept.id, values)).order_by(Dept.id)
            expected = select(Dept.id).where(Dept.id.in_(values)).order_by(Dept.id)
            got = list((await db.execute(statement)).scalars())
            assert got == list((await db.execute(expected)).scalars())
            assert got == sorted(set(values) & set(ids))


async def test_the_database_under_test_gets_its_form(app: FastAPI) -> None:
    """PostgreSQL: `= ANY` with one array parameter, whatever the length; the others: an IN
    list expanded to one parameter per distinct value. Both read the right rows."""
    async with app.state.sessionmaker() as db, db.begin():
        ids = [(await create_dept(db)).id for _ in range(4)]
    engine: AsyncEngine = app.state.engine
    postgresql = engine.dialect.name == "postgresql"
    async with app.state.sessionmaker() as db:
        for values in ([ids[0]], [ids[3], ids[1], ids[3], ids[2]]):
            with statements(engine) as seen:
                statement = select(Dept.id).where(in_values(Dept.id, values)).order_by(Dept.id)
                got = list((await db.execute(statement)).scalars())
            assert got == sorted(set(values))
            sql, params = next((s, p) for s, p in seen if "sys_dept" in s)
            flat = list(params.values()) if isinstance(params, dict) else list(params)
            if postgresql:
                assert "= ANY (" in sql and " IN " not in sql
                assert flat == [sorted(set(values))]  # one parameter: the sorted array
            else:
                assert " IN (" in sql and "ANY" not in sql
                assert sorted(flat) == sorted(set(values))  # one parameter per value


def test_building_one_makes_no_in_list() -> None:
    """The IN list (a coerced parameter per value) costs PostgreSQL time for a form it never
    renders: `in_values` only stores the values; each dialect's form is made at compile time."""
    with patch.object(ColumnOperators, "in_", side_effect=AssertionError("in_() at build time")):
        clause = in_values(Dept.id, range(1, 50))
    assert "IN" in str(select(Dept.id).where(clause).compile())


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite", "mysql"])
def test_postgresql_gets_one_array_parameter_the_others_an_in_list(dialect: str) -> None:
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    compiled = (
        select(Dept.id)
        .where(in_values(Dept.id, [3, 1, 2]))
        .compile(
            dialect={"postgresql": postgresql, "sqlite": sqlite, "mysql": mysql}[dialect].dialect()
        )
    )
    sql = str(compiled)
    if dialect == "postgresql":
        assert "= ANY (" in sql and " IN " not in sql
        assert list(compiled.params.values()) == [[1, 2, 3]]
    else:
        assert " IN " in sql and "ANY" not in sql


@pytest.mark.parametrize("dialect", [mysql.dialect(), sqlite.dialect(), postgresql.dialect()])  # type: ignore[no-untyped-call]
def test_in_values_alone_in_a_where_is_a_plain_predicate(dialect: Any) -> None:
    """`dept_id IN (...)` (the data-scope filter, the link lookups) must stay index-backed:
    never `(dept_id IN (...)) = 1`, which MariaDB and SQLite answer with a full scan."""
    table = Table("t_in_values", MetaData(), Column("id", Integer, primary_key=True))
    alone = select(table.c.id).where(in_values(table.c.id, [1, 2]))
    combined = select(table.c.id).where(in_values(table.c.id, [1]), table.c.id > 0)
    for statement in (alone, combined):
        sql = str(statement.compile(dialect=dialect))
        assert "= 1" not in sql and "= true" not in sql.lower(), sql
