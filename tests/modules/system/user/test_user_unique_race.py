"""Usernames and e-mail addresses are unique regardless of case, also under a race
(docs/security-checklist.md §0 #18, §5.3 F17): the database enforces it (unique indexes on
`lower(...)` on
PostgreSQL and SQLite, case-insensitive collations on MariaDB/MySQL), the service's lookups
use those indexes, and the loser of a race gets the same 409 naming the field as a
sequential duplicate.

The requests run concurrently (`asyncio.gather`) against the app and its real connection
pool: on PostgreSQL and MariaDB each request has its own connection and transaction.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.modules.system.user import repository as repo
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import GOOD_PASSWORD, USERS
from tests.support.identity import password_hash, superuser_headers

RACERS = 20


def case_variants(word: str, count: int) -> list[str]:
    """`count` distinct spellings of `word` that differ only in case."""
    spellings = (
        "".join(c.upper() if upper else c for c, upper in zip(word, mask, strict=True))
        for mask in itertools.product((False, True), repeat=len(word))
    )
    variants = list(itertools.islice(spellings, count))
    assert len(variants) == count
    return variants


def fields(response: httpx.Response) -> list[str | None]:
    return [error.get("field") for error in response.json().get("errors", [])]


async def rows_where(app: FastAPI, condition: Any) -> int:
    async with app.state.sessionmaker() as db:
        return int(
            (await db.execute(select(func.count()).select_from(User).where(condition))).scalar_one()
        )


@pytest.mark.parametrize("field", ["username", "email"])
async def test_concurrent_creates_of_case_variants_give_one_201(
    app: FastAPI, client: httpx.AsyncClient, field: str
) -> None:
    """§5.3 F17: 20 concurrent creates of `alice`, `Alice`, `aLice`, ... (as username, or as
    the e-mail address of 20 different usernames) give exactly one 201 and nineteen 409
    naming the field; zero 5xx; one row."""
    headers = await superuser_headers(app)
    if field == "username":
        bodies = [
            {"username": name, "name": "Racer", "password": GOOD_PASSWORD}
            for name in case_variants("racealice", RACERS)
        ]
        condition = func.lower(User.username) == "racealice"
    else:
        bodies = [
            {"username": f"racer{i}", "name": "Racer", "email": email, "password": GOOD_PASSWORD}
            for i, email in enumerate(case_variants("alice@race.example", RACERS))
        ]
        condition = func.lower(User.email) == "alice@race.example"
    responses = await asyncio.gather(
        *(client.post(USERS, json=body, headers=headers) for body in bodies)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (RACERS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            assert fields(response) == [field], response.json()
            assert response.json()["type"] == "duplicate"
    assert await rows_where(app, condition) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"username": "Bob.Case"}, {"username": "bob.case"}),
        (
            {"username": "carol1", "email": "Carol@Case.example"},
            {"username": "carol2", "email": "carol@case.EXAMPLE"},
        ),
    ],
    ids=["username", "email"],
)
async def test_the_database_refuses_a_case_variant_by_itself(
    app: FastAPI, first: dict[str, str], second: dict[str, str]
) -> None:
    """The rule holds below the service: a second row differing only in case is a unique
    violation on every database (a lower() index or a case-insensitive collation), so no
    code path that skips the service's check (an import, a script) can make one."""
    common: dict[str, object] = {"name": "Case", "password_hash": password_hash()}
    common |= {"status": "active", "is_superuser": False, "must_change_password": False}
    common |= {"mfa_enabled": False}
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(insert(User).values(**common, **first))
    with pytest.raises(IntegrityError):
        async with app.state.sessionmaker() as db, db.begin():
            await db.execute(insert(User).values(**common, **second))


@contextmanager
def captured(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL and parameters the driver receives while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


LOOKUPS: dict[str, tuple[Callable[[AsyncSession], Awaitable[object]], str]] = {
    "username_taken": (
        lambda db: repo.username_taken(db, "Somebody"),
        "uq_sys_user_lower_username",
    ),
    "email_taken": (
        lambda db: repo.email_taken(db, "Some@Body.example", exclude_id=1),
        "uq_sys_user_lower_email",
    ),
    "taken_usernames": (
        lambda db: repo.taken_usernames(db, ["A.b", "c.D"]),
        "uq_sys_user_lower_username",
    ),
    "taken_emails": (
        lambda db: repo.taken_emails(db, ["a@B.example", "C@d.example"]),
        "uq_sys_user_lower_email",
    ),
}


@pytest.mark.parametrize("lookup", LOOKUPS.values(), ids=LOOKUPS.keys())
async def test_duplicate_lookups_use_the_lower_index(
    app: FastAPI, lookup: tuple[Callable[[AsyncSession], Awaitable[object]], str]
) -> None:
    """The service's duplicate checks compare the indexed expression, so they read the index
    instead of scanning every user (PostgreSQL: EXPLAIN with sequential scans disabled, as a
    table this small would otherwise be scanned anyway; SQLite: EXPLAIN QUERY PLAN).
    MariaDB compares `username`/`email` through their case-insensitive collation."""
    run, index = lookup
    engine: AsyncEngine = app.state.engine
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        pytest.skip("MariaDB/MySQL: the collation makes the plain unique indexes ignore case")
    async with app.state.sessionmaker() as db:
        with captured(engine) as seen:
            await run(db)
    sql, params = next((s, p) for s, p in seen if "sys_user" in s)
    async with engine.connect() as connection:
        if dialect == "postgresql":
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        plan = (await connection.exec_driver_sql(explain + sql, params)).all()
    text_plan = "\n".join(" ".join(str(part) for part in row) for row in plan)
    assert index in text_plan, text_plan


async def test_mariadb_columns_compare_without_case(app: FastAPI) -> None:
    """MariaDB/MySQL have no lower() index: the columns' collation must ignore case, or the
    plain unique indexes would let `Alice` sit next to `alice`."""
    engine: AsyncEngine = app.state.engine
    if engine.dialect.name not in ("mysql", "mariadb"):
        pytest.skip("PostgreSQL and SQLite use the lower() indexes")
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'sys_user' "
                "AND COLUMN_NAME IN ('username', 'email')"
            )
        )
        collations: dict[str, str] = {str(c): str(n) for c, n in rows.all()}
    assert set(collations) == {"username", "email"}
    assert all(name.endswith("_ci") for name in collations.values()), collations
