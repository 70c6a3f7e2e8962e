"""The job-run queue: Taskiq, in-process in the lite shape, a Redis stream in the scale shape.

Only a run id travels through the queue; the run row in the database is the record. Workers
claim a run with `UPDATE ... WHERE status='queued'`, so a message delivered twice (Redis
streams re-deliver what a dead consumer never acknowledged) still executes the run once.
Why Taskiq: docs/scheduler.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.acks import AckableMessage, AcknowledgeType
from taskiq.api.receiver import run_receiver_task
from taskiq_redis import RedisStreamBroker

from app.core.cache import Cache
from app.core.config import Settings
from app.modules.scheduler.settings import scheduler_settings

log = structlog.get_logger("scheduler.queue")

TASK_NAME = "fastapiadmin.scheduler.execute_run"
# How long a worker blocks waiting for new messages (ms); the socket timeout must exceed it.
_READ_BLOCK_MS = 1000
# A Redis outage is retried every second but reported at most this often (seconds).
OUTAGE_REPORT_INTERVAL = 30.0
# A message a consumer took and never acknowledged goes to another consumer after this (ms).
_REDELIVER_AFTER_MS = 60_000

Execute = Callable[[int], Awaitable[None]]


class _StreamBroker(RedisStreamBroker):
    """Taskiq's Redis stream broker (consumer group, acknowledgements, XADD), with our own
    `listen` loop, which upstream's lacks three things for a web process:

    - it stops when asked (`closing`), within one read block, so shutdown never hangs on a
      cancelled read (cancelling upstream's loop can leave it stuck in redis-py's cleanup);
    - a Redis error waits a second and retries instead of ending the listener, which the
      receiver would restart at once, in a tight loop, while Redis is down;
    - a lost stream or consumer group (flushed Redis, cleared namespace) is declared again.

    Messages a dead consumer took and never acknowledged are claimed again after
    `idle_timeout` (XAUTOCLAIM), as upstream does.
    """

    closing = False

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while not self.closing:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    for message_id, data in await self._read(redis):
                        yield AckableMessage(
                            data=data,
                            ack=self._ack_generator(id=message_id, queue_name=self.queue_name),
                        )
            except (RedisError, OSError) as exc:
                if self._closing():
                    return
                self._report_outage(exc)
                await asyncio.sleep(1)
                with contextlib.suppress(RedisError, OSError):
                    await self._declare_consumer_group()

    def _closing(self) -> bool:
        return self.closing

    _outage_reported_at = float("-inf")
    _outage_failures = 0

    def _report_outage(self, exc: BaseException) -> None:
        """Retried every second; said once, then at most every OUTAGE_REPORT_INTERVAL
        seconds with the count of failed attempts, naming the Redis address."""
        self._outage_failures += 1
        now = time.monotonic()
        if now - self._outage_reported_at < OUTAGE_REPORT_INTERVAL:
            return
        kwargs = self.connection_pool.connection_kwargs
        address = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        log.warning(
            "scheduler_queue_unavailable",
            redis=address,
            error=type(exc).__name__,
            failed_attempts=self._outage_failures,
            retry="every second",
        )
        self._outage_reported_at = now
        self._outage_failures = 0

    async def _read(self, redis: Redis) -> list[tuple[Any, bytes]]:
        """New messages (blocking up to one read block), else ones idle too long elsewhere."""
        fetched: Any = await redis.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            block=self.block,
            count=self.count,
        )
        messages = [
            (mid, fields[b"data"]) for _stream, batch in fetched or [] for mid, fields in batch
        ]
        if messages:
            return messages
        claimed: Any = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=self.unacknowledged_batch_size,
        )
        return [(mid, fields[b"data"]) for mid, fields in claimed[1] if fields]


class RunQueue:
    """Hands run ids to workers; `start(worker=True)` also consumes them in this process."""

    def __init__(self, settings: Settings, cache: Cache, execute: Execute) -> None:
        self.settings = settings
        self.scheduling = scheduler_settings(settings)
        self.shared = cache.shared
        self._receiver: asyncio.Task[None] | None = None
        self.broker: AsyncBroker
        if self.shared:
            timeout = settings.redis_socket_timeout
            self.broker = _StreamBroker(
                url=settings.redis_url,
                queue_name=f"{settings.cache_prefix}scheduler:runs",
                consumer_group_name=f"{settings.cache_prefix}scheduler:workers",
                # A group made after messages were added (the stream was lost and remade)
                # still reads them; replaying an old message is harmless, the claim is atomic.
                consumer_id="0",
                xread_block=_READ_BLOCK_MS,
                xread_count=self.scheduling.concurrency,
                idle_timeout=_REDELIVER_AFTER_MS,
                maxlen=100_000,
                max_connection_pool_size=self.scheduling.concurrency + 4,
                socket_timeout=timeout + _READ_BLOCK_MS / 1000,
                socket_connect_timeout=settings.redis_connect_timeout,
                timeout=timeout,  # waiting for a free pooled connection
            )
        else:
            self.broker = InMemoryBroker(max_async_tasks=self.scheduling.concurrency)

        async def execute_run(run_id: int) -> None:
            await execute(run_id)

        self._task = self.broker.register_task(execute_run, task_name=TASK_NAME)

    async def start(self, *, worker: bool) -> None:
        try:
            await asyncio.wait_for(self.broker.startup(), self._timeout())
        except (RedisError, OSError, TimeoutError) as exc:
            # Redis down at start: serve anyway (readiness says 503); the worker's listen
            # loop declares the consumer group once Redis is back.
            log.warning("scheduler_queue_unavailable_at_start", error=type(exc).__name__)
        if worker and self.shared:
            self._receiver = asyncio.create_task(self._consume(), name="scheduler-worker")

    async def _consume(self) -> None:
        await run_receiver_task(
            self.broker,
            max_async_tasks=self.scheduling.concurrency,
            max_prefetch=0,
            ack_time=AcknowledgeType.WHEN_EXECUTED,
            run_startup=False,
        )

    async def kick(self, run_id: int) -> None:
        """Queue a run; raises TimeoutError or a Redis error when the queue is unreachable."""
        await asyncio.wait_for(self._task.kiq(run_id), self._timeout())

    async def stop_consuming(self) -> None:
        """Take no new runs (the ones executing go on); returns within about one read block."""
        receiver, self._receiver = self._receiver, None
        if receiver is None:
            return
        if isinstance(self.broker, _StreamBroker):
            self.broker.closing = True  # listen() ends: the receiver finishes by itself
        _done, pending = await asyncio.wait({receiver}, timeout=_READ_BLOCK_MS / 1000 + 2)
        if pending:
            receiver.cancel()
            _done, pending = await asyncio.wait({receiver}, timeout=2)
        if pending:
            log.warning("scheduler_worker_did_not_stop")

    async def close(self) -> None:
        await self.stop_consuming()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.broker.shutdown(), self._timeout())

    def _timeout(self) -> float:
        return self.settings.redis_socket_timeout * 2 + self.settings.redis_connect_timeout

    def describe(self) -> dict[str, Any]:
        return {"backend": "redis-stream" if self.shared else "in-process"}
