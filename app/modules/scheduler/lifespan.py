"""The scheduler's life in each process: queue, embedded worker, leader candidate.

Stop order: on SIGTERM the leader stops at once (nothing new fires while the server drains
its requests); at shutdown the worker takes no new runs, waits up to
`SCHEDULER_SHUTDOWN_GRACE` for the executing ones and interrupts the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import structlog
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import Cache
from app.core.config import Settings
from app.core.modules import ModuleSpec, import_jobs, module_settings
from app.modules.scheduler.leader import Leader
from app.modules.scheduler.queue import RunQueue
from app.modules.scheduler.runner import Runner
from app.modules.scheduler.settings import SchedulerSettings

log = structlog.get_logger("scheduler")


@dataclass
class Scheduler:
    """What one process runs of the scheduler (`app.state.scheduler`)."""

    queue: RunQueue
    runner: Runner
    leader: Leader | None
    worker: bool

    def stop_firing(self) -> None:
        if self.leader is not None:
            self.leader.stopping.set()


def build_scheduler(
    settings: Settings,
    cache: Cache,
    sessionmaker: async_sessionmaker[AsyncSession],
    modules: list[ModuleSpec],
    *,
    leader: bool,
    worker: bool,
) -> Scheduler:
    import_jobs(modules)
    runner = Runner(settings, cache, sessionmaker, frozenset(spec.name for spec in modules))
    queue = RunQueue(settings, cache, runner.execute)
    return Scheduler(
        queue=queue,
        runner=runner,
        leader=Leader(settings, cache, sessionmaker, queue) if leader else None,
        worker=worker or not cache.shared,  # in-process queue: this process runs them
    )


@asynccontextmanager
async def running(scheduler: Scheduler, settings: Settings) -> AsyncIterator[None]:
    scheduling = scheduler.runner.scheduling
    await scheduler.queue.start(worker=scheduler.worker)
    ticking = (
        asyncio.create_task(scheduler.leader.run(), name="scheduler-leader")
        if scheduler.leader is not None
        else None
    )
    try:
        with _stop_firing_on_signal(scheduler):
            yield
    finally:
        scheduler.stop_firing()
        if ticking is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ticking, scheduling.tick_seconds + 5)
        await scheduler.queue.stop_consuming()
        await scheduler.runner.drain(scheduling.shutdown_grace)
        await scheduler.queue.close()


@asynccontextmanager
async def scheduler_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    scheduling = module_settings(app.state, SchedulerSettings)
    scheduler = build_scheduler(
        settings,
        app.state.cache,
        app.state.sessionmaker,
        list(app.state.modules),
        leader=scheduling.enabled,
        worker=scheduling.worker,
    )
    app.state.scheduler = scheduler
    async with running(scheduler, settings):
        yield


async def get_scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


@contextlib.contextmanager
def _stop_firing_on_signal(scheduler: Scheduler) -> Any:
    """Chain onto the server's SIGTERM/SIGINT handlers: stop the leader as soon as one comes.

    Uvicorn finishes in-flight requests before it runs the shutdown of the lifespan; without
    this the leader would go on firing jobs during that time. Only a handler installed by a
    server (a Python callable) is chained; the default action of a plain process is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        scheduler.stop_firing()
        log.info("scheduler_stop_firing", signal=signum)
        previous[signum](signum, frame)

    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if callable(current):
            previous[signum] = current
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for number, original in previous.items():
            if signal.getsignal(number) is handler:
                signal.signal(number, original)
