"""Users list at any size: the counting rule and cursor paging (docs/performance.md, "Lists at
any size"), for the superuser and for a scoped user.

Past `LARGE_LIST_EXACT_COUNT` matching rows `total` is an estimate marked `total_exact: false`,
and the count query reads at most that many rows plus one (it carries a LIMIT): no page counts
the whole table. `next_cursor` walks every row exactly once in the sort's order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import LARGE_LIST_EXACT_COUNT
from app.modules.system.permissions import USER_LIST
from app.modules.system.user.models import User
from tests.modules.system.user.helpers import USERS, seed, signed_in, superuser
from tests.support.identity import create_dept

BULK = LARGE_LIST_EXACT_COUNT + 20
BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def _bulk_users(db: AsyncSession, dept_id: int | None, prefix: str, count: int) -> None:
    # Every third user shares its timestamp with a neighbour: the cursor must break ties by id.
    rows: list[dict[str, Any]] = [
        {
            "username": f"{prefix}{i:05d}",
            "name": f"N{(i * 7919) % count:05d}",
            "password_hash": "x",
            "dept_id": dept_id,
            "created_at": BASE + timedelta(seconds=i - i % 3),
            "updated_at": BASE,
        }
        for i in range(count)
    ]
    await db.execute(insert(User), rows)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = app.state.engine.sync_engine

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _walk(
    client: httpx.AsyncClient, headers: dict[str, str], sort: str | None
) -> tuple[list[int], dict[str, Any]]:
    params: dict[str, Any] = {"page_size": 100}
    if sort:
        params["sort"] = sort
    ids: list[int] = []
    first: dict[str, Any] | None = None
    for _ in range(100):
        response = await client.get(USERS, params=params, headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        first = first or data
        ids += [item["id"] for item in data["items"]]
        if data["next_cursor"] is None:
            break
        params = {**params, "cursor": data["next_cursor"]}
    assert first is not None
    return ids, first


async def _expected(app: FastAPI, order: list[Any], dept_id: int | None = None) -> list[int]:
    async with app.state.sessionmaker() as db:
        query = select(User.id).order_by(*order)
        if dept_id is not None:
            query = query.where(User.dept_id == dept_id)
        return list((await db.execute(query)).scalars())


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        (None, [User.created_at.desc(), User.id.desc()]),
        ("username", [User.username, User.id]),
        ("-name", [User.name.desc(), User.id.desc()]),
        ("created_at", [User.created_at, User.id]),
    ],
)
async def test_superuser_pages_by_cursor_and_bounds_the_count(
    client: httpx.AsyncClient, app: FastAPI, sort: str | None, order: list[Any]
) -> None:
    _, headers = await superuser(app)
    await seed(app, lambda db: _bulk_users(db, None, "bulk", BULK))
    with statements(app) as seen:
        response = await client.get(USERS, params={"page_size": 20}, headers=headers)
    data = response.json()["data"]
    assert data["total_exact"] is False
    assert data["total"] >= LARGE_LIST_EXACT_COUNT + 1
    assert data["next_cursor"]
    counts = [s for s in seen if "count(" in s.lower()]
    assert counts and all("LIMIT" in s.upper() for s in counts), counts  # bounded, never OVER ()

    ids, _ = await _walk(client, headers, sort)
    assert ids == await _expected(app, order)  # every row once, in order, across ties


async def test_scoped_user_pages_by_cursor_within_the_scope(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async def build(db: AsyncSession) -> tuple[int, int]:
        a, b = await create_dept(db, name="A"), await create_dept(db, name="B")
        await _bulk_users(db, a.id, "a", BULK)
        await _bulk_users(db, b.id, "b", 50)
        return a.id, b.id

    dept_a, dept_b = await seed(app, build)
    _, headers = await signed_in(
        app, [USER_LIST], data_scope="custom", scope_dept_ids=[dept_b], dept_id=dept_b
    )
    ids, first = await _walk(client, headers, None)
    assert first["total_exact"] is True and first["total"] == 51  # 50 + the caller
    assert ids == await _expected(app, [User.created_at.desc(), User.id.desc()], dept_b)

    _, wide = await signed_in(app, [USER_LIST], data_scope="custom", scope_dept_ids=[dept_a])
    ids, first = await _walk(client, wide, "-name")
    assert first["total_exact"] is False
    assert ids == await _expected(app, [User.name.desc(), User.id.desc()], dept_a)


async def test_a_small_list_counts_exactly(client: httpx.AsyncClient, app: FastAPI) -> None:
    _, headers = await superuser(app)
    await seed(app, lambda db: _bulk_users(db, None, "few", 30))
    data = (await client.get(USERS, params={"page_size": 20}, headers=headers)).json()["data"]
    assert (data["total"], data["total_exact"]) == (31, True)
    rest = await client.get(
        USERS, params={"page_size": 20, "cursor": data["next_cursor"]}, headers=headers
    )
    second = rest.json()["data"]
    assert len(second["items"]) == 11 and second["next_cursor"] is None
    assert (second["total"], second["total_exact"]) == (31, True)


async def test_a_unique_sort_column_ends_the_cursor_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """`sort=username` pages on the unique username alone, so MariaDB reads the username
    index in order (with `, id` appended it sorted all users: 1.4 s at 1M)."""
    _, headers = await superuser(app)
    await seed(app, lambda db: _bulk_users(db, None, "key", 30))
    data = (
        await client.get(USERS, params={"page_size": 5, "sort": "username"}, headers=headers)
    ).json()["data"]
    cursor = data["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert payload[1:] == ["username", [data["items"][-1]["username"]]]
