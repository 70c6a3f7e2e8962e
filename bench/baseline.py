"""Baseline server for `bench/run.py`: the least work a "list 20 users" request can cost.

A bare Starlette app under uvicorn (same worker count as the app) that verifies the same JWT
with the app's own `TokenService` (same key derivation, same checks) and reads the same 20 user
rows the data-scoped user sees (`dept_and_children` of BENCH_DEPT_PATH) with raw asyncpg
(or aiosqlite in the lite shape), answering orjson. No session lookup, no permission check, no
count, no ORM, no middleware: the ratio app / baseline shows what the framework layers cost.
`/static` answers a fixed body without the token or the database: the rate of the server
itself (uvicorn + Starlette on this machine), the ceiling above the baseline.

Run by `bench/run.py`:
    BENCH_DSN=postgresql://... BENCH_DEPT_PATH=/1/2/ SECRET_KEY=... \
        uvicorn baseline:app --app-dir bench --workers 2 --port 8101
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.config import Settings
from app.core.security.tokens import InvalidToken, TokenService

DSN = os.environ["BENCH_DSN"]
DEPT_PATH = os.environ["BENCH_DEPT_PATH"]

PG_SQL = """
SELECT u.id, u.username, u.name, u.email, u.phone, u.status, u.dept_id, u.is_superuser,
       u.created_at, u.updated_at
FROM sys_user u JOIN sys_dept d ON d.id = u.dept_id
WHERE d.path LIKE $1
ORDER BY u.created_at DESC, u.id DESC
LIMIT 20
"""
SQLITE_SQL = PG_SQL.replace("$1", "?")
COLUMNS = (
    "id",
    "username",
    "name",
    "email",
    "phone",
    "status",
    "dept_id",
    "is_superuser",
    "created_at",
    "updated_at",
)

tokens = TokenService(Settings())
state: dict[str, Any] = {}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    if DSN.startswith("sqlite"):
        import aiosqlite

        state["sqlite"] = await aiosqlite.connect(DSN.split("///", 1)[1])
        try:
            yield
        finally:
            await state["sqlite"].close()
    else:
        import asyncpg

        state["pool"] = await asyncpg.create_pool(DSN, min_size=2, max_size=10)
        try:
            yield
        finally:
            await state["pool"].close()


async def users(request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return Response(b'{"code":401}', status_code=401, media_type="application/json")
    try:
        tokens.decode_access(auth[7:])
    except InvalidToken:
        return Response(b'{"code":401}', status_code=401, media_type="application/json")
    pattern = DEPT_PATH + "%"
    if "pool" in state:
        async with state["pool"].acquire() as conn:
            rows = [dict(row) for row in await conn.fetch(PG_SQL, pattern)]
    else:
        cursor = await state["sqlite"].execute(SQLITE_SQL, (pattern,))
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in await cursor.fetchall()]
    body = {"code": 200, "message": "OK", "data": {"items": rows}}
    return Response(orjson.dumps(body, default=_json), media_type="application/json")


STATIC = orjson.dumps({"code": 200, "message": "OK", "data": {"status": "ok"}})


async def static(_request: Request) -> Response:
    return Response(STATIC, media_type="application/json")


app = Starlette(routes=[Route("/users", users), Route("/static", static)], lifespan=lifespan)
