"""`python main.py worker`: a process that executes job runs from the Redis queue, no HTTP.

Scale out job execution separately from the web tier: web processes may set
`SCHEDULER_WORKER=false` and leave the runs to these.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from app.core.cache import create_cache
from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.core.modules import import_models, load_modules
from app.modules.scheduler.lifespan import build_scheduler, running

log = structlog.get_logger("scheduler.worker")


async def run_worker(settings: Settings, *, leader: bool) -> None:
    """Run until SIGTERM or SIGINT; then finish (or, after the grace, interrupt) what runs."""
    modules = load_modules(settings)
    import_models(modules)
    engine = create_engine(settings)
    cache = create_cache(
        settings.redis_url,
        prefix=settings.cache_prefix,
        socket_timeout=settings.redis_socket_timeout,
        connect_timeout=settings.redis_connect_timeout,
    )
    scheduler = build_scheduler(
        settings, cache, create_sessionmaker(engine), modules, leader=leader, worker=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running(scheduler, settings):
            log.info("worker_started", leader_candidate=leader, queue="redis-stream")
            await stop.wait()
            scheduler.stop_firing()
    finally:
        await cache.close()
        await engine.dispose()
        log.info("worker_stopped")
