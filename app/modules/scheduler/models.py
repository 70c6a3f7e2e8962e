"""Scheduled jobs and their runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, BigId, TimestampMixin, UtcDateTime, utcnow
from app.core.sorts import list_sorts


class Job(TimestampMixin, Base):
    """A target from the registry, its JSON arguments and when it fires."""

    __tablename__ = "sys_job"
    __table_args__ = (
        Index("ix_sys_job_status_next_run_at", "status", "next_run_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    target: Mapped[str] = mapped_column(String(100))
    # JSON object, validated against the target's argument model.
    args: Mapped[str] = mapped_column(Text, default="{}")
    # cron | interval | date, with the matching column set.
    trigger_type: Mapped[str] = mapped_column(String(16))
    cron: Mapped[str | None] = mapped_column(String(120))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Interval jobs count their ticks from here, so a restart does not shift them.
    start_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # active | paused
    status: Mapped[str] = mapped_column(String(16), default="active")
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=300)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer, default=10)
    # coalesce: missed fire times collapse into one run; skip: a run later than the grace
    # is recorded as missed and not run.
    misfire_policy: Mapped[str] = mapped_column(String(16), default="coalesce")
    misfire_grace_seconds: Mapped[int] = mapped_column(Integer, default=60)
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    remark: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class JobRun(Base):
    """One execution of a job: scheduled, run now by an operator, or missed.

    `(job_id, scheduled_at)` is unique: two scheduler processes that both decide a fire time
    is due cannot both record it, so each fire time runs once.
    """

    __tablename__ = "sys_job_run"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_at"),
        Index("ix_sys_job_run_status_heartbeat_at", "status", "heartbeat_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Kept (as NULL) when the job is deleted: the history stays, under `job_name`.
    job_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sys_job.id", ondelete="SET NULL"), index=True
    )
    job_name: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(100))
    # schedule | manual
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # queued | running | succeeded | failed | timed_out | skipped | missed | lost | interrupted
    status: Mapped[str] = mapped_column(String(16))  # ix_sys_job_run_status_heartbeat_at
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


JOB_SORTS = list_sorts(
    sortable={
        "name": Job.name,
        "next_run_at": Job.next_run_at,
        "created_at": Job.created_at,
        "id": Job.id,
    },
    default="name",
    cursor_key=Job.id,
)
JOB_RUN_SORTS = list_sorts(
    sortable={
        "id": JobRun.id,
        "scheduled_at": JobRun.scheduled_at,
        "started_at": JobRun.started_at,
        "duration_ms": JobRun.duration_ms,
    },
    default="-id",
    cursor_key=JobRun.id,
)
