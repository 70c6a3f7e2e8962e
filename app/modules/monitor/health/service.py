"""Readiness checks: each dependency is probed with a hard time limit, concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.cache import Cache
from app.modules.monitor.health.schemas import ComponentStatus

# Probes cut loose after their time limit finish (or fail) in the background; keep a reference
# so they are not garbage-collected mid-flight.
_abandoned: set[asyncio.Task[object]] = set()


async def _probe(check: Callable[[], Awaitable[object]], within: float) -> ComponentStatus:
    """Run `check`, reporting "down" after `within` seconds without waiting for it to unwind.

    `asyncio.wait_for` would wait for the cancelled check to clean up, and closing a connection
    to a frozen server can itself take seconds; readiness must answer on time regardless.
    """
    start = time.perf_counter()
    task: asyncio.Task[object] = asyncio.ensure_future(check())
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_discard)
        return ComponentStatus(status="down", detail=f"no answer within {within:g}s")
    error = task.exception()
    if error is not None:
        return ComponentStatus(status="down", detail=type(error).__name__)
    return ComponentStatus(status="up", latency_ms=round((time.perf_counter() - start) * 1000, 2))


def _discard(task: asyncio.Task[object]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log "exception never retrieved"


async def check_database(engine: AsyncEngine, within: float) -> ComponentStatus:
    """`SELECT 1` on a pooled connection, outside any request transaction."""

    async def select_one() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return await _probe(select_one, within)


async def check_cache(cache: Cache, within: float) -> ComponentStatus:
    return await _probe(cache.ping, within)


async def readiness(
    engine: AsyncEngine, cache: Cache, within: float
) -> tuple[ComponentStatus, ComponentStatus]:
    database, cache_status = await asyncio.gather(
        check_database(engine, within), check_cache(cache, within)
    )
    return database, cache_status
