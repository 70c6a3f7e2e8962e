"""Request and response bodies of the scheduler.

A job's trigger is one of::

    {"type": "cron", "cron": "30 3 * * *"}            # crontab: minute hour day month weekday
    {"type": "interval", "seconds": 300}               # every 5 minutes from `start_at`
    {"type": "date", "run_at": "2027-01-01T09:00:00Z"} # once

Cron fields are read in the job's `timezone` (an IANA name, default UTC); every time the API
returns is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.schemas import AwareUtcDateTime, DisplayText, Remark, Version, pattern
from app.modules.scheduler.models import Job, JobRun

# Serialised size limit of a job's arguments (they live in a TEXT column).
MAX_ARGS_BYTES = 16_000
RUN_STATUSES = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "missed",
    "lost",
    "interrupted",
)
RunStatus = Literal[
    "queued",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "skipped",
    "missed",
    "lost",
    "interrupted",
]
JobStatus = Literal["active", "paused"]
MisfirePolicy = Literal["coalesce", "skip"]

Name = DisplayText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
TargetName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=100,
        pattern=pattern(r"^[a-z0-9_.]+$", "lowercase letters, digits, _ and ."),
    ),
]
TimeZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CronTriggerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["cron"]
    cron: Annotated[str, StringConstraints(strip_whitespace=True, min_length=9, max_length=120)]


class IntervalTriggerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["interval"]
    seconds: int = Field(ge=1, le=366 * 86400)
    start_at: AwareUtcDateTime | None = Field(
        default=None, description="First tick (default: `seconds` after the job is saved)"
    )


class DateTriggerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["date"]
    run_at: AwareUtcDateTime


TriggerSpec = Annotated[
    CronTriggerSpec | IntervalTriggerSpec | DateTriggerSpec, Field(discriminator="type")
]


def _args_size(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # a lone surrogate (`"\ud800"`) in a key or a value
        raise ValueError("must be valid UTF-8 text") from None
    if len(encoded) > MAX_ARGS_BYTES:
        raise ValueError(f"at most {MAX_ARGS_BYTES} bytes of JSON")
    return value


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    target: TargetName = Field(description="A name from GET /api/v1/scheduler/targets")
    args: dict[str, Any] = Field(default_factory=dict, description="Validated by the target")
    trigger: TriggerSpec
    timezone: TimeZoneName = "UTC"
    status: JobStatus = "active"
    timeout_seconds: int = Field(default=300, ge=1, le=86400)
    max_retries: int = Field(default=0, ge=0, le=10)
    retry_backoff_seconds: int = Field(default=10, ge=1, le=3600)
    misfire_policy: MisfirePolicy = "coalesce"
    misfire_grace_seconds: int = Field(default=60, ge=1, le=86400)
    remark: Remark = None

    @field_validator("args")
    @classmethod
    def _args_fit(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _args_size(value)


class JobUpdate(BaseModel):
    """Fields to change; send the `version` you read to refuse overwriting someone else."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    target: TargetName | None = None
    args: dict[str, Any] | None = None
    trigger: TriggerSpec | None = None
    timezone: TimeZoneName | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=86400)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    retry_backoff_seconds: int | None = Field(default=None, ge=1, le=3600)
    misfire_policy: MisfirePolicy | None = None
    misfire_grace_seconds: int | None = Field(default=None, ge=1, le=86400)
    remark: Remark = None
    version: Version | None = None

    @field_validator("args")
    @classmethod
    def _args_fit(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else _args_size(value)

    @model_validator(mode="after")
    def _no_nulls(self) -> JobUpdate:
        for field in self.model_fields_set:
            if field != "remark" and getattr(self, field) is None:
                raise ValueError(f"{field} may not be null")
        return self


class JobRead(BaseModel):
    id: int
    name: str
    target: str
    args: dict[str, Any]
    trigger: CronTriggerSpec | IntervalTriggerSpec | DateTriggerSpec
    timezone: str
    status: JobStatus
    timeout_seconds: int
    max_retries: int
    retry_backoff_seconds: int
    misfire_policy: MisfirePolicy
    misfire_grace_seconds: int
    next_run_at: datetime | None
    last_fired_at: datetime | None
    built_in: bool
    remark: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        if not isinstance(value, Job):
            return value
        return {
            **{name: getattr(value, name) for name in cls.model_fields if hasattr(value, name)},
            "args": orjson.loads(value.args or "{}"),
            "trigger": trigger_of(value),
        }


def trigger_of(job: Job) -> dict[str, Any]:
    if job.trigger_type == "cron":
        return {"type": "cron", "cron": job.cron}
    if job.trigger_type == "interval":
        return {"type": "interval", "seconds": job.interval_seconds, "start_at": job.start_at}
    return {"type": "date", "run_at": job.run_at}


class JobRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int | None
    job_name: str
    target: str
    trigger: Literal["schedule", "manual"]
    scheduled_at: datetime
    status: RunStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    heartbeat_at: datetime | None
    result: Any | None = None
    error: str | None
    host: str | None
    pid: int | None
    requested_by: int | None
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, value: Any) -> Any:
        if not isinstance(value, JobRun):
            return value
        data = {name: getattr(value, name) for name in cls.model_fields}
        data["result"] = orjson.loads(value.result) if value.result else None
        return data


class TargetRead(BaseModel):
    name: str
    module: str
    description: str
    args_schema: dict[str, Any] = Field(description="JSON Schema of the target's arguments")
    permissions: list[str] = Field(
        default=[],
        description="Permission codes needed to create, edit or run a job of this target",
    )


class LeaderInfo(BaseModel):
    host: str
    pid: int
    since: datetime | None


class SchedulerStatus(BaseModel):
    """Who fires jobs, and what this process does."""

    leader: LeaderInfo | None = Field(description="The current leader (null: none right now)")
    host: str
    pid: int
    candidate: bool = Field(description="This process may become the leader")
    is_leader: bool
    worker: bool = Field(description="This process executes runs")
    queue: str = Field(description="in-process or redis-stream")


@dataclass(frozen=True, slots=True)
class JobFilters:
    """What `service.list_jobs` filters by (the list route's query parameters)."""

    name: str | None = None
    target: str | None = None
    status: str | None = None
    built_in: bool | None = None


@dataclass(frozen=True, slots=True)
class JobRunFilters:
    """What `service.list_runs` filters by (the list route's query parameters)."""

    job_id: int | None = None
    job_name: str | None = None
    status: str | None = None
    trigger: str | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
