"""Executing one job run: claim it, hold the job's run lock, call the target, record the end.

- Claim: `queued -> running` in one UPDATE; a second delivery of the same run does nothing.
- One run of a job at a time, across processes: a lock in the shared cache, renewed with the
  heartbeat; a run that finds it held ends as `skipped`.
- Timeout per attempt, retries with exponential back-off, a heartbeat while it runs (the
  reaper marks runs whose heartbeat stops as `lost`).
- Stopping the process interrupts runs still executing after the grace period: `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import Cache, CacheUnavailableError
from app.core.config import Settings
from app.core.database import utcnow
from app.core.jobs import JobContext, JobTarget, targets
from app.modules.scheduler import repository as repo
from app.modules.scheduler.models import Job, JobRun
from app.modules.scheduler.settings import SchedulerSettings, scheduler_settings

log = structlog.get_logger("scheduler.runner")

MAX_RESULT_BYTES = 8_000
MAX_ERROR_CHARS = 2_000


def record_job_run(status: str) -> None:  # TEMP until app.core.metrics lands
    try:
        from app.core.metrics import record_job_run as record
    except ImportError:
        return
    record(status)


def lock_name(job_id: int) -> str:
    return f"scheduler:running:{job_id}"


@dataclass
class Runner:
    settings: Settings
    cache: Cache
    sessionmaker: async_sessionmaker[AsyncSession]
    enabled_modules: frozenset[str]
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    scheduling: SchedulerSettings = field(init=False)
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.scheduling = scheduler_settings(self.settings)

    def target(self, name: str) -> JobTarget | None:
        target = targets.get(name)
        if target is None or target.module not in self.enabled_modules:
            return None
        return target

    async def execute(self, run_id: int) -> None:
        """Entry point of the queue; runs the run as a tracked task (see `drain`)."""
        if self.stopping.is_set():
            return  # not claimed: stays queued for another worker (or the reaper)
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self._execute(run_id)
        finally:
            if task is not None:
                self._running.discard(task)

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for executing runs, then interrupt the rest."""
        self.stopping.set()
        running = {task for task in self._running if not task.done()}
        if not running:
            return
        _done, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    # ---------------------------------------------------------------------------------

    async def _execute(self, run_id: int) -> None:
        async with self.sessionmaker() as db, db.begin():
            if not await repo.claim_run(db, run_id, now=utcnow(), host=self.host, pid=self.pid):
                return  # already taken, finished or reaped
            run = await repo.get_run(db, run_id)
            job = await repo.get_job(db, run.job_id) if run and run.job_id else None
            if run is None:
                return
            db.expunge_all()
        started = time.monotonic()
        if job is None:
            await self._finish(run, started, "failed", error="The job was deleted.")
            return
        target = self.target(run.target)
        if target is None:
            await self._finish(
                run, started, "failed", error=f"Unknown or disabled job target {run.target!r}."
            )
            return
        try:
            args = target.parse_args(orjson.loads(job.args or "{}"))
        except (ValidationError, orjson.JSONDecodeError) as exc:
            await self._finish(run, started, "failed", error=f"Invalid arguments: {exc}")
            return
        lock_ttl = max(self.scheduling.heartbeat_seconds * 3, 5.0)
        try:
            token = await self.cache.acquire_lock(lock_name(job.id), lock_ttl)
        except CacheUnavailableError:
            await self._finish(run, started, "failed", error="The cache is unavailable.")
            return
        if token is None:
            await self._finish(
                run, started, "skipped", error="The previous run of this job is still running."
            )
            return
        beat = asyncio.create_task(self._heartbeat(run.id, job.id, token, lock_ttl))
        try:
            await self._attempts(run, job, target, args, started)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat
            with contextlib.suppress(CacheUnavailableError):
                await self.cache.release_lock(lock_name(job.id), token)

    async def _attempts(
        self, run: JobRun, job: Job, target: JobTarget, args: Any, started: float
    ) -> None:
        status, result, error = "failed", None, None
        attempts = 0
        try:
            for attempt in range(1, job.max_retries + 2):
                attempts = attempt
                ctx = JobContext(
                    run_id=run.id,
                    job_id=job.id,
                    job_name=job.name,
                    scheduled_at=run.scheduled_at,
                    attempt=attempt,
                    settings=self.settings,
                    cache=self.cache,
                    sessionmaker=self.sessionmaker,
                    requested_by=run.requested_by,
                )
                try:
                    async with asyncio.timeout(job.timeout_seconds):
                        result = await target.func(ctx, args)
                    status, error = "succeeded", None
                    break
                except TimeoutError:
                    status, error = "timed_out", f"Timed out after {job.timeout_seconds} s."
                except Exception as exc:
                    status, error = "failed", f"{type(exc).__name__}: {exc}"
                    log.warning("job_attempt_failed", run_id=run.id, job=job.name, exc_info=True)
                if attempt <= job.max_retries:
                    delay = min(job.retry_backoff_seconds * 2 ** (attempt - 1), 3600)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    if self.stopping.is_set():
                        status, error = "interrupted", f"{error} (no retry: shutting down)"
                        break
        except asyncio.CancelledError:
            await asyncio.shield(
                self._finish(
                    run,
                    started,
                    "interrupted",
                    attempts=attempts,
                    error="The process stopped while the run was executing.",
                )
            )
            raise
        await self._finish(run, started, status, attempts=attempts, result=result, error=error)

    async def _heartbeat(self, run_id: int, job_id: int, token: str, lock_ttl: float) -> None:
        while True:
            await asyncio.sleep(self.scheduling.heartbeat_seconds)
            try:
                async with self.sessionmaker() as db, db.begin():
                    await repo.heartbeat(db, run_id, utcnow())
                await self.cache.extend_lock(lock_name(job_id), token, lock_ttl)
            except Exception as exc:  # a missed beat is survivable; the next one may work
                log.warning("job_heartbeat_failed", run_id=run_id, error=type(exc).__name__)

    async def _finish(
        self,
        run: JobRun,
        started: float,
        status: str,
        *,
        attempts: int = 0,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "finished_at": utcnow(),
            "duration_ms": int((time.monotonic() - started) * 1000),
            "result": _result_text(result),
            "error": error[:MAX_ERROR_CHARS] if error else None,
        }
        try:
            async with self.sessionmaker() as db, db.begin():
                await repo.finish_run(db, run.id, **values)
        except Exception:
            log.error("job_run_not_recorded", run_id=run.id, status=status, exc_info=True)
        record_job_run(status)
        log.info("job_run", run_id=run.id, job=run.job_name, status=status, attempts=attempts)


def _result_text(result: Mapping[str, Any] | None) -> str | None:
    if result is None:
        return None
    text = orjson.dumps(result, default=str)
    if len(text) > MAX_RESULT_BYTES:
        preview = text[: MAX_RESULT_BYTES // 2].decode(errors="ignore")
        return orjson.dumps({"truncated": True, "preview": preview}).decode()
    return text.decode()
