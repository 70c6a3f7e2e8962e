"""Test-only routes for fault-injection tests (SECURITY.md §5.2), mounted only when
`ENABLE_TEST_ROUTES=true`. The production settings refuse that flag, so these routes can never
be served with `--env=prod`.

- `GET /__test/slow?ms=<0..30000>&db=<bool>`: sleeps without blocking the event loop; with
  `db=true` it first checks out a pooled database connection (`SELECT 1`) and holds it for the
  whole sleep. Used to keep a request in flight across SIGTERM (F11) and to exhaust the pool (F6).

They are public (no authentication), absent from the OpenAPI document, and each answers with the
usual envelope.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import text

from app.core.access import public
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
