"""Several correct sign-ins of one account at once all succeed (issue 11)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from app.modules.system.user.models import User
from tests.modules.auth.conftest import login


async def test_parallel_correct_sign_ins_all_succeed(
    client: httpx.AsyncClient, alice: User, app: FastAPI
) -> None:
    responses = await asyncio.gather(*(login(client, "alice") for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8, [r.json() for r in responses]
