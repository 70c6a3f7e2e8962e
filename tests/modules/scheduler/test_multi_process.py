"""Two real app processes sharing the database and Redis: each fire time runs exactly once,
and when the leader is killed another process takes over without running a tick twice
(docs/security-checklist.md §0 #20, §6 "In-process scheduler fires N times", F22).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.database import utcnow
from app.modules.scheduler.models import Job
from tests.support.databases import TEST_REDIS_URL
from tests.support.identity import superuser_headers
from tests.support.instances import Instance

pytestmark = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="several processes need Redis (set TEST_REDIS_URL)"
)

LEASE_SECONDS = 2
SCHEDULER_ENV = {
    "MODULES": "system,monitor,files,scheduler,tests.support.scheduler_plugin",
    "SCHEDULER_ENABLED": "true",
    "SCHEDULER_TICK_SECONDS": "0.2",
    "SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
    "SCHEDULER_HEARTBEAT_SECONDS": "0.5",
}


@pytest.fixture
def pair(settings: Settings, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    instances = (
        Instance(settings, tmp_path / "a", SCHEDULER_ENV),
        Instance(settings, tmp_path / "b", SCHEDULER_ENV),
    )
    try:
        for instance in instances:
            instance.wait_ready()
        yield instances
    finally:
        for instance in instances:
            if instance.running:
                instance.stop()


def ticks(path: Path) -> list[str]:
    """The scheduled time of every execution the job wrote (one line per execution)."""
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def leader_pid(instance: Instance, headers: dict[str, str]) -> int | None:
    data = httpx.get(
        f"{instance.base}/api/v1/scheduler/status", headers=headers, timeout=10
    ).json()["data"]
    return None if data["leader"] is None else int(data["leader"]["pid"])


async def test_each_tick_runs_once_and_the_leader_hands_over(
    app: FastAPI, pair: tuple[Instance, Instance], tmp_path: Path
) -> None:
    out = tmp_path / "ticks.log"
    start = utcnow() + timedelta(seconds=1)
    async with app.state.sessionmaker() as db, db.begin():
        db.add(
            Job(
                name="every two seconds",
                target="testjobs.append_line",
                args=f'{{"path": "{out}"}}',
                trigger_type="interval",
                interval_seconds=2,
                start_at=start,
                next_run_at=start,
                timeout_seconds=10,
            )
        )
    headers = await superuser_headers(app)

    # Three ticks with both processes up: three executions, three distinct fire times.
    wait_until(lambda: len(ticks(out)) >= 3, 15, "three ticks")
    first = ticks(out)
    assert len(first) == len(set(first)), Counter(first)

    # Kill the leader without letting it clean up (a crashed host).
    pids = {instance.pid: instance for instance in pair}
    leader = pids[leader_pid(pair[0], headers) or 0]
    survivor = next(instance for instance in pair if instance is not leader)
    killed_at = time.monotonic()
    leader.kill()
    seen = len(ticks(out))
    wait_until(lambda: len(ticks(out)) >= seen + 3, 20, "ticks after the leader died")
    assert leader_pid(survivor, headers) == survivor.pid
    all_ticks = ticks(out)
    assert len(all_ticks) == len(set(all_ticks)), Counter(all_ticks)

    # Ticks follow the 2 s grid: no double run and, after the lease ran out, no lost tick
    # beyond the ones that fell inside the lease (they are coalesced into one run).
    moments = sorted(datetime.fromisoformat(tick) for tick in all_ticks)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]
    assert all(gap >= 2 - 0.01 for gap in gaps), gaps
    assert max(gaps) <= LEASE_SECONDS + 2 * 2 + 1, gaps
    assert time.monotonic() - killed_at < 20

    # The run history agrees: one succeeded run per fire time, none running.
    runs = httpx.get(
        f"{survivor.base}/api/v1/scheduler/job-runs",
        params={"page_size": 100},
        headers=headers,
        timeout=10,
    ).json()["data"]["items"]
    scheduled = Counter(run["scheduled_at"] for run in runs)
    assert all(count == 1 for count in scheduled.values()), scheduled
    assert {run["status"] for run in runs} <= {"succeeded", "running", "queued", "lost"}
