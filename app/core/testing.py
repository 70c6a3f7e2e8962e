"""Test-only routes for fault-injection tests (docs/security-checklist.md §5.2), mounted only when
`ENABLE_TEST_ROUTES=true`. The production settings refuse that flag, so these routes can never
be served with `--env=prod`.

- `GET /__test/slow?ms=<0..30000>&db=<bool>`: sleeps without blocking the event loop; with
  `db=true` it first checks out a pooled database connection (`SELECT 1`) and holds it for the
  whole sleep. Used to keep a request in flight across SIGTERM (F11) and to exhaust the pool (F6).
- `POST /__test/tx?tag=<tag>&rows=<1..20>&ms=<0..30000>`: inserts `rows` parameters
  `__test.<tag>.<n>` in the request's one transaction, each sent at once, sleeping `ms` between
  two inserts, and commits at the end: a multi-row write to kill mid-transaction (F12). After a
  crash none of its rows may remain.
- `GET /__test/worker?ms=<0..30000>`: sleeps, then names the worker process that answered
  (`pid`): which worker served which request when one is killed (F13).

- `POST /__test/conflict?tag=<tag>&fail=<0..10>` with JSON `{"payload": "..."}`: runs into a
  real conflict on its first `fail` attempts (per tag, counted in this process), then inserts
  the parameter `__test.<tag>.<attempt>` holding the SHA-256 of the payload and echoes it. The
  conflict is a serialization failure on PostgreSQL (40001: a row read under REPEATABLE READ
  is changed by another connection before this one updates it), a deadlock on MySQL/MariaDB
  (1213: two connections lock two rows in opposite order; the other one has written more, so
  InnoDB rolls this one back), and on SQLite, which cannot deadlock, the driver error MariaDB
  would raise. Every attempt registers an `after_commit` callback first; with
  `RATE_LIMIT_ENABLED` the route allows `CONFLICT_RATE` (2/hour) per client. `GET
  /__test/conflict?tag=` counts an attempt and always raises that deadlock error (a safe
  method: never retried); `GET /__test/conflict/<tag>` tells how many attempts ran and whose
  `after_commit` ran (docs/security-checklist.md F18, tests/core/test_retry.py).

They are public (no authentication), absent from the OpenAPI document, and each answers with the
usual envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Boolean, Integer, String, column, insert, select, table, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.access import public
from app.core.database import SessionDep, UtcDateTime, after_commit, utcnow
from app.core.deps import EngineDep
from app.core.ratelimit import limit
from app.core.responses import Envelope, error_responses, ok
from app.core.schemas import pattern

MAX_SLOW_MS = 30_000

router = APIRouter(
    prefix="/__test",
    tags=["test"],
    include_in_schema=False,
    dependencies=[Depends(public)],
)


class Slept(BaseModel):
    slept_ms: int
    db: bool


@router.get("/slow", responses=error_responses(422, 503))
async def slow(
    engine: EngineDep,
    ms: Annotated[int, Query(ge=0, le=MAX_SLOW_MS, description="Milliseconds to sleep")] = 1000,
    db: Annotated[bool, Query(description="Hold a pooled database connection meanwhile")] = False,
) -> Envelope[Slept]:
    """Sleep `ms` milliseconds asynchronously, optionally holding a database connection."""
    if db:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(ms / 1000)
    else:
        await asyncio.sleep(ms / 1000)
    return ok(Slept(slept_ms=ms, db=db))


class Written(BaseModel):
    rows: int


# The parameters table, named here without importing the system module (core imports no
# module); every column without a default is listed.
_params = table(
    "sys_param",
    column("key", String),
    column("value", String),
    column("name", String),
    column("value_type", String),
    column("built_in", Boolean),
    column("version", Integer),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)


@router.post("/tx", responses=error_responses(422, 503))
async def slow_transaction(
    db: SessionDep,
    tag: Annotated[
        str,
        Query(
            pattern=pattern(
                r"^[a-z0-9][a-z0-9_-]{0,39}$",
                "lowercase letters, digits, _ and -",
            ),
            description="Names the rows",
        ),
    ],
    rows: Annotated[int, Query(ge=1, le=20, description="Rows to insert")] = 3,
    ms: Annotated[
        int, Query(ge=0, le=MAX_SLOW_MS, description="Milliseconds between two inserts")
    ] = 1000,
) -> Envelope[Written]:
    """Insert `rows` parameters `__test.<tag>.<n>` in one transaction, slowly; commit at the end
    (by the request's session, like every write)."""
    for number in range(rows):
        if number:
            await asyncio.sleep(ms / 1000)
        now = utcnow()
        await db.execute(
            insert(_params).values(
                key=f"__test.{tag}.{number}",
                value=str(number),
                name=f"test {tag} {number}",
                value_type="str",
                built_in=False,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
    return ok(Written(rows=rows))


class Worker(BaseModel):
    pid: int
    slept_ms: int


@router.get("/worker", responses=error_responses(422))
async def worker(
    ms: Annotated[int, Query(ge=0, le=MAX_SLOW_MS, description="Milliseconds to sleep")] = 0,
) -> Envelope[Worker]:
    """Sleep `ms` milliseconds, then answer with the id of the process that served the request."""
    await asyncio.sleep(ms / 1000)
    return ok(Worker(pid=os.getpid(), slept_ms=ms))


# ------------------------------------------------------------- conflicts
# (docs/security-checklist.md F18) --

TAG = Query(
    pattern=pattern(
        r"^[a-z0-9][a-z0-9_-]{0,39}$",
        "lowercase letters, digits, _ and -",
    ),
    description="Names the rows and the counter",
)
# Per tag, in this process: attempts started, and the attempts whose after_commit ran.
_conflict_attempts: dict[str, int] = {}
CONFLICT_RATE = "2/hour"
_conflict_commits: dict[str, list[int]] = {}
# Bound of the wait for the other connection to queue for our lock (MariaDB).
_LOCK_WAIT_SECONDS = 10.0


class ConflictBody(BaseModel):
    payload: str = Field(max_length=1024 * 1024)


class ConflictResult(BaseModel):
    attempt: int
    payload: str


class ConflictState(BaseModel):
    attempts: int
    committed: list[int]


def _param_row(key: str, value: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "key": key,
        "value": value,
        "name": key[:100],
        "value_type": "str",
        "built_in": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _driver_deadlock() -> sa_exc.OperationalError:
    """The error SQLAlchemy raises for a MySQL/MariaDB deadlock (error 1213), built from the
    driver's own exception class (for SQLite, which cannot deadlock)."""
    from asyncmy.errors import OperationalError as DriverOperationalError

    orig = DriverOperationalError(
        1213, "Deadlock found when trying to get lock; try restarting transaction"
    )
    return sa_exc.OperationalError("UPDATE sys_param", None, orig)


async def _ensure_params(engine: AsyncEngine, keys: list[str]) -> None:
    async with engine.begin() as connection:
        existing = set(
            (await connection.execute(select(_params.c.key).where(_params.c.key.in_(keys))))
            .scalars()
            .all()
        )
        missing = [_param_row(key, "0") for key in keys if key not in existing]
        if missing:
            await connection.execute(insert(_params), missing)


def _touch(key: str, value: str) -> Any:
    return update(_params).where(_params.c.key == key).values(value=value)


async def _serialization_failure(db: AsyncSession, engine: AsyncEngine, key: str) -> None:
    """PostgreSQL 40001: our REPEATABLE READ snapshot is older than another connection's
    committed change to the row we then update."""
    await db.execute(select(_params.c.value).where(_params.c.key == key))
    async with engine.begin() as other:
        await other.execute(_touch(key, "other"))
    await db.execute(_touch(key, "ours"))  # raises
    raise RuntimeError("no serialization failure: the test route is broken")


async def _deadlock(db: AsyncSession, engine: AsyncEngine, tag: str, keys: list[str]) -> None:
    """MySQL/MariaDB 1213: we lock row a, the other connection locks row b and queues for a,
    we ask for b. InnoDB rolls back the transaction that wrote less: ours (the other one
    inserted rows first)."""
    first, second = keys
    await db.execute(_touch(first, "ours"))
    async with engine.connect() as other:
        other_id = (await other.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
        await other.execute(
            insert(_params), [_param_row(f"__test-weight.{tag}.{n}", "w") for n in range(20)]
        )
        await other.execute(_touch(second, "other"))
        queued = asyncio.create_task(other.execute(_touch(first, "other")))
        try:
            deadline = time.monotonic() + _LOCK_WAIT_SECONDS
            while True:  # wait until the other connection really waits for our lock
                waiting = (
                    await db.execute(
                        text(
                            "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                            "WHERE trx_mysql_thread_id = :id AND trx_state = 'LOCK WAIT'"
                        ),
                        {"id": other_id},
                    )
                ).scalar_one()
                if waiting or queued.done():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the other connection never queued for the lock")
                # InnoDB refreshes INNODB_TRX at most every 0.1 s, and not while it is
                # read more often than that.
                await asyncio.sleep(0.2)
            await db.execute(_touch(second, "ours"))  # raises
            raise RuntimeError("no deadlock victim here: the test route is broken")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queued, _LOCK_WAIT_SECONDS)
            await other.rollback()


async def _committed(tag: str, attempt: int) -> None:
    _conflict_commits.setdefault(tag, []).append(attempt)


@router.post(
    "/conflict",
    responses=error_responses(409, 422, 429, 503),
    # Counted once per request however often the server runs it (with RATE_LIMIT_ENABLED).
    dependencies=[Depends(limit(CONFLICT_RATE))],
)
async def conflict(
    db: SessionDep,
    engine: EngineDep,
    body: ConflictBody,
    tag: Annotated[str, TAG],
    fail: Annotated[int, Query(ge=0, le=10, description="Attempts that conflict")] = 1,
) -> Envelope[ConflictResult]:
    """Conflict on the first `fail` attempts, then insert `__test.<tag>.<attempt>`."""
    attempt = _conflict_attempts[tag] = _conflict_attempts.get(tag, 0) + 1
    dialect = engine.dialect.name
    keys = [f"__test-lock.{tag}.a", f"__test-lock.{tag}.b"]
    conflicting = attempt <= fail
    if conflicting and dialect != "sqlite":
        await _ensure_params(engine, keys)
    if dialect == "postgresql":
        await db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    after_commit(db, partial(_committed, tag, attempt))
    digest = hashlib.sha256(body.payload.encode()).hexdigest()
    await db.execute(insert(_params).values(**_param_row(f"__test.{tag}.{attempt}", digest)))
    if conflicting:
        if dialect == "postgresql":
            await _serialization_failure(db, engine, keys[0])
        elif dialect == "sqlite":
            raise _driver_deadlock()
        else:
            await _deadlock(db, engine, tag, keys)
    return ok(ConflictResult(attempt=attempt, payload=body.payload))


@router.get("/conflict", responses=error_responses(409, 422))
async def conflict_on_read(tag: Annotated[str, TAG]) -> Envelope[ConflictState]:
    """Count an attempt, then fail as a deadlock would (a safe method: never retried)."""
    _conflict_attempts[tag] = _conflict_attempts.get(tag, 0) + 1
    raise _driver_deadlock()


@router.get("/conflict/{tag}", responses=error_responses(422))
async def conflict_state(tag: str) -> Envelope[ConflictState]:
    """How many attempts of `tag` ran, and whose `after_commit` callbacks ran."""
    return ok(
        ConflictState(
            attempts=_conflict_attempts.get(tag, 0),
            committed=list(_conflict_commits.get(tag, [])),
        )
    )
