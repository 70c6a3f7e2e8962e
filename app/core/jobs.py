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

A target that does what a route guards with a permission declares those codes::

    @job_target("system.purge_logs", args=PurgeArgs, permissions=(OPERATION_LOG_CLEAR,))

A scheduled fire runs as the system, so whoever creates, edits or runs such a job must hold
every code the target declares (403 otherwise): the scheduler's own permissions never stand
in for the target's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import CODE_PATTERN, Principal
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
    # Who asked for this run (`POST /jobs/{id}/run`); None for a scheduled fire.
    requested_by: int | None = None
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
    permissions: frozenset[str] = frozenset()

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]

    def parse_args(self, raw: Mapping[str, Any], settings: Settings | None = None) -> BaseModel:
        """Validate `raw`; raises pydantic's ValidationError with the offending fields.

        When a job is saved, `settings` is passed as validation context (`info.context`), so an
        argument model may refuse values the configuration forbids; a run validates without it.
        """
        context = {"settings": settings} if settings is not None else None
        return self.args.model_validate(raw, context=context)

    def missing_permissions(self, principal: Principal) -> list[str]:
        """The codes this target declares that `principal` does not hold (sorted)."""
        return sorted(code for code in self.permissions if not principal.can(code))


class TargetRegistry:
    """Every job target registered by an imported `jobs.py`, by name."""

    def __init__(self) -> None:
        self._targets: dict[str, JobTarget] = {}

    def register(
        self,
        name: str,
        *,
        args: type[BaseModel] = NoArgs,
        description: str = "",
        permissions: Iterable[str] = (),
    ) -> Callable[[Callable[[JobContext, ArgsT], Awaitable[Any]]], Any]:
        """Register a target. `permissions`: the codes a caller must hold to create, edit or
        run a job of this target (what the target does, the routes guard with these codes)."""
        if not TARGET_NAME.match(name):
            raise ValueError(f"job target {name!r} must look like '<module>.<name>'")
        codes = frozenset(permissions)
        for code in codes:
            if not CODE_PATTERN.match(code):
                raise ValueError(f"job target {name!r}: {code!r} is not module:resource:action")

        def decorator(func: Callable[[JobContext, ArgsT], Awaitable[Any]]) -> Any:
            known = self._targets.get(name)
            # A module imported twice re-registers the same function; two different functions
            # claiming one name is a programming error.
            if known is not None and known.func.__qualname__ != func.__qualname__:
                raise ValueError(f"job target {name!r} is registered twice")
            description_text = description or (func.__doc__ or "").strip().split("\n")[0]
            self._targets[name] = JobTarget(name, func, args, description_text, codes)
            return func

        return decorator

    def get(self, name: str) -> JobTarget | None:
        return self._targets.get(name)

    def all(self) -> list[JobTarget]:
        return sorted(self._targets.values(), key=lambda target: target.name)


targets = TargetRegistry()
job_target = targets.register
