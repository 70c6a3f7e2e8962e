"""When a job fires: APScheduler's triggers, computed from a job row.

We use APScheduler (3.x) for the calendar arithmetic only -- crontab parsing, time zones and
daylight-saving gaps, interval ticks -- and keep the schedule state (`next_run_at`) in the
database, where every process sees it. APScheduler's own scheduler loop is per process and
would fire a job once per process (docs/security-checklist.md §6).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.modules.scheduler.models import Job

# Searching past due fire times one by one stops here; beyond it we jump to "after now".
_MAX_CATCH_UP = 1000


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError if unknown."""
    if name not in _zones():
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A trigger for a five-field crontab line (minute hour day month weekday)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields: minute hour day month weekday")
    try:
        return CronTrigger.from_crontab(expression, timezone=zone(timezone))
    except ValueError as exc:
        raise ValueError(f"invalid cron expression: {exc}") from None


def build(job: Job) -> BaseTrigger:
    """The trigger a job row describes (validated when the row was saved)."""
    if job.trigger_type == "cron":
        return cron_trigger(job.cron or "", job.timezone)
    if job.trigger_type == "interval":
        return IntervalTrigger(
            seconds=job.interval_seconds or 1,
            start_date=job.start_at,
            timezone=zone(job.timezone),
        )
    if job.trigger_type == "date":
        return DateTrigger(run_date=job.run_at, timezone=zone(job.timezone))
    raise ValueError(f"unknown trigger type {job.trigger_type!r}")


def first_fire_time(job: Job, now: datetime) -> datetime | None:
    """The first fire time at or after `now` (None: the trigger never fires again)."""
    fire = build(job).get_next_fire_time(None, now)
    return _utc(fire)


def after(job: Job, fired: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The next fire time after `fired` that is still in the future, and how many fire times
    between the two were missed (already past at `now`)."""
    trigger = build(job)
    missed = 0
    previous = fired
    for _ in range(_MAX_CATCH_UP):
        nxt = _utc(trigger.get_next_fire_time(previous, now))
        if nxt is None or nxt > now:
            return nxt, missed
        missed += 1
        previous = nxt
    # Long outage of a frequent job: stop counting and take the first tick after now.
    nxt = _utc(trigger.get_next_fire_time(None, now + timedelta(microseconds=1)))
    return nxt, missed


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)
