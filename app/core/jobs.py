"""Job targets: the only code the scheduler can run.

A module declares what may be scheduled in its `jobs.py`, with a pydantic model for the
arguments an operator may give::

    class PurgeArgs(BaseModel):
        older_than_days: int | None = Field(default=None, ge=1)

    @job_target("system.purge_logs", args=PurgeArgs, description="Delete old log rows")
    async def purge_logs(ctx: JobContext, args: PurgeArgs) -> dict[str, int]:
        async with ctx.transaction() as db:
            ...
        return {"deleted": n}

A job row names a target by that name; its JSON arguments are validated against the model
when the job is saved and again when it runs. Never a code string, never an import path from
the request: a name that is not registered by an enabled module is refused (422).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.cache import Cache
from app.core.config import Settings

TARGET_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class NoArgs(BaseModel):
    """Arguments of a target that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class JobContext:
    """What a running target gets besides its arguments."""

    run_id: int
    job_id: int | None
    job_name: str
    scheduled_at: datetime
    attempt: int
    settings: Settings
    cache: Cache
    sessionmaker: async_sessionmaker[AsyncSession]
    # Free-form values the target may report along the way (shown with the run).
    progress: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in its own transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session


ArgsT = TypeVar("ArgsT", bound=BaseModel)
TargetFunc = Callable[[JobContext, Any], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class JobTarget:
    name: str
    func: TargetFunc
    args: type[BaseModel]
    description: str

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]

    def parse_args(self, raw: Mapping[str, Any]) -> BaseModel:
        """Validate `raw`; raises pydantic's ValidationError with the offending fields."""
        return self.args.model_validate(raw)


class TargetRegistry:
    """Every job target registered by an imported `jobs.py`, by name."""

    def __init__(self) -> None:
        self._targets: dict[str, JobTarget] = {}

    def register(
        self, name: str, *, args: type[BaseModel] = NoArgs, description: str = ""
    ) -> Callable[[Callable[[JobContext, ArgsT], Awaitable[Any]]], Any]:
        if not TARGET_NAME.match(name):
            raise ValueError(f"job target {name!r} must look like '<module>.<name>'")

        def decorator(func: Callable[[JobContext, ArgsT], Awaitable[Any]]) -> Any:
            known = self._targets.get(name)
            # A module imported twice re-registers the same function; two different functions
            # claiming one name is a programming error.
            if known is not None and known.func.__qualname__ != func.__qualname__:
                raise ValueError(f"job target {name!r} is registered twice")
            description_text = description or (func.__doc__ or "").strip().split("\n")[0]
            self._targets[name] = JobTarget(name, func, args, description_text)
            return func

        return decorator

    def get(self, name: str) -> JobTarget | None:
        return self._targets.get(name)

    def all(self) -> list[JobTarget]:
        return sorted(self._targets.values(), key=lambda target: target.name)


targets = TargetRegistry()
job_target = targets.register
