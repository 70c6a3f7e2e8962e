"""The scheduler leader: one process at a time decides which jobs fire.

Every process with `SCHEDULER_ENABLED` runs this loop. Each tick it tries to take or renew
the leader lease (a lock in the shared cache with a TTL); only the holder looks for due jobs.
If the leader dies, its lease expires and another process takes over within
`SCHEDULER_LEASE_SECONDS`.

The lease alone is not trusted with exactly-once (a paused leader may wake up after losing
it). Firing a job is one transaction that (1) moves `next_run_at` past the fire time only if
it still equals that fire time (compare and set) and (2) inserts the run, whose
(job, scheduled time) is unique. Two processes that both think they lead still record, and
so run, each fire time once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from datetime import datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import Cache, CacheUnavailableError
from app.core.config import Settings
from app.core.database import utcnow
from app.modules.scheduler import repository as repo
from app.modules.scheduler import triggers
from app.modules.scheduler.models import Job, JobRun
from app.modules.scheduler.queue import RunQueue
from app.modules.scheduler.settings import scheduler_settings

log = structlog.get_logger("scheduler.leader")

LEASE_NAME = "scheduler:leader"
# Who leads, for operators (GET /api/v1/scheduler/status); expires with the lease.
LEADER_INFO = "scheduler:leader-info"
HOST = socket.gethostname()
# Due jobs handled per tick (the rest wait for the next tick).
BATCH = 100


class Lease:
    """The leader lease: a lock in the shared cache, renewed every tick."""

    def __init__(self, cache: Cache, ttl: float) -> None:
        self.cache = cache
        self.ttl = ttl
        self.token: str | None = None
        self.since: datetime | None = None
        self._renewed = 0.0

    @property
    def fresh(self) -> bool:
        """Held, and renewed recently enough that it cannot have expired meanwhile."""
        return self.token is not None and time.monotonic() - self._renewed < self.ttl * 0.8

    async def hold(self) -> bool:
        try:
            if self.token is not None and await self.cache.extend_lock(
                LEASE_NAME, self.token, self.ttl
            ):
                self._renewed = time.monotonic()
                await self._announce()
                return True
            was_leader, self.token = self.token is not None, None
            self.token = await self.cache.acquire_lock(LEASE_NAME, self.ttl)
            if self.token is not None:
                self._renewed = time.monotonic()
                self.since = utcnow()
                await self._announce()
        except CacheUnavailableError:
            self.token = None
            return False
        if self.token is not None:
            log.info("scheduler_leader_acquired")
        elif was_leader:
            log.warning("scheduler_leader_lost")
        return self.token is not None

    async def _announce(self) -> None:
        info = {"host": HOST, "pid": os.getpid(), "since": self.since}
        await self.cache.set_json(LEADER_INFO, info, ttl=self.ttl)

    async def release(self) -> None:
        token, self.token = self.token, None
        if token is not None:
            with contextlib.suppress(CacheUnavailableError):
                if await self.cache.release_lock(LEASE_NAME, token):
                    await self.cache.delete(LEADER_INFO)


class Leader:
    def __init__(
        self,
        settings: Settings,
        cache: Cache,
        sessionmaker: async_sessionmaker[AsyncSession],
        queue: RunQueue,
    ) -> None:
        self.settings = settings
        self.scheduling = scheduler_settings(settings)
        self.sessionmaker = sessionmaker
        self.queue = queue
        self.lease = Lease(cache, self.scheduling.lease_seconds)
        self.stopping = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self.lease.token is not None

    async def run(self) -> None:
        """Tick until `stopping` is set; then give the lease up so another takes over now."""
        try:
            while not self.stopping.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.error("scheduler_tick_failed", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.scheduling.tick_seconds)
        finally:
            await self.lease.release()

    async def tick(self) -> int:
        """Fire what is due, if this process leads. Returns the number of runs queued."""
        if not await self.lease.hold():
            return 0
        now = utcnow()
        async with self.sessionmaker() as db:
            due = list(await repo.due_jobs(db, now, BATCH))
            db.expunge_all()
        queued = 0
        for job in due:
            if self.stopping.is_set() or not (self.lease.fresh or await self.lease.hold()):
                break
            queued += await self.fire(job, now)
        return queued

    async def fire(self, job: Job, now: datetime) -> int:
        fired = job.next_run_at
        assert fired is not None
        try:
            next_run_at, missed = triggers.after(job, fired, now)
        except ValueError:
            log.error("scheduler_bad_trigger", job=job.name, exc_info=True)
            next_run_at, missed = None, 0
        late = (now - fired).total_seconds()
        skip = job.misfire_policy == "skip" and late > job.misfire_grace_seconds
        run = JobRun(
            job_id=job.id,
            job_name=job.name,
            target=job.target,
            trigger="schedule",
            scheduled_at=fired,
            status="missed" if skip else "queued",
            attempts=0,
        )
        if skip:
            run.finished_at = now
            run.error = f"Missed by {late:.0f} s (misfire grace {job.misfire_grace_seconds} s)."
        try:
            async with self.sessionmaker() as db, db.begin():
                if not await repo.advance(db, job.id, fired, next_run_at):
                    return 0  # another process fired it, or an operator changed the job
                await repo.add(db, run)
                run_id = run.id
        except IntegrityError:
            return 0  # this fire time is already recorded
        if missed:
            log.info("scheduler_coalesced", job=job.name, missed=missed)
        if skip:
            return 0
        try:
            await self.queue.kick(run_id)
        except Exception as exc:  # the reaper marks it lost if no worker ever takes it
            log.error("scheduler_kick_failed", run_id=run_id, error=type(exc).__name__)
        return 1
