"""The batch writer behind the operation and login logs (app/core/batch.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.batch import BatchWriter
from app.core.database import utcnow
from app.modules.system.login_log.models import LoginLog


class _GatedEngine:
    """The real engine, but `begin()` waits at a gate: holds a flush between taking its
    records and committing them, the window another flush() must not slip through."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        self.entered.set()
        await self.gate.wait()
        async with self.engine.begin() as connection:
            yield connection


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        rows = await connection.execute(select(func.count()).select_from(LoginLog))
        return int(rows.scalar_one())


async def test_flush_returns_only_when_what_another_flush_took_is_committed(app: FastAPI) -> None:
    engine: AsyncEngine = app.state.engine
    gated = _GatedEngine(engine)
    writer = BatchWriter(cast(AsyncEngine, gated), cast(Any, LoginLog.__table__))
    writer.submit({"event": "login", "success": True, "created_at": utcnow()})

    background = asyncio.create_task(writer.flush())  # as the writer's own loop would
    await gated.entered.wait()  # it has taken the record and waits to commit it
    caller = asyncio.create_task(writer.flush())  # e.g. a shutdown or a test reading the log
    await asyncio.sleep(0.05)
    assert not caller.done(), "flush() returned while another flush still held a record"
    assert await _count(engine) == 0

    gated.gate.set()
    assert await background == 1
    assert await caller == 0
    assert await _count(engine) == 1
