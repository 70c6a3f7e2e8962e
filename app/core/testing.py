"""Test-only routes for fault-injection tests (SECURITY.md §5.2), mounted only when
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

They are public (no authentication), absent from the OpenAPI document, and each answers with the
usual envelope.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Boolean, Integer, String, column, insert, table, text

from app.core.access import public
from app.core.database import SessionDep, UtcDateTime, utcnow
from app.core.deps import EngineDep
from app.core.responses import Envelope, error_responses, ok

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
    tag: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Names the rows")],
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
