"""`in_values` selects exactly what `IN` selects, on the suite's database, including when
the compiled statement is reused from SQLAlchemy's cache with other values."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.sql import in_values
from app.modules.system.dept.models import Dept
from tests.support.identity import create_dept


async def test_in_values_matches_in_for_every_shape_of_list(app: FastAPI) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        ids = [(await create_dept(db)).id for _ in range(6)]
    cases = [ids[:2], [ids[3]], ids[1:6], [], [ids[2], ids[2], ids[0]], [10**12]]
    async with app.state.sessionmaker() as db:
        for values in cases:  # one statement shape: the second and later hit the cache
            statement = select(Dept.id).where(in_values(Dept.id, values)).order_by(Dept.id)
            expected = select(Dept.id).where(Dept.id.in_(values)).order_by(Dept.id)
            got = list((await db.execute(statement)).scalars())
            assert got == list((await db.execute(expected)).scalars())
            assert got == sorted(set(values) & set(ids))


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
    else:
        assert " IN " in sql and "ANY" not in sql
