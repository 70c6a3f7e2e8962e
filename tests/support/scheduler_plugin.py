"""A plugin module for tests: job targets whose effects a test can count.

Enabled in the test apps through `MODULES` (see tests/conftest.py `make_settings`), the way a
company's own package would be: `MODULES=...,tests.support.scheduler_plugin`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from app.core.jobs import JobContext, job_target
from app.core.modules import ModuleSpec

module = ModuleSpec(name="testjobs", jobs="tests.support.scheduler_plugin")

# In-process record of executions, for tests that run the worker in the test process.
CALLS: list[tuple[str, int, int]] = []


class AppendArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(max_length=500)
    sleep_seconds: float = Field(default=0, ge=0, le=60)


@job_target("testjobs.append_line", args=AppendArgs)
async def append_line(ctx: JobContext, args: AppendArgs) -> dict[str, str]:
    """Append `<scheduled_at> <pid>` to a file: one line per execution, from any process."""
    line = f"{ctx.scheduled_at.isoformat()} {os.getpid()} {ctx.run_id}\n"
    if args.sleep_seconds:
        await asyncio.sleep(args.sleep_seconds)
    with Path(args.path).open("a", encoding="utf-8") as handle:
        handle.write(line)
    return {"line": line.strip()}


class BehaveArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep_seconds: float = Field(default=0, ge=0, le=60)
    fail_times: int = Field(default=0, ge=0, le=100)
    key: str = Field(default="default", max_length=100)


@job_target("testjobs.behave", args=BehaveArgs)
async def behave(ctx: JobContext, args: BehaveArgs) -> dict[str, int]:
    """Sleep, then fail the first `fail_times` attempts; records every call in CALLS."""
    CALLS.append((args.key, ctx.run_id, ctx.attempt))
    if args.sleep_seconds:
        await asyncio.sleep(args.sleep_seconds)
    if ctx.attempt <= args.fail_times:
        raise RuntimeError(f"planned failure {ctx.attempt}")
    return {"attempt": ctx.attempt}
