"""Background batch inserts for append-only records (audit and login logs).

Requests hand their record to `submit()` (no I/O, no await) and go on; a background task
inserts what has gathered every `interval` seconds or `batch_size` records, in one statement
per batch on its own connection, so recording adds no database round trip to a request. On a
clean shutdown `stop()` writes everything still pending. A database outage keeps records in
memory (up to `max_pending`, then the oldest are dropped and counted) and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("app.batch")

Prepare = Callable[[dict[str, Any]], dict[str, Any]]


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        *,
        interval: float = 1.0,
        batch_size: int = 200,
        max_pending: int = 50_000,
        prepare: Prepare | None = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        # Work done off the request path, just before insert (e.g. parsing user agents).
        self.prepare = prepare
        self.pending: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.written = 0
        self._wake = asyncio.Event()
        # One flush at a time: a caller's flush() must not return while the background loop
        # holds records it has taken from `pending` but not yet committed.
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def submit(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks, never fails the caller."""
        if len(self.pending) >= self.max_pending:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(record)
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batch-writer:{self.table.name}")

    async def stop(self) -> None:
        """Stop the loop and write everything still pending (clean shutdown loses nothing)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.error("batch_records_lost", table=self.table.name, count=len(self.pending))

    async def flush(self) -> int:
        """Write everything pending now; returns how many records were written.

        When it returns, every record submitted before the call is committed (or, on an
        error, back in `pending`), including any the background loop was writing."""
        async with self._flushing:
            return await self._flush_pending()

    async def _flush_pending(self) -> int:
        total = 0
        while self.pending:
            batch = [self.pending.popleft() for _ in range(min(self.batch_size, len(self.pending)))]
            try:
                rows = [self.prepare(r) for r in batch] if self.prepare else batch
                async with self.engine.begin() as connection:
                    await connection.execute(insert(self.table), rows)
            except Exception as exc:
                # Put them back (in order) and let the next round retry.
                self.pending.extendleft(reversed(batch))
                log.warning("batch_write_failed", table=self.table.name, error=type(exc).__name__)
                raise
            total += len(batch)
        self.written += total
        return total

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if self.stopping:
                return  # stop() writes what is left
            try:
                await self.flush()
            except Exception:  # already logged; back off one interval and retry
                await asyncio.sleep(self.interval)

    @property
    def stopping(self) -> bool:
        return self._stopping
